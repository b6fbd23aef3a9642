"""Baseline snapshots for the periodic review: record them, read them back, compare two.

A snapshot is a baseline table written to Parquet with a JSON file beside it
(``<name>.json``) holding ``as_of``, ``period``, the data fingerprint (when given), the package
version and any extra metadata. Nothing reads the clock: a snapshot is identified by its
``as_of``.

:func:`compare` sets two snapshots side by side metric by metric (the latest period of each)
with the change and whether it is beyond noise. The test is a two-sided z-test of the
difference, each side's standard error recovered from its interval as (high - low) / (2 z):
exact for the t and normal intervals, close for Wilson intervals away from 0 and 1. The two
snapshots are treated as independent samples (they overlap when stocks share customers, which
makes the test conservative for flows and slightly liberal for stocks). Counts and sums carry
no sampling noise: their ``beyond_noise`` is empty. Each side's interval level is its own
(``attrs["conf"]``, recorded in the snapshot); two snapshots of different period lengths
(a week against a month) are not comparable and raise an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from crm_research import __version__
from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import parse_as_of, require_columns
from crm_research.kpi.definitions import METRICS
from crm_research.kpi.tables import BASELINE_COLUMNS, check_same_period, latest, table_as_of
from crm_research.stats import z_value

__all__ = ["record", "load", "compare", "write_snapshot", "run_fingerprint", "snapshot_name", "COMPARISON_COLUMNS"]

COMPARISON_COLUMNS = ["metric", "unit", "as_of_a", "period_a", "value_a", "ci_low_a", "ci_high_a", "as_of_b",
                      "period_b", "value_b", "ci_low_b", "ci_high_b", "change", "change_rel", "ci_overlap", "z",
                      "p_value", "beyond_noise", "test"]
"""Columns of :func:`compare` (also when the two snapshots share no metric)."""


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def record(table: pd.DataFrame, path: str | os.PathLike, *, as_of=None, period: str | None = None,
           fingerprint: str | None = None, metadata: dict | None = None) -> Path:
    """Write a baseline table as a snapshot: ``path`` (Parquet) and ``path`` with ``.json``.

    Parameters
    ----------
    table : DataFrame
        A baseline table (:func:`crm_research.kpi.baseline`).
    path : path-like
        Parquet file to write (``.parquet``); parent folders are created. An existing
        snapshot is an error (snapshots are records: write a new name).
    as_of, period : optional
        Default to the table's ``attrs`` (set by ``baseline``).
    fingerprint : str, optional
        Fingerprint of the data the baseline was computed from (e.g. ``CRMData.fingerprint()``).
    metadata : dict, optional
        Extra JSON-serialisable fields (e.g. ``{"data": "client export of 2026-01-05"}``).

    Returns
    -------
    Path
        The Parquet file written.

    Examples
    --------
    >>> import tempfile
    >>> t = pd.DataFrame([["orders", pd.Timestamp("2025-12-01", tz="UTC"), pd.Timestamp("2026-01-01", tz="UTC"), 120.0,
    ...                    "orders", 120.0, np.nan, np.nan, np.nan, "", "Completed orders."]], columns=BASELINE_COLUMNS)
    >>> t.attrs.update(as_of="2026-01-01T00:00:00+00:00", period="M")
    >>> path = record(t, Path(tempfile.mkdtemp()) / "baseline.parquet", fingerprint="abc")
    >>> back = load(path)
    >>> back["value"].tolist(), back.attrs["as_of"], back.attrs["data_fingerprint"]
    ([120.0], '2026-01-01T00:00:00+00:00', 'abc')
    """
    path = Path(path)
    if path.suffix != ".parquet":
        raise CRMError(f"snapshot path {path} must end in .parquet")
    if path.exists() or _meta_path(path).exists():
        raise CRMError(f"snapshot {path} already exists: snapshots are records, write a new file name")
    require_columns(table, "the table to record", BASELINE_COLUMNS,
                    hint="record a baseline table from crm_research.kpi.baseline")
    as_of_ts = table_as_of(table) if as_of is None else parse_as_of(as_of)
    period = period or table.attrs.get("period")
    if period is None:
        raise CRMError("record needs the baseline's period: pass period= (the table has no attrs)")
    meta = {
        "as_of": as_of_ts.isoformat(),
        "period": period,
        "data_fingerprint": fingerprint,
        "package_version": __version__,
        "advocate_rule": table.attrs.get("advocate_rule"),
        "conf": table.attrs.get("conf"),
        "skipped": table.attrs.get("skipped", {}),
        "metrics": list(dict.fromkeys(table["metric"].tolist())),
        "rows": int(len(table)),
    }
    for k, v in (metadata or {}).items():
        if k in meta:
            raise CRMError(f"metadata key {k!r} is reserved: choose another name")
        meta[k] = v
    try:
        text = json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
    except TypeError as exc:  # pragma: no cover - default=str handles most objects
        raise CRMError(f"snapshot metadata is not JSON-serialisable: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = table[BASELINE_COLUMNS].reset_index(drop=True)
    frame.attrs = {}
    frame.to_parquet(path, index=False)
    _meta_path(path).write_text(text, encoding="utf-8")
    return path


def snapshot_name(kpis: pd.DataFrame) -> str:
    """The file name of a baseline's snapshot: ``kpi_baseline_<as_of>_<period>.parquet``.

    Examples
    --------
    >>> t = pd.DataFrame(columns=BASELINE_COLUMNS)
    >>> t.attrs.update(as_of="2026-01-01T00:00:00+00:00", period="M")
    >>> snapshot_name(t)
    'kpi_baseline_2026-01-01_M.parquet'
    """
    period = kpis.attrs.get("period")
    if period is None:
        raise CRMError("the table has no period in attrs: pass a baseline table from crm_research.kpi.baseline")
    return f"kpi_baseline_{table_as_of(kpis):%Y-%m-%d}_{period}.parquet"


def write_snapshot(kpis: pd.DataFrame, folder: str | os.PathLike, *, fingerprint: str | None = None,
                   previous: str | os.PathLike | None = None, metadata: dict | None = None) -> Path:
    """Record a run's baseline as its snapshot in ``folder`` (:func:`snapshot_name`), replacing its own.

    A notebook rerun in the same folder replaces the snapshot it wrote before, as it replaces
    its tables; :func:`record` itself never overwrites.

    Parameters
    ----------
    kpis : DataFrame
        The run's baseline table (:func:`crm_research.kpi.baseline`; its ``attrs`` give
        ``as_of`` and ``period``).
    folder : path-like
        The run's snapshot folder (created when missing).
    fingerprint : str, optional
        Fingerprint of the data (:func:`run_fingerprint`).
    previous : path-like, optional
        The earlier snapshot the run reviews against: an error when it is the file this run
        writes (it would be replaced).
    metadata : dict, optional
        Extra JSON fields, as in :func:`record`.

    Returns
    -------
    Path
        The Parquet file written.

    Raises
    ------
    ParameterError
        ``previous`` is the snapshot this run writes.

    Examples
    --------
    >>> import tempfile
    >>> kpis = pd.DataFrame([["orders", pd.Timestamp("2025-12-01", tz="UTC"), pd.Timestamp("2026-01-01", tz="UTC"),
    ...                       120.0, "orders", 120.0, np.nan, np.nan, np.nan, "", "Completed orders."]],
    ...                     columns=BASELINE_COLUMNS)
    >>> kpis.attrs.update(as_of="2026-01-01T00:00:00+00:00", period="M")
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_snapshot(kpis, folder, fingerprint="abc").name
    'kpi_baseline_2026-01-01_M.parquet'
    >>> write_snapshot(kpis, folder, fingerprint="def").name  # a rerun replaces its own snapshot
    'kpi_baseline_2026-01-01_M.parquet'
    >>> load(folder / "kpi_baseline_2026-01-01_M.parquet").attrs["data_fingerprint"]
    'def'
    """
    path = Path(folder) / snapshot_name(kpis)
    if previous is not None and Path(previous).resolve() == path.resolve():
        raise ParameterError(f"previous_snapshot={str(previous)!r} is the snapshot this run writes: copy it "
                             "out of this run folder first, or run with the runner (a new run folder each time)")
    for old in (path, _meta_path(path)):
        old.unlink(missing_ok=True)
    return record(kpis, path, fingerprint=fingerprint, metadata=metadata)


def run_fingerprint(meta_path: str | os.PathLike) -> str | None:
    """The data fingerprint a run recorded in its metadata file (``data.fingerprint``).

    Parameters
    ----------
    meta_path : path-like
        The run's metadata JSON (``RunContext.meta_path``).

    Returns
    -------
    str or None
        None when the file or the field is missing.

    Examples
    --------
    >>> import json, tempfile
    >>> meta = Path(tempfile.mkdtemp()) / "meta.json"
    >>> _ = meta.write_text(json.dumps({"data": {"fingerprint": "sha256:01ab"}}))
    >>> run_fingerprint(meta)
    'sha256:01ab'
    """
    path = Path(meta_path)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8")).get("data") or {}
    return data.get("fingerprint")


def load(path: str | os.PathLike) -> pd.DataFrame:
    """Read a snapshot written by :func:`record`.

    Returns
    -------
    DataFrame
        The baseline table; ``attrs`` holds the JSON metadata (``as_of``, ``period``, ...).

    Examples
    --------
    >>> load("no/such/snapshot.parquet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crm_research.errors.CRMError: snapshot no/such/snapshot.parquet (with snapshot.json beside it) does not exist
    """
    path = Path(path)
    if not path.is_file() or not _meta_path(path).is_file():
        raise CRMError(f"snapshot {path} (with {_meta_path(path).name} beside it) does not exist")
    table = pd.read_parquet(path)
    meta = json.loads(_meta_path(path).read_text(encoding="utf-8"))
    table.attrs.update(meta)
    return table


def _as_table(x) -> pd.DataFrame:
    if isinstance(x, pd.DataFrame):
        return x
    return load(x)


def _z_of(table: pd.DataFrame, default: float) -> float:
    conf = table.attrs.get("conf")
    return z_value(default if conf is None or pd.isna(conf) else float(conf))


def compare(a, b, *, conf: float = 0.95) -> pd.DataFrame:
    """Compare two snapshots metric by metric: change and whether it is beyond noise.

    Parameters
    ----------
    a, b : DataFrame or path-like
        The earlier and the later snapshot (baseline tables or snapshot files). The latest
        period of each metric is compared.
    conf : float
        Confidence level of the test (beyond noise when p < 1 - conf); also the level of a
        side's interval when its ``attrs`` do not record one.

    Returns
    -------
    DataFrame
        One row per metric present in both, in baseline order: ``metric``, ``unit``,
        ``as_of_a``, ``period_a``, ``value_a``, ``ci_low_a``, ``ci_high_a``, the same for
        ``b``, ``change`` (b - a, metric unit), ``change_rel`` (change / |a|), ``ci_overlap``
        (the two intervals overlap), ``z``, ``p_value`` (two-sided z-test of the difference),
        ``beyond_noise`` (p < 1 - conf; empty for counts and sums, which have no sampling
        noise, and for medians, which carry no interval), ``test`` (the test used).

    Raises
    ------
    CRMError
        The snapshots have different periods (``attrs["period"]``).

    Examples
    --------
    >>> def snap(as_of, value, low, high):
    ...     t = pd.DataFrame({"metric": ["retention_rate"], "period": pd.Timestamp(as_of, tz="UTC") - pd.DateOffset(months=1),
    ...                       "value": [value], "ci_low": [low], "ci_high": [high]})
    ...     t.attrs.update(as_of=as_of, period="M", conf=0.95)
    ...     return t
    >>> c = compare(snap("2025-07-01", 0.50, 0.45, 0.55), snap("2026-01-01", 0.60, 0.56, 0.64))
    >>> round(float(c.loc[0, "change"]), 2), round(float(c.loc[0, "z"]), 2), bool(c.loc[0, "beyond_noise"])
    (0.1, 3.06, True)
    """
    # scipy.stats.norm.sf(x) is ndtr(-x): the same bits, without importing scipy.stats (~1 CPU s)
    from scipy.special import ndtr

    z_value(conf)
    ta, tb = _as_table(a), _as_table(b)
    check_same_period(ta, tb)
    z_a, z_b = _z_of(ta, conf), _z_of(tb, conf)
    la, lb = latest(ta).set_index("metric"), latest(tb).set_index("metric")
    names = [m for m in METRICS if m in la.index and m in lb.index]
    rows = []
    for m in names:
        ra, rb = la.loc[m], lb.loc[m]
        va, vb = float(ra["value"]), float(rb["value"])
        se_a = (float(ra["ci_high"]) - float(ra["ci_low"])) / (2 * z_a)
        se_b = (float(rb["ci_high"]) - float(rb["ci_low"])) / (2 * z_b)
        se = float(np.hypot(se_a, se_b))
        has_ci = np.isfinite(se) and se > 0
        zstat = (vb - va) / se if has_ci else np.nan
        p = float(2 * ndtr(-abs(zstat))) if has_ci else np.nan
        overlap = (bool(float(ra["ci_low"]) <= float(rb["ci_high"]) and float(rb["ci_low"]) <= float(ra["ci_high"]))
                   if has_ci else None)
        rows.append({
            "metric": m, "unit": METRICS[m].unit,
            "as_of_a": table_as_of(ta), "period_a": ra["period"], "value_a": va,
            "ci_low_a": float(ra["ci_low"]), "ci_high_a": float(ra["ci_high"]),
            "as_of_b": table_as_of(tb), "period_b": rb["period"], "value_b": vb,
            "ci_low_b": float(rb["ci_low"]), "ci_high_b": float(rb["ci_high"]),
            "change": vb - va, "change_rel": (vb - va) / abs(va) if va else np.nan,
            "ci_overlap": overlap, "z": zstat, "p_value": p,
            "beyond_noise": (bool(p < 1 - conf) if has_ci else None),
            "test": "z-test, SE from CI width" if has_ci else "",
        })
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    if not out.empty:
        out["beyond_noise"] = out["beyond_noise"].astype("boolean")
        out["ci_overlap"] = out["ci_overlap"].astype("boolean")
    return out
