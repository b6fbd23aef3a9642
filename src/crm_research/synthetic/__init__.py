"""A synthetic CRM company with planted, known effects (the demo data and the test bed).

``generate`` returns the tables in memory; ``write`` streams them to a folder chunk by chunk
(bounded memory at any size) together with ``truth.json`` and ``truth_customers.parquet``;
``ensure_demo`` writes the demo company on first use. Same arguments, same seed → identical
bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_research.data.model import TABLES
from crm_research.errors import CRMError
from crm_research.synthetic import config as K
from crm_research.synthetic.company import Counters, generate_chunk
from crm_research.synthetic.config import CompanyConfig, planted_truth

__all__ = ["generate", "write", "ensure_demo", "load_truth", "CompanyConfig", "DEMO_CUSTOMERS", "DEMO_SEED"]

DEMO_CUSTOMERS = 10_000
DEMO_SEED = 42
GENERATED_TABLES = ("customers", "orders", "order_items", "events", "campaigns", "ad_spend", "tickets",
                    "surveys", "subscriptions")
_ARROW = {"id": pa.string(), "str": pa.string(), "datetime": pa.timestamp("us", tz="UTC"),
          "date": pa.timestamp("us", tz="UTC"), "float": pa.float64(), "int": pa.int64()}
_TRUTH_SCHEMA = pa.schema(
    [("customer_id", pa.string()), ("segment", pa.string()), ("converted", pa.bool_()),
     ("p_convert", pa.float64()), ("first_purchase_at", pa.timestamp("us", tz="UTC")),
     ("died_at", pa.timestamp("us", tz="UTC")), ("intent_rate_per_day", pa.float64()),
     ("advocate", pa.bool_()), ("ab_arm", pa.string())]
    + [(f"touched_{c}", pa.bool_()) for c in K.CHANNELS]
)


def arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of a data-model table as the generator writes it (timestamps in µs, UTC)."""
    return pa.schema([(c.name, _ARROW[c.kind]) for c in TABLES[table].columns
                      if c.required or table in ("customers", "orders", "events")])


