"""Check the data of a run before any kernel starts and before its folder is made.

Each distinct (data folder, ``as_of``) of the run is loaded and validated as the notebooks will
load it (:func:`crm_research.data.load` with the folder's ``mapping.yaml`` and ``as_of``), and
``as_of`` is checked against the data's dates:

* on or before the first order (nothing would be analysed) is an error naming both dates;
* more than :data:`MAX_AS_OF_GAP_DAYS` days after the data's last date (any dated table) is an
  error naming both dates: a typo (``2099``) or the wrong folder, never a meaningful analysis.

When the data breaks the model, the full problem list is written to
``<folder of run folders>/validation-<YYYYmmdd-HHMMSS>.txt`` (``reports/`` or ``--out``) and the
error shows a short summary: problems per table and check, and the file's path.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from crm_research import paths
from crm_research.errors import CRMError, DataValidationError, ParameterError

__all__ = ["MAX_AS_OF_GAP_DAYS", "check_data", "date_range", "check_as_of_range"]

MAX_AS_OF_GAP_DAYS = 365
"""``as_of`` may be at most this many days after the data's last date."""


def date_range(crm) -> tuple[tuple[str, pd.Timestamp], tuple[str, pd.Timestamp]] | None:
    """First and last date of the data's dated tables, each with its ``table.column``."""
    from crm_research.data.model import TABLES

    first = last = None
    for name, frame in crm.tables().items():
        col = TABLES[name].time if name in TABLES else None
        if frame is None or col is None or col not in frame.columns:
            continue
        lo, hi = _span(frame, col)
        if lo is None:
            continue
        if first is None or lo < first[1]:
            first = (f"{name}.{col}", lo)
        if last is None or hi > last[1]:
            last = (f"{name}.{col}", hi)
    return None if first is None else (first, last)


