"""Readable words for the journey's codes in a client's report: moves, paths and groups.

The journey tables keep the data's codes (``checkout_start → purchase``, ``platform=mobile``,
``signup > ad_click > …``) so they can be joined and compared between runs; a report shows
them in the client's words. Every function takes ``label``, a callable ``(kind, value) → str``
(``run.settings.label`` in a notebook: the engagement's own labels, else the code in readable
form), and returns plain text (escape it before putting it into Markdown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_research.settings import humanize

__all__ = ["move_words", "path_words", "segment_words", "lower_first"]

Label = Callable[[str, Any], str]

ALL = "(all)"
"""The code of pooled rows and groups (every visit, every customer) in the journey tables."""
MISSING = "(missing)"
PATH_SEPARATOR = " > "
CUT = "…"


def _default_label(kind: str, value: Any) -> str:
    return humanize(value)


def lower_first(text: str) -> str:
    """``"Mobile web"`` → ``"mobile web"`` for use inside a sentence.

    The first letter is lowered only when no other word is capitalised and the first word is
    not an acronym (``"Google Ads"``, ``"SMS"`` and ``"EU shop"`` stay as they are).
    """
    words = str(text).split()
    if not words:
        return str(text)
    first = words[0]
    if len(first) > 1 and first[1:2].isupper():
        return str(text)
    if any(w[:1].isupper() for w in words[1:]):
        return str(text)
    return str(text)[:1].lower() + str(text)[1:]


def move_words(from_step: Any, to_step: Any, label: Label | None = None, *, kind: str = "events") -> str:
    """A move between two steps in readable words: ``"Added to cart → Checkout started"``."""
    label = label or _default_label
    return f"{label(kind, from_step)} → {label(kind, to_step)}"


def path_words(variant: Any, label: Label | None = None, *, separator: str = PATH_SEPARATOR,
               kind: str = "events") -> str:
    """A path (``signup > ad_click > …``, from :func:`~crm_research.journey.top_paths`) in words.

    Each event is labelled, the steps are joined by " → " and a cut path keeps its final "…".
    """
    label = label or _default_label
    parts = str(variant).split(separator)
    return " → ".join(p if p == CUT else label(kind, p) for p in parts)


def segment_words(segment_col: Any, segment_value: Any, label: Label | None = None) -> str:
    """A group of a friction incident (or a what-if) as words to put after a sentence's verb.

    Parameters
    ----------
    segment_col, segment_value : str
        The group's column and value, as in ``journey_friction_incidents`` (``(all)``: every
        visit).
    label : callable, optional
        ``(kind, value) → str``; platforms and channels are labelled as ``channels``, other
        values as ``values``, column names as ``columns``.

    Returns
    -------
    str
        ``"on mobile web"`` (platform), ``"for customers acquired through paid search"``
        (acquisition channel), ``"from e-mail"`` (the event's channel), ``"in the North region"``,
        ``"for all visits"``, ``"with no region recorded"``, else ``"for <column> <value>"``.

    Examples
    --------
    >>> segment_words("platform", "mobile")
    'on mobile'
    """
    label = label or _default_label
    col, value = str(segment_col), str(segment_value)
    if col == ALL or value == ALL:
        return "for all visits"
    if value == MISSING:
        return f"with no {lower_first(label('columns', col))} recorded"
    if col == "platform":
        return f"on {lower_first(label('channels', value))}"
    if col == "acquisition_channel":
        return f"for customers acquired through {lower_first(label('channels', value))}"
    if col == "channel":
        return f"from {lower_first(label('channels', value))}"
    if col == "region":
        return f"in the {label('values', value)} region"
    return f"for {lower_first(label('columns', col))} {label('values', value)}"
