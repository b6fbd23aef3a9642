"""Put the tables of two runs side by side."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from crm_research import paths
from crm_research.errors import CRMError
from crm_research.run import lifecycle

__all__ = ["compare_runs", "compare_table"]


def _run_folder(p: Path) -> Path:
    p = Path(p)
    if not p.exists() and not p.is_absolute():
        alt = paths.reports_dir() / p
        if alt.exists():
            p = alt
    if not ((p / "tables").is_dir() or (p / "manifest.json").is_file()):
        raise CRMError(f"{p} is not a run folder (no tables/ or manifest.json inside): give a folder "
                       f"under reports/")
    return p


REIDENTIFIED = ".reidentified"
"""Suffix of tables mapped back to ids by ``crm-research reidentify``: never compared."""


def _check_finished(folder: Path, allow_incomplete: bool) -> str | None:
    """None for a run that finished well; else raise, or with ``allow_incomplete`` return the
    sentence to show above the comparison."""
    state, why = lifecycle.run_state(lifecycle.read_manifest(folder))
    if state == "ok":
        return None
    if not allow_incomplete:
        raise CRMError(f"run {folder.name} {why}: compare finished runs, or pass --allow-incomplete "
                       f"to compare it anyway")
    return f"Run {folder.name} {why}."


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


def compare_runs(run_a: Path, run_b: Path, out: Path | None = None, max_rows: int = 40,
                 allow_incomplete: bool = False) -> str:
    """Put the tables of two runs side by side.

    Tables present in both runs are joined on their non-numeric columns (see
    :func:`compare_table`); tables present in only one run are listed. Pseudonymised ids
    only match across runs that used the same key (same ``pseudonym_key`` fingerprint in
    their manifests). Tables mapped back to ids (``*.reidentified.csv``) are left out.

    Only runs that finished well are compared: a run that was interrupted or aborted, in which
    a notebook failed, that is still running, or whose runner died (stale: see
    :func:`crm_research.run.lifecycle.run_state`), or without a manifest, is refused unless
    ``allow_incomplete``; then the comparison opens with one sentence per such run.

    Parameters
    ----------
    run_a, run_b : Path
        Run folders (or their names under ``reports/``).
    out : Path, optional
        Folder to write ``comparison.md`` and one ``<table>.csv`` per common table.
    max_rows : int
        Rows shown per table in the text (the CSVs have all).
    allow_incomplete : bool
        Compare runs that did not finish well too (``--allow-incomplete``).

    Returns
    -------
    str
        The comparison as Markdown.

    Raises
    ------
    CRMError
        Not a run folder; a run that did not finish well (one line saying what happened to it)
        without ``allow_incomplete``.
    """
    import pandas as pd

    from crm_research.notebook import write_csv

    a, b = _run_folder(run_a), _run_folder(run_b)
    warnings = [w for w in (_check_finished(a, allow_incomplete), _check_finished(b, allow_incomplete)) if w]
    ta = {p.stem: p for p in sorted((a / "tables").glob("*.csv")) if not p.stem.endswith(REIDENTIFIED)}
    tb = {p.stem: p for p in sorted((b / "tables").glob("*.csv")) if not p.stem.endswith(REIDENTIFIED)}
    common = [t for t in ta if t in tb]
    lines = [f"# Comparison of runs {a.name} (A) and {b.name} (B)", ""]
    if warnings:
        for w in warnings:
            lines += [f"**Incomplete.** {w}", ""]
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
        paths.write_atomic(out / "comparison.md", text)
        for t, df in results.items():
            write_csv(df, out / f"{t}.csv")
    return text