def _utc(value) -> pd.Timestamp | None:
    if value is None or pd.isna(value):
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _span(frame, col: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last value of ``col`` (UTC; None when it has none): a DataFrame's, or an engine
    table's by one query."""
    if isinstance(frame, pd.DataFrame):
        s = pd.to_datetime(frame[col], utc=True).dropna()
        return (None, None) if s.empty else (s.min(), s.max())
    row = frame.aggregate(lo=frame[col].min(), hi=frame[col].max()).execute()
    return _utc(row["lo"].iat[0]), _utc(row["hi"].iat[0])


def _day(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d")


def check_as_of_range(crm, as_of: Any, where: str) -> None:
    """Raise if ``as_of`` is more than :data:`MAX_AS_OF_GAP_DAYS` after the data's last date.

    ``crm`` is the data loaded with ``as_of`` (so every date is before it).
    """
    from crm_research.exprs import parse_as_of

    rng = date_range(crm)
    if as_of is None or rng is None:
        return
    t = parse_as_of(as_of)
    (_, _), (col, last) = rng
    gap = (t - last).days
    if gap > MAX_AS_OF_GAP_DAYS:
        years = f"{gap / 365.25:.1f} years" if gap >= 730 else f"{gap} days"
        raise ParameterError(
            f"as_of={as_of} is {years} after the data's last date ({col} {_day(last)}) in {where}: "
            f"give a date at most {MAX_AS_OF_GAP_DAYS} days after it, e.g. "
            f"as_of {_day(last + pd.Timedelta(days=1))}, or check the data folder")


def _before_first(folder: Path, mapping, as_of: Any, con=None) -> str | None:
    """When loading with ``as_of`` left a required table empty: the error if ``as_of`` is on or
    before the data's first order, else None."""
    from crm_research import data
    from crm_research.exprs import parse_as_of

    try:
        crm = data.load(folder, mapping=mapping, con=con)
    except CRMError:
        return None
    orders = crm.tables().get("orders")
    rng = None
    if orders is not None and "ordered_at" in orders.columns:
        lo, _ = _span(orders, "ordered_at")
        if lo is not None:
            rng = ("orders.ordered_at", lo)
    if rng is None:
        r = date_range(crm)
        rng = r[0] if r else None
    if rng is None or parse_as_of(as_of) > rng[1]:
        return None
    return (f"as_of={as_of} is on or before the data's first date ({rng[0]} {_day(rng[1])}) in {folder}: "
            f"nothing would be analysed; give a later as_of")


def _summary(exc: DataValidationError, report: Path) -> str:
    problems = exc.problems
    by_table: dict[str, Counter] = {}
    for p in problems:
        by_table.setdefault(p.table, Counter())[p.check] += 1
    n = len(problems)
    lines = [f"{exc.source}: {n} data problem{'s' if n != 1 else ''} found; the full list is in {report}"]
    for table, checks in by_table.items():
        detail = ", ".join(f"{c} {k}" for c, k in sorted(checks.items(), key=lambda x: (-x[1], x[0])))
        lines.append(f"  {table}: {sum(checks.values())} ({detail})")
    lines.append("  fix the data or its mapping.yaml; `crm-research validate <folder> --as-of <date>` "
                 "lists them too")
    return "\n".join(lines)


def _write_problems(exc: DataValidationError, out_dir: Path, folder: Path, mapping, as_of) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    head = [f"data folder: {folder}", f"mapping: {mapping if mapping else 'none'}",
            f"as_of: {as_of if as_of is not None else 'none'}", ""]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for i in range(1, 1000):
            path = out_dir / (f"validation-{stamp}.txt" if i == 1 else f"validation-{stamp}-{i}.txt")
            if not path.exists():
                break
        paths.write_atomic(path, "\n".join(head) + str(exc) + "\n")
    except OSError as err:
        raise CRMError(f"{exc.source}: {len(exc.problems)} data problems found, and the list cannot be "
                       f"written to {out_dir}: {err.strerror or err}; run `crm-research validate "
                       f"{folder}` to see them") from None
    return path


def check_data(plan: dict[str, dict], out_dir: Path, progress=None, *,
               snapshot_root: Path | None = None, memory_limit: str | None = None,
               on_valid: Callable[[], None] | None = None) -> dict[tuple[str, Any], dict]:
    """Load and validate each (data folder, ``as_of``) of a run, before any kernel starts.

    Parameters
    ----------
    plan : dict
        ``{notebook: {parameter: value}}`` with ``data_dir`` already resolved to folders;
        notebooks without ``data_dir`` are not checked.
    out_dir : Path
        Folder of the run folders, where a problem list is written.
    progress : callable, optional
        Receives one line per data folder checked.
    snapshot_root : Path, optional
        The run's snapshot folder (:func:`crm_research.run.snapshot.create`): each data folder
        checked is kept there, without personal columns, for the notebooks to read instead of
        loading it again (a database source is not kept). Default: nothing kept. Data a
        notebook reads on an engine (its ``engine`` parameter is not ``pandas``) is loaded on
        DuckDB in place, checked by queries and kept as engine-written Parquet files
        (:mod:`crm_research.data.lazy`), spilling into the snapshot folder.
    memory_limit : str, optional
        DuckDB memory limit of that load (default :data:`crm_research.engine.DEFAULT_MEMORY_LIMIT`).
    on_valid : callable, optional
        Called once, when the first data folder has passed its checks (before its snapshot is
        written): the runner starts the first kernels then, so that data that fails its checks
        costs no kernel.

    Returns
    -------
    dict
        ``{(folder, as_of): {"folder", "mapping", "as_of", "fingerprint", "columns"}}``; ``columns``
        lists per table the columns read (for the run's record of processing). With
        ``snapshot_root``, a kept folder's entry also has ``"snapshot"`` (its subfolder).

    Raises
    ------
    ParameterError
        ``as_of`` before the data's first order or too far after its last date.
    CRMError
        The data breaks the model (summary and problem-list file), or cannot be read.
    """
    from crm_research import data, engine

    seen: dict[tuple[str, Any], dict] = {}
    on_engine: set[tuple[str, Any]] = set()  # read by a notebook whose engine is not pandas
    for params in plan.values():
        if params.get("data_dir") is not None and engine.parse_engine(params.get("engine", "pandas"))[0] != "pandas":
            as_of = params.get("as_of")
            on_engine.add((str(params["data_dir"]), None if as_of is None else str(as_of)))
    for params in plan.values():
        if "data_dir" not in params or params["data_dir"] is None:
            continue
        folder = params["data_dir"]
        folder = folder if data.is_database_url(folder) else Path(folder)  # a URL stays text
        as_of = params.get("as_of")
        key = (str(folder), None if as_of is None else str(as_of))
        if key in seen:
            continue
        # the engine that loads it for the notebooks: in place, within the memory limit
        con = (engine.open_engine("duckdb", spill_dir=snapshot_root / ".spill" if snapshot_root else None,
                                  memory_limit=memory_limit or engine.DEFAULT_MEMORY_LIMIT,
                                  threads=min(2, os.cpu_count() or 1))
               if key in on_engine else None)
        try:
            seen[key] = _check_one(folder, as_of, out_dir, progress, snapshot_root, con, on_valid)
            on_valid = None
        finally:
            if con is not None:
                con.disconnect()
    return seen


def _check_one(folder, as_of, out_dir: Path, progress, snapshot_root: Path | None, con,
               on_valid: Callable[[], None] | None = None) -> dict:
    from crm_research import data
    from crm_research.notebook import mapping_file

    mapping = mapping_file(folder)
    if progress:
        progress(f"checking the data in {folder}" + (f" as of {as_of}" if as_of is not None else ""))
    before = _source_key(folder, mapping, as_of) if snapshot_root is not None else None
    try:
        crm = data.load(folder, mapping=mapping, as_of=as_of, con=con)
    except DataValidationError as exc:
        if as_of is not None and any(p.check == "empty_table" for p in exc.problems):
            early = _before_first(folder, mapping, as_of, con)
            if early:
                raise ParameterError(early) from None
        report = _write_problems(exc, Path(out_dir), folder, mapping, as_of)
        raise CRMError(_summary(exc, report)) from None
    check_as_of_range(crm, as_of, str(folder))
    if on_valid is not None:
        on_valid()
    entry = {"folder": str(folder), "mapping": mapping.name if mapping else None,
             "as_of": as_of, "fingerprint": crm.fingerprint(),
             "columns": {name: [str(c) for c in frame.columns] for name, frame in crm.tables().items()
                         if frame is not None}}
    if before is not None:
        kept = _keep(crm, before, folder, mapping, as_of, snapshot_root)
        if kept is not None:
            entry["snapshot"] = kept
    return entry


def _source_key(folder, mapping, as_of) -> dict | None:
    """The snapshot key of the data as it is now; None when there is none to take (a database,
    a file that cannot be read)."""
    from crm_research.run import snapshot

    try:
        return snapshot.source_key(folder, mapping, as_of)
    except OSError:
        return None


def _keep(crm, before: dict, folder, mapping, as_of, root: Path) -> Path | None:
    """Write the run's snapshot of one checked data folder; None when the files changed while
    they were loaded (an export still being written: the key would not describe the data) or
    the temporary folder cannot take it. The notebooks then load the data themselves."""
    import duckdb
    import pyarrow as pa

    from crm_research.run import snapshot

    if _source_key(folder, mapping, as_of) != before:
        return None
    try:
        return snapshot.write(crm, before, root)
    except (OSError, pa.ArrowException, duckdb.Error):  # a full disk, a column Parquet cannot hold
        return None
