"""Shared pieces of the journey report's modules: the pooled rows' code, Markdown-safe words, and
what a section records (:class:`SectionText`, :func:`record`).

See :mod:`crm_research.journey.report`, which re-exports every public name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm_research.journey.words import ALL

__all__ = ["SectionText", "record", "report_labels", "ALL_ROWS", "INCIDENT_COLUMNS"]

ALL_ROWS = ALL
"""The code of the pooled rows (every visit, every customer) in the journey tables: ``(all)``."""

INCIDENT_COLUMNS = ["rank", "step", "segment", "first_day", "last_day", "n_periods", "n_during",
                    "conversion_during", "conversion_baseline", "relative_change", "lost_conversions",
                    "people_affected", "statistic", "z", "p_adjusted", "echo_of"]
"""The incident columns an analyst's report shows."""


def _md(value: Any) -> str:
    from crm_research.notebook import text

    return text(value)


def _mdl(settings, kind: str, value: Any) -> str:
    """``run.label``: a readable, Markdown-safe name."""
    return _md(settings.label(kind, value))


@dataclass
class SectionText:
    """What a report section records besides its tables: headlines, findings, actions, text.

    Attributes
    ----------
    section : str
        The section's key (``run.section(key)``).
    markdown : str or None
        The section's text to display (Markdown), if any.
    headlines : list of (name, value, text)
        Arguments of ``run.headline`` (``text`` None: the value itself).
    findings : list of dict
        Keyword arguments of ``run.finding`` (``text``, ``priority``, ``figure``).
    actions : list of dict
        Keyword arguments of ``run.action`` (``text``, ``value``, ``value_text``...).
    """

    section: str
    markdown: str | None = None
    headlines: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    actions: list = field(default_factory=list)


def record(run, texts: SectionText) -> None:
    """Record ``texts`` on the run: its headlines, then its findings, then its actions.

    Parameters
    ----------
    run : RunContext
        The notebook's run (:func:`crm_research.notebook.setup`).
    texts : SectionText
        What a ``*_texts`` function of this module returned.

    Examples
    --------
    >>> class Run:  # a stand-in that prints what a RunContext would record
    ...     def headline(self, name, value, text=None): print("headline:", name, value)
    ...     def finding(self, section, text, priority=2, figure=None): print("finding:", section, text)
    ...     def action(self, section, text, **kw): print("action:", section, text)
    >>> record(Run(), SectionText("funnel", headlines=[("Visits that end in a purchase", 0.5, "50.0%")],
    ...                           findings=[{"text": "Half the visits buy.", "priority": 1}]))
    headline: Visits that end in a purchase 0.5
    finding: funnel Half the visits buy.
    """
    for name, value, text in texts.headlines:
        run.headline(name, value, text=text)
    for finding in texts.findings:
        run.finding(texts.section, **finding)
    for action in texts.actions:
        run.action(texts.section, **action)


def report_labels(settings):
    """The report settings with the journey's own codes in words (the engagement's labels win).

    ``(all)`` rows read "All platforms" / "All", the walks' ends "Start" and "No further stage
    (yet)", the stage ``post_purchase`` "After purchase".

    Examples
    --------
    >>> from crm_research import settings as S
    >>> report_labels(S.from_dict({})).label("values", "post_purchase")
    'After purchase'
    """
    from crm_research.journey.transitions import END, START

    return (settings.with_labels("channels", {ALL_ROWS: "All platforms"})
            .with_labels("values", {ALL_ROWS: "All", START: "Start", END: "No further stage (yet)",
                                    "post_purchase": "After purchase"}))


