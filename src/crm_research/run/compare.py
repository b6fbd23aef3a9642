"""Put the tables of two runs side by side."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from crm_research import paths
from crm_research.errors import CRMError

__all__ = ["compare_runs", "compare_table"]


def _run_folder(p: Path) -> Path:
    p = Path(p)
    if not p.exists() and not p.is_absolute():
        alt = paths.reports_dir() / p
        if alt.exists():
            p = alt
    if not (p / "tables").is_dir():
        raise CRMError(f"{p} is not a run folder (no tables/ inside): give a folder under reports/")
    return p


def _fmt(v: Any, column: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if column.endswith(" change %"):
        return f"{v:+.1f}%"
    sign = "+" if column.endswith(" change") else ""
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):{sign},}"
    if abs(v) >= 100:
        return f"{v:{sign},.1f}"
    return f"{v:{sign}.4g}"


def _markdown(df) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [_fmt(v, c).replace("|", "\\|") for v, c in zip(row, cols, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_table(a, b):
    """Join two versions of one table on its non-numeric columns; numbers side by side.

    Parameters
    ----------
    a, b : DataFrame
        The table in run A and run B.

    Returns
    -------
    DataFrame
        Key columns, then per numeric column ``<col> A``, ``<col> B``, ``<col> change`` and
        ``<col> change %`` (relative to A; empty when A is 0). Rows present in one run only
        have empty values for the other. Without key columns, rows are matched by position.
    """
    import numpy as np
    import pandas as pd

    num = [c for c in a.columns if c in b.columns and pd.api.types.is_numeric_dtype(a[c])
           and pd.api.types.is_numeric_dtype(b[c]) and not pd.api.types.is_bool_dtype(a[c])]
    keys = [c for c in a.columns if c in b.columns and c not in num]
    left, right = a[keys + num].copy(), b[keys + num].copy()
    if not keys:
        left["row"], right["row"] = range(1, len(left) + 1), range(1, len(right) + 1)
        keys = ["row"]
    for k in keys:
        left[k], right[k] = left[k].astype(str), right[k].astype(str)
    m = left.merge(right, on=keys, how="outer", suffixes=(" A", " B"), sort=False)
    order = {tuple(r): i for i, r in enumerate(left[keys].itertuples(index=False))}
    extra = len(order)
    m["_o"] = [order.get(tuple(r), extra) for r in m[keys].itertuples(index=False)]
    m = m.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)
    cols = {k: m[k] for k in keys}
    for c in num:
        va, vb = m[f"{c} A"].astype(float), m[f"{c} B"].astype(float)
        cols[f"{c} A"], cols[f"{c} B"] = va, vb
        cols[f"{c} change"] = vb - va
        cols[f"{c} change %"] = pd.Series(np.where(va != 0, (vb - va) / va.abs() * 100, np.nan), index=m.index)
    return pd.DataFrame(cols, index=m.index)  # built at once: wide tables are not fragmented


def compare_runs(run_a: Path, run_b: Path, out: Path | None = None, max_rows: int = 40) -> str:
    """Put the tables of two runs side by side.

    Tables present in both runs are joined on their non-numeric columns (see
    :func:`compare_table`); tables present in only one run are listed. Pseudonymised ids
    only match across runs that used the same key (``CRM_RESEARCH_PSEUDO_KEY``).

    Parameters
    ----------
    run_a, run_b : Path
        Run folders (or their names under ``reports/``).
    out : Path, optional
        Folder to write ``comparison.md`` and one ``<table>.csv`` per common table.
    max_rows : int
        Rows shown per table in the text (the CSVs have all).

    Returns
    -------
    str
        The comparison as Markdown.
    """
    import pandas as pd

    from crm_research.notebook import write_csv

    a, b = _run_folder(run_a), _run_folder(run_b)
    ta = {p.stem: p for p in sorted((a / "tables").glob("*.csv"))}
    tb = {p.stem: p for p in sorted((b / "tables").glob("*.csv"))}
    common = [t for t in ta if t in tb]
    lines = [f"# Comparison of runs {a.name} (A) and {b.name} (B)", ""]
    results = {}
    for t in common:
        df = compare_table(pd.read_csv(ta[t]), pd.read_csv(tb[t]))
        results[t] = df
        lines += [f"## {t}", ""]
        lines.append(_markdown(df.head(max_rows)))
        if len(df) > max_rows:
            lines.append(f"\n... {len(df) - max_rows} more rows" + (f" in {t}.csv" if out else ""))
        lines.append("")
    only_a, only_b = [t for t in ta if t not in tb], [t for t in tb if t not in ta]
    if not common:
        lines += ["No table is present in both runs.", ""]
    if only_a:
        lines += [f"Only in A ({a.name}): " + ", ".join(only_a), ""]
    if only_b:
        lines += [f"Only in B ({b.name}): " + ", ".join(only_b), ""]
    text = "\n".join(lines).rstrip() + "\n"
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(text, encoding="utf-8")
        for t, df in results.items():
            write_csv(df, out / f"{t}.csv")
    return text