def _check_args(n_customers: int, seed: int) -> None:
    if not isinstance(n_customers, (int, np.integer)) or n_customers < 10:
        raise CRMError(f"n_customers must be an integer >= 10, got {n_customers!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CRMError(f"seed must be a non-negative integer, got {seed!r}")


def _chunks(n_customers: int, seed: int, cfg: CompanyConfig):
    counters = Counters()
    n_chunks = -(-n_customers // cfg.chunk_size)
    for c in range(n_chunks):
        first = c * cfg.chunk_size
        yield generate_chunk(seed, c, first, min(cfg.chunk_size, n_customers - first), cfg, counters)


def _campaign_tables(seed: int, cfg: CompanyConfig, touch_counts: np.ndarray) -> dict[str, pd.DataFrame]:
    """Campaigns and their daily delivery: observed touches are a sample of the ad server's counts."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2**31 - 1]))
    campaigns = pd.DataFrame(list(K.CAMPAIGNS), columns=["campaign_id", "channel", "name"])
    days = pd.date_range(cfg.start_ts, cfg.end_ts, freq="D", inclusive="left")
    rows = []
    for i, (cid, ch, _) in enumerate(K.CAMPAIGNS):
        if cid.startswith("ab_"):
            continue
        seen_imp, seen_clk = touch_counts[i, :, 0], touch_counts[i, :, 1]
        impressions = (seen_imp + seen_clk) * K.IMPRESSIONS_PER_TOUCH + rng.poisson(40, len(days))
        clicks = np.minimum(seen_clk * K.CLICKS_PER_CLICK_TOUCH + rng.poisson(2, len(days)), impressions)
        if ch in K.COST_PER_CLICK:
            cost = clicks * K.COST_PER_CLICK[ch] * rng.uniform(0.9, 1.1, len(days))
        else:
            cost = impressions / 1000.0 * K.COST_PER_MILLE[ch] * rng.uniform(0.9, 1.1, len(days))
        rows.append(pd.DataFrame({"campaign_id": cid, "date": days, "impressions": impressions.astype(np.int64),
                                  "clicks": clicks.astype(np.int64), "cost": np.round(cost, 2)}))
    return {"campaigns": campaigns, "ad_spend": pd.concat(rows, ignore_index=True)}


def _truth_json(n_customers: int, seed: int, cfg: CompanyConfig, incremental: np.ndarray,
                counts: dict) -> dict:
    truth = planted_truth()
    truth["generator"] = {"n_customers": n_customers, "seed": seed, **cfg.as_dict()}
    order = np.argsort(-incremental, kind="stable")
    for i, ch in enumerate(K.CHANNELS):
        truth["channels"][ch]["incremental_conversions"] = round(float(incremental[i]), 6)
    truth["channel_rank_by_incremental_conversions"] = [K.CHANNELS[i] for i in order]
    truth["counts"] = counts
    return truth


def generate(n_customers: int = DEMO_CUSTOMERS, seed: int = DEMO_SEED, config: CompanyConfig | None = None
             ) -> tuple[dict[str, pd.DataFrame], dict, pd.DataFrame]:
    """Generate the synthetic company in memory.

    Parameters
    ----------
    n_customers : int
        Number of contacts (leads and buyers).
    seed : int
        Random seed; the same seed gives the same tables.
    config : CompanyConfig, optional
        History window and chunk size.

    Returns
    -------
    tables : dict of str to DataFrame
        Every table of the data model, canonical columns, timestamps UTC.
    truth : dict
        The planted effects and derived true quantities (the content of ``truth.json``).
    truth_customers : DataFrame
        One row per contact: planted segment, conversion probability, true churn time, ...
    """
    _check_args(n_customers, seed)
    cfg = config or CompanyConfig()
    parts: dict[str, list[pd.DataFrame]] = {}
    truths, incremental, touches = [], np.zeros(len(K.CHANNELS)), None
    for res in _chunks(n_customers, seed, cfg):
        for name, frame in res.tables.items():
            parts.setdefault(name, []).append(frame)
        truths.append(res.truth)
        incremental += res.incremental
        touches = res.touch_counts if touches is None else touches + res.touch_counts
    tables = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    tables.update(_campaign_tables(seed, cfg, touches))
    tables = {k: _conform(k, tables[k]) for k in GENERATED_TABLES}
    truth_customers = pd.concat(truths, ignore_index=True)
    counts = {k: int(len(v)) for k, v in tables.items()}
    return tables, _truth_json(n_customers, seed, cfg, incremental, counts), truth_customers


def _conform(name: str, df: pd.DataFrame) -> pd.DataFrame:
    cols = arrow_schema(name).names
    return df[cols].reset_index(drop=True)


def write(out: str | os.PathLike, n_customers: int = DEMO_CUSTOMERS, seed: int = DEMO_SEED,
          fmt: str = "parquet", config: CompanyConfig | None = None) -> Path:
    """Write the synthetic company to ``out``, chunk by chunk, atomically.

    The folder receives one file per table (``<table>.parquet`` or ``<table>.csv``),
    ``truth.json`` and ``truth_customers.parquet``. Files are first written to a temporary
    sibling folder and moved into place only when complete: an interrupted run leaves
    nothing half-written. An existing ``out`` that is not empty is an error.

    Parameters
    ----------
    out : path
        Destination folder.
    n_customers, seed, config
        As in :func:`generate`.
    fmt : {"parquet", "csv"}
        File format of the tables.

    Returns
    -------
    Path
        The folder written.
    """
    _check_args(n_customers, seed)
    if fmt not in ("parquet", "csv"):
        raise CRMError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    cfg = config or CompanyConfig()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CRMError(f"output {out} is a file, not a folder: give a new folder for the company")
    if out.exists() and any(out.iterdir()):
        raise CRMError(f"output folder {out} is not empty: choose a new folder or remove it")
    if out.resolve() == Path(out.resolve().anchor):
        raise CRMError(f"output {out} is the filesystem root: give a new folder for the company")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise CRMError(f"cannot write the company to {out}: {exc.strerror or exc}{where}") from None
    try:
        _write_into(tmp, n_customers, seed, fmt, cfg)
        tmp.chmod(0o755)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except OSError as exc:  # a full or read-only disk: nothing half-written is left
        shutil.rmtree(tmp, ignore_errors=True)
        raise CRMError(f"cannot write the company to {out}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


class _Sink:
    """Appends chunks of one table to a Parquet or CSV file."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str):
        self.path, self.schema, self.fmt = path, schema, fmt
        self.writer = None
        self.rows = 0

    def append(self, df: pd.DataFrame) -> None:
        df = df[self.schema.names]
        if self.fmt == "parquet":
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
            self.writer.write_table(pa.Table.from_pandas(df, schema=self.schema, preserve_index=False))
        else:
            df.to_csv(self.path, mode="a", header=self.rows == 0, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        self.rows += len(df)

    def close(self) -> None:
        if self.fmt == "parquet" and self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        if self.writer is not None:
            self.writer.close()


def _write_into(folder: Path, n_customers: int, seed: int, fmt: str, cfg: CompanyConfig) -> None:
    sinks = {t: _Sink(folder / f"{t}.{fmt}", arrow_schema(t), fmt) for t in GENERATED_TABLES}
    truth_sink = _Sink(folder / "truth_customers.parquet", _TRUTH_SCHEMA, "parquet")
    incremental, touches = np.zeros(len(K.CHANNELS)), None
    try:
        for res in _chunks(n_customers, seed, cfg):
            for name, frame in res.tables.items():
                sinks[name].append(frame)
            truth_sink.append(res.truth)
            incremental += res.incremental
            touches = res.touch_counts if touches is None else touches + res.touch_counts
            del res
        for name, frame in _campaign_tables(seed, cfg, touches).items():
            sinks[name].append(frame)
    finally:
        for s in (*sinks.values(), truth_sink):
            s.close()
    counts = {t: s.rows for t, s in sinks.items()}
    truth = _truth_json(n_customers, seed, cfg, incremental, counts)
    (folder / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def ensure_demo(data_dir: str | os.PathLike | None = None, n_customers: int = DEMO_CUSTOMERS,
                seed: int = DEMO_SEED) -> Path:
    """Return the demo company's folder, generating it first if it is absent.

    Parameters
    ----------
    data_dir : path, optional
        Folder of the demo data (default ``data/demo`` under the project root).
    n_customers, seed : int
        Size and seed of the demo company (10,000 contacts, seed 42 by default).
    """
    from crm_research.paths import demo_data_dir

    folder = Path(data_dir) if data_dir is not None else demo_data_dir()
    if (folder / "truth.json").exists():
        return folder
    return write(folder, n_customers=n_customers, seed=seed)


def load_truth(folder: str | os.PathLike) -> tuple[dict, pd.DataFrame]:
    """Read ``truth.json`` and ``truth_customers.parquet`` written beside a synthetic company."""
    folder = Path(folder)
    path = folder / "truth.json"
    if not path.exists():
        raise CRMError(f"{folder} has no truth.json: it is not a synthetic company written by crm-research")
    return json.loads(path.read_text(encoding="utf-8")), pd.read_parquet(folder / "truth_customers.parquet")
