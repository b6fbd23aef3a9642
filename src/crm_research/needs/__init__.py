"""What each section of the five notebooks needs, declared once, and what a company's data allows.

>>> from crm_research import data, needs
>>> crm = data.load("data/demo")                                  # doctest: +SKIP
>>> needs.capabilities(crm, as_of="2026-01-01")                   # doctest: +SKIP
        notebook        section                          title status reason
0    01_baseline           kpis                  KPI baseline     ok
...

The declarations live beside each other in this package, one module per notebook
(:mod:`.baseline`, :mod:`.segmentation`, :mod:`.journey`, :mod:`.attribution`, :mod:`.churn`);
the machinery (facts, needs, verdicts) is in :mod:`.core`. Notebooks ask through
:meth:`crm_research.notebook.RunContext.section`; ``crm-research validate`` prints the table.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm_research.needs import attribution, baseline, churn, journey, segmentation
from crm_research.needs.core import (
    DEFAULTS,
    FACTS,
    Fact,
    Need,
    Section,
    TableSet,
    Verdict,
    assess,
    fact,
)

__all__ = ["DEFAULTS", "FACTS", "Fact", "Need", "SECTIONS", "Section", "TableSet", "Verdict", "assess",
           "capabilities", "fact", "sections", "verdicts"]

SECTIONS: tuple[Section, ...] = (*baseline.SECTIONS, *segmentation.SECTIONS, *journey.SECTIONS,
                                 *attribution.SECTIONS, *churn.SECTIONS)
"""Every section of every notebook, in report order."""

NOTEBOOKS = ("01_baseline", "02_segmentation", "03_journey", "04_attribution", "05_churn")


def sections(notebook: str | None = None) -> list[Section]:
    """The sections of one notebook (its stem, ``"02_segmentation"``, or prefix ``"02"``), or all."""
    if notebook is None:
        return list(SECTIONS)
    stem = next((n for n in NOTEBOOKS if n == notebook or n.split("_")[0] == notebook), None)
    if stem is None:
        raise KeyError(f"unknown notebook {notebook!r}: one of {', '.join(NOTEBOOKS)}")
    return [s for s in SECTIONS if s.notebook == stem]


def _tables(crm: Any) -> dict[str, Any]:
    if hasattr(crm, "tables") and callable(crm.tables):
        return dict(crm.tables())
    return dict(crm)


def verdicts(crm: Any, as_of: Any = None, notebook: str | None = None, **params: Any) -> list[Verdict]:
    """One :class:`Verdict` per section (of ``notebook``, or of all five).

    Parameters
    ----------
    crm : CRMData or mapping of str to DataFrame or ibis.Table
        The company's tables.
    as_of : date-like, optional
        Analysis date (exclusive).
    notebook : str, optional
        Stem or number prefix; ``None`` means every notebook.
    **params
        Notebook parameters the thresholds use (e.g. ``cluster_min_orders=3``); others take
        their defaults (:data:`DEFAULTS`).
    """
    return assess(_tables(crm), sections(notebook), as_of, params)


def capabilities(crm: Any, as_of: Any = None, notebook: str | None = None, *,
                 extra_tables: dict[str, Any] | None = None, **params: Any) -> pd.DataFrame:
    """What each notebook section can do with this data, as a table.

    Parameters
    ----------
    crm, as_of, notebook, **params
        As in :func:`verdicts`.
    extra_tables : dict of str to DataFrame, optional
        Inputs that are not tables of the data model, by the name the needs use (``"paths"``:
        a client's aggregated path table).

    Returns
    -------
    DataFrame
        One row per section: ``notebook``, ``section`` (key), ``title``, ``status``
        (``ok``, ``fallback`` or ``skip``) and ``reason`` (one plain sentence, empty when ok).
        A section that can run from another form of the data (``Section.instead_of``) shares
        one row with the section it replaces: the one that can run, else the usual one, whose
        reason then names the other form too.

    Examples
    --------
    >>> import pandas as pd
    >>> from crm_research import needs
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [10.0, 5.0, 7.5],
    ...                        "ordered_at": pd.to_datetime(["2025-01-03", "2025-02-01", "2025-01-09"], utc=True)})
    >>> table = needs.capabilities({"orders": orders}, as_of="2025-03-01")
    >>> table.loc[table["section"] == "cross_sell", "status"].item()
    'skip'
    """
    tables = {**_tables(crm), **{k: v for k, v in (extra_tables or {}).items() if v is not None}}
    found = assess(tables, sections(notebook), as_of, params)
    rows = []
    for v in found:
        s = v.section
        if s.instead_of:
            continue  # shown on the row of the section it replaces
        alternative = next((a for a in found if a.section.notebook == s.notebook
                            and a.section.instead_of == s.key), None)
        shown, reason = v, v.reason
        if alternative is not None:
            if not v and alternative:
                shown, reason = alternative, alternative.reason
            elif not v:
                reason = f"{v.reason[:-1]}; or {alternative.reason.split(';')[0].rstrip('.')}."
        rows.append({"notebook": s.notebook, "section": shown.section.key, "title": shown.section.title,
                     "status": shown.status, "reason": reason})
    return pd.DataFrame(rows, columns=["notebook", "section", "title", "status", "reason"])
