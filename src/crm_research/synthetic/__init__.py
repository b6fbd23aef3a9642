"""A synthetic CRM company with planted, known effects (the demo data and the test bed).

``generate`` returns the tables in memory; ``write`` streams them to a folder chunk by chunk
(bounded memory at any size) together with ``truth.json`` and ``truth_customers.parquet``;
``ensure_demo`` writes the demo company on first use. Same arguments, same seed → identical
bytes.

The marketing mix truth (``truth["mmm"]``): every channel's ``ad_spend.cost`` is flighted
(bursts and pauses of 2-8 weeks, channels independent, no spend in the first five weeks), and
that weekly spend brings extra leads: their expected sign-ups per week are
``sum_c beta_c * hill(adstock(spend_c))`` with the parameters of
:mod:`~crm_research.synthetic.config` (``MMM_*``); after sign-up they are leads like every other
(the same touches and conversion model). They come after the ``n_customers`` planted-trend leads
(ids continue, ``truth_customers.media_driven``), so every row of those is what it was before the
truth was planted; only ``ad_spend``'s cost, impressions and clicks changed, and the media-driven
leads' rows were added.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_research.data.model import TABLES
from crm_research.errors import CRMError
from crm_research.synthetic import config as K
from crm_research.synthetic.company import ChunkResult, Counters, generate_chunk
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
     ("advocate", pa.bool_()), ("ab_arm", pa.string()), ("media_driven", pa.bool_())]
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


def _chunks(n_customers: int, seed: int, cfg: CompanyConfig, counters: Counters):
    n_chunks = -(-n_customers // cfg.chunk_size)
    for c in range(n_chunks):
        first = c * cfg.chunk_size
        yield generate_chunk(seed, c, first, min(cfg.chunk_size, n_customers - first), cfg, counters)


TRUTH_CUSTOMERS = "truth_customers"
"""Name of the per-contact truth (``truth_customers.parquet``) among the parts :func:`_produce` emits."""


def _produce(n_customers: int, seed: int, cfg: CompanyConfig, emit: Callable[[str, pd.DataFrame], None]
             ) -> tuple[np.ndarray, dict]:
    """Generate the whole company in order, handing every part to ``emit(table, frame)``.

    Order: the contacts' chunks; the campaign tables (from every chunk's touch counts) and the
    marketing mix truth (from their spend); the media-driven chunks; the campaign tables last.
    A chunk's per-contact truth goes to ``emit(TRUTH_CUSTOMERS, frame)``. At most one chunk is
    held at a time (what keeps :func:`write`'s memory bounded).

    Returns
    -------
    incremental : ndarray
        Expected incremental conversions per channel (``K.CHANNELS`` order).
    mmm : dict
        The marketing mix truth (``truth["mmm"]`` before its contact count).
    """
    incremental, touches = np.zeros(len(K.CHANNELS)), None
    counters = Counters()
    for res in _chunks(n_customers, seed, cfg, counters):
        _emit_chunk(res, emit)
        incremental += res.incremental
        touches = res.touch_counts if touches is None else touches + res.touch_counts
        del res
    camp = _campaign_tables(seed, cfg, touches, n_customers)
    mmm, per_day = _media_truth(seed, cfg, n_customers, camp["ad_spend"])
    for res in _media_chunks(seed, cfg, n_customers, per_day, counters):
        _emit_chunk(res, emit)
        incremental += res.incremental
        del res
    for name, frame in camp.items():
        emit(name, frame)
    return incremental, mmm


def _emit_chunk(res: ChunkResult, emit: Callable[[str, pd.DataFrame], None]) -> None:
    for name, frame in res.tables.items():
        emit(name, frame)
    emit(TRUTH_CUSTOMERS, res.truth)


def _campaign_tables(seed: int, cfg: CompanyConfig, touch_counts: np.ndarray, n_customers: int
                     ) -> dict[str, pd.DataFrame]:
    """Campaigns and their daily delivery.

    Observed touches are a sample of the ad server's counts; on top of them each channel's
    delivery has flighted bursts (impressions and clicks bought by the spend). The cost is the
    flighted spend alone (the tracked touches' delivery is not billed separately), so the weekly
    spend per channel is exactly what the marketing mix truth responds to.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2**31 - 1]))
    campaigns = pd.DataFrame(list(K.CAMPAIGNS), columns=["campaign_id", "channel", "name"])
    days = pd.date_range(cfg.start_ts, cfg.end_ts, freq="D", inclusive="left")
    flighted = _flighted_delivery(seed, cfg, n_customers / K.MMM_SCALE_CONTACTS, days)
    rows = []
    for i, (cid, _ch, _) in enumerate(K.CAMPAIGNS):
        if cid.startswith("ab_"):
            continue
        seen_imp, seen_clk = touch_counts[i, :, 0], touch_counts[i, :, 1]
        impressions = (seen_imp + seen_clk) * K.IMPRESSIONS_PER_TOUCH + rng.poisson(40, len(days))
        clicks = np.minimum(seen_clk * K.CLICKS_PER_CLICK_TOUCH + rng.poisson(2, len(days)), impressions)
        rng.uniform(0.9, 1.1, len(days))  # the former per-touch cost's draw: the counts' stream is kept
        f_cost, f_imp, f_clk = flighted[cid]
        rows.append(pd.DataFrame({"campaign_id": cid, "date": days,
                                  "impressions": impressions.astype(np.int64) + f_imp,
                                  "clicks": clicks.astype(np.int64) + f_clk,
                                  "cost": f_cost}))
    return {"campaigns": campaigns, "ad_spend": pd.concat(rows, ignore_index=True)}


MEDIA_SPEND_STREAM = 2**31 - 2
"""Second word of the seed sequence of the flighted spend (the delivery keeps ``2**31 - 1``)."""
MEDIA_CHUNK = 2**30
"""Chunk number of the first media-driven chunk (its random stream is apart from the contacts')."""


def _flights(seed: int, cfg: CompanyConfig, scale: float) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """Planned weekly spend per channel (currency): bursts and pauses, channels independent."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, MEDIA_SPEND_STREAM]))
    weeks = pd.date_range(cfg.start_ts - pd.Timedelta(days=cfg.start_ts.weekday()), cfg.end_ts, freq="7D",
                          inclusive="left")
    plan = {}
    for ch in K.CHANNELS:
        x = np.zeros(len(weeks))
        on, left = bool(rng.random() < 0.5), 0
        for t in range(len(weeks)):
            if t < K.MMM_FIRST_SPEND_WEEK:
                continue
            if left == 0:
                on, left = not on, int(rng.integers(K.MMM_RUN_WEEKS[0], K.MMM_RUN_WEEKS[1] + 1))
            lo, hi = (K.MMM_ON if on else K.MMM_OFF)[ch]
            x[t] = K.MMM_HALF_SATURATION[ch] * scale * rng.uniform(lo, hi)
            left -= 1
        plan[ch] = x
    return weeks, plan


def _flighted_delivery(seed: int, cfg: CompanyConfig, scale: float, days: pd.DatetimeIndex
                       ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Daily cost, impressions and clicks of the flighted spend per campaign (not the A/B e-mails)."""
    weeks, plan = _flights(seed, cfg, scale)
    rng = np.random.default_rng(np.random.SeedSequence([seed, MEDIA_SPEND_STREAM, 1]))
    week_of_day = ((days - weeks[0]) // pd.Timedelta(days=7)).to_numpy()
    out = {}
    for ch in K.CHANNELS:
        camps = [c for c, chan, _ in K.CAMPAIGNS if chan == ch and not c.startswith("ab_")]
        share = rng.dirichlet(np.full(len(camps), 4.0))
        for cid, sh in zip(camps, share, strict=True):
            cost = np.round(plan[ch][week_of_day] / 7.0 * sh * rng.uniform(0.9, 1.1, len(days)), 2)
            if ch in K.COST_PER_CLICK:
                clicks = np.floor(cost / K.COST_PER_CLICK[ch]).astype(np.int64)
                impressions = clicks * 20
            else:
                impressions = np.floor(cost / K.COST_PER_MILLE[ch] * 1000.0).astype(np.int64)
                clicks = np.floor(impressions * 0.01).astype(np.int64)
            out[cid] = (cost, impressions, clicks)
    return out


def _p_convert_lead() -> float:
    """Expected conversion probability of a lead: the planted logit over the 32 touch sets."""
    reach, eff = np.asarray(K.CHANNEL_REACH), np.asarray(K.CHANNEL_EFFECT)
    total = 0.0
    for mask in range(1 << len(K.CHANNELS)):
        on = np.array([(mask >> i) & 1 for i in range(len(K.CHANNELS))], dtype=bool)
        p_set = float(np.prod(np.where(on, reach, 1.0 - reach)))
        total += p_set / (1.0 + np.exp(-(K.CONVERSION_INTERCEPT + eff[on].sum())))
    return total


def _media_truth(seed: int, cfg: CompanyConfig, n_customers: int, ad_spend: pd.DataFrame
                 ) -> tuple[dict, np.ndarray]:
    """The marketing mix truth from the final weekly spend: per-day intensity of media-driven sign-ups.

    Sign-ups happen up to 30 days before the end of the history (as every lead's: their touch
    window is then complete). Returns the ``truth["mmm"]`` dict and the expected media-driven
    sign-ups per day of the history.
    """
    scale = n_customers / K.MMM_SCALE_CONTACTS
    camp_channel = {c: ch for c, ch, _ in K.CAMPAIGNS}
    start, end = cfg.start_ts, cfg.end_ts
    last_signup = end - pd.Timedelta(days=30)
    first_monday = start - pd.Timedelta(days=start.weekday())
    n_weeks = -(-(end - first_monday).days // 7)
    weeks = pd.date_range(first_monday, periods=n_weeks, freq="7D")
    wk = ((pd.DatetimeIndex(ad_spend["date"]) - first_monday) // pd.Timedelta(days=7)).to_numpy()
    ch_idx = ad_spend["campaign_id"].map(lambda c: K.CHANNELS.index(camp_channel[c])).to_numpy()
    spend = np.zeros((n_weeks, len(K.CHANNELS)))
    np.add.at(spend, (wk, ch_idx), ad_spend["cost"].to_numpy(float))
    lags = np.arange(K.MMM_MAX_LAG + 1)
    effect = np.zeros_like(spend)
    for j, ch in enumerate(K.CHANNELS):
        w = K.MMM_ADSTOCK[ch] ** lags
        a = np.convolve(spend[:, j], w / w.sum())[:n_weeks]
        r = (a / (K.MMM_HALF_SATURATION[ch] * scale)) ** K.MMM_SHAPE[ch]
        effect[:, j] = K.MMM_BETA[ch] * scale * r / (1.0 + r)
    days = pd.date_range(start, end, freq="D", inclusive="left")
    day_week = ((days - first_monday) // pd.Timedelta(days=7)).to_numpy()
    per_day = np.where((days < last_signup)[:, None], effect[day_week] / 7.0, 0.0)  # (n_days, n_channels)
    # the truth window: whole weeks from the first week with spend to the last sign-up day
    paid = spend.sum(axis=1) > 0
    first = int(np.argmax(paid))
    whole = (np.arange(n_weeks) >= first) & (weeks >= start) & (weeks + pd.Timedelta(days=7) <= last_signup)
    contrib, sp = effect[whole].sum(axis=0), spend[whole].sum(axis=0)
    roas = np.where(sp > 0, contrib / np.where(sp > 0, sp, 1.0), 0.0)
    p_conv = _p_convert_lead()
    truth = {
        "outcome": "signups",
        "description": ("Media-driven leads: each channel's weekly spend brings sign-ups, expected "
                        "beta * hill(adstock(spend)) per week, up to 30 days before the end; after "
                        "sign-up they are leads like any other (touches, conversion), so a share "
                        "p_convert of them become new customers, mostly within five weeks."),
        "scale": scale,
        "max_lag_weeks": K.MMM_MAX_LAG,
        "p_convert": round(p_conv, 9),
        "weeks": [str(w.date()) for w in weeks[whole]],
        "as_of": str((weeks[whole][-1] + pd.Timedelta(days=7)).date()),
        "channels": {
            ch: {"theta": K.MMM_ADSTOCK[ch], "half_saturation": K.MMM_HALF_SATURATION[ch] * scale,
                 "shape": K.MMM_SHAPE[ch], "beta": K.MMM_BETA[ch] * scale,
                 "spend": round(float(sp[j]), 6), "signups": round(float(contrib[j]), 6),
                 "roas_signups": round(float(roas[j]), 9),
                 "new_customers": round(float(contrib[j] * p_conv), 6),
                 "roas_new_customers": round(float(roas[j] * p_conv), 9),
                 "weekly_signups": [round(float(v), 6) for v in effect[whole, j]]}
            for j, ch in enumerate(K.CHANNELS)
        },
        "rank_by_roas": [K.CHANNELS[j] for j in np.argsort(-roas, kind="stable")],
    }
    return truth, per_day.sum(axis=1)


def _media_chunks(seed: int, cfg: CompanyConfig, n_customers: int, per_day: np.ndarray, counters: Counters):
    """The media-driven leads: Poisson count, sign-up days from the intensity, in chunks."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, MEDIA_CHUNK]))
    m = int(rng.poisson(per_day.sum()))
    days = rng.choice(len(per_day), m, p=per_day / per_day.sum()) + rng.random(m)
    for c in range(-(-m // cfg.chunk_size)):
        lo = c * cfg.chunk_size
        part = days[lo: lo + cfg.chunk_size]
        yield generate_chunk(seed, MEDIA_CHUNK + 1 + c, n_customers + lo, len(part), cfg, counters,
                             signup_days=part)


def _truth_json(n_customers: int, seed: int, cfg: CompanyConfig, incremental: np.ndarray,
                counts: dict, mmm: dict | None = None) -> dict:
    truth = planted_truth()
    truth["generator"] = {"n_customers": n_customers, "seed": seed, **cfg.as_dict()}
    order = np.argsort(-incremental, kind="stable")
    for i, ch in enumerate(K.CHANNELS):
        truth["channels"][ch]["incremental_conversions"] = round(float(incremental[i]), 6)
    truth["channel_rank_by_incremental_conversions"] = [K.CHANNELS[i] for i in order]
    truth["counts"] = counts
    if mmm is not None:
        truth["mmm"] = {**mmm, "media_contacts": counts["customers"] - n_customers}
    return truth


def generate(n_customers: int = DEMO_CUSTOMERS, seed: int = DEMO_SEED, config: CompanyConfig | None = None
             ) -> tuple[dict[str, pd.DataFrame], dict, pd.DataFrame]:
    """Generate the synthetic company in memory.

    Parameters
    ----------
    n_customers : int
        Number of contacts (leads and buyers) whose sign-ups follow the planted trend and season.
        The media-driven leads of the marketing mix truth come on top
        (``truth["mmm"]["media_contacts"]``).
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

    See Also
    --------
    write : the same company streamed to a folder, chunk by chunk.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, truth, truth_customers = synthetic.generate(n_customers=300, seed=7)
    >>> sorted(tables)
    ['ad_spend', 'campaigns', 'customers', 'events', 'order_items', 'orders', 'subscriptions', 'surveys', 'tickets']
    >>> len(tables["customers"]), truth["mmm"]["media_contacts"]  # 300 + the media-driven leads
    (496, 196)
    >>> tables["orders"][["order_id", "customer_id", "ordered_at", "amount", "status"]].head(3)
          order_id customer_id                ordered_at  amount     status
    0  O0000000000    C0000001 2024-02-07 22:21:14+00:00   104.4  completed
    1  O0000000001    C0000004 2024-06-01 17:38:14+00:00   310.5  completed
    2  O0000000002    C0000004 2024-06-18 11:59:00+00:00   910.5  completed
    >>> int(truth_customers["converted"].sum()), truth["counts"]["orders"]
    (173, 1025)
    """
    _check_args(n_customers, seed)
    cfg = config or CompanyConfig()
    parts: dict[str, list[pd.DataFrame]] = {}
    incremental, mmm = _produce(n_customers, seed, cfg, lambda name, frame: parts.setdefault(name, []).append(frame))
    tables = {k: _conform(k, pd.concat(parts[k], ignore_index=True)) for k in GENERATED_TABLES}
    truth_customers = pd.concat(parts[TRUTH_CUSTOMERS], ignore_index=True)
    counts = {k: int(len(v)) for k, v in tables.items()}
    return tables, _truth_json(n_customers, seed, cfg, incremental, counts, mmm), truth_customers


def _conform(name: str, df: pd.DataFrame) -> pd.DataFrame:
    cols = arrow_schema(name).names
    if list(df.columns) == cols and df.index.equals(pd.RangeIndex(len(df))):
        return df  # already in order: selecting the columns would copy every string of the table
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

    See Also
    --------
    generate : the same tables in memory.
    load_truth : read the planted truth back.

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from crm_research import synthetic
    >>> tmp = Path(tempfile.mkdtemp())
    >>> folder = synthetic.write(tmp / "company", n_customers=300, seed=7)
    >>> sorted(p.name for p in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['ad_spend.parquet', 'campaigns.parquet', 'customers.parquet', 'events.parquet',
     'order_items.parquet', 'orders.parquet', 'subscriptions.parquet', 'surveys.parquet',
     'tickets.parquet', 'truth.json', 'truth_customers.parquet']
    >>> len(pd.read_parquet(folder / "orders.parquet"))  # the same rows as generate(300, seed=7)
    1025
    >>> shutil.rmtree(tmp)
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
    sinks[TRUTH_CUSTOMERS] = _Sink(folder / f"{TRUTH_CUSTOMERS}.parquet", _TRUTH_SCHEMA, "parquet")
    try:
        incremental, mmm = _produce(n_customers, seed, cfg, lambda name, frame: sinks[name].append(frame))
    finally:
        for s in sinks.values():
            s.close()
    counts = {t: sinks[t].rows for t in GENERATED_TABLES}
    truth = _truth_json(n_customers, seed, cfg, incremental, counts, mmm)
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

    Returns
    -------
    Path
        The folder; written by :func:`write` only when it holds no ``truth.json`` yet.

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from crm_research import synthetic
    >>> tmp = Path(tempfile.mkdtemp())
    >>> folder = synthetic.ensure_demo(tmp / "demo", n_customers=300, seed=7)  # written
    >>> synthetic.ensure_demo(tmp / "demo", n_customers=300, seed=7) == folder  # found, not rewritten
    True
    >>> shutil.rmtree(tmp)
    """
    from crm_research.paths import demo_data_dir

    folder = Path(data_dir) if data_dir is not None else demo_data_dir()
    if (folder / "truth.json").exists():
        return folder
    return write(folder, n_customers=n_customers, seed=seed)


def load_truth(folder: str | os.PathLike) -> tuple[dict, pd.DataFrame]:
    """Read ``truth.json`` and ``truth_customers.parquet`` written beside a synthetic company.

    Parameters
    ----------
    folder : path
        A folder written by :func:`write` (or :func:`ensure_demo`).

    Returns
    -------
    truth : dict
        The planted effects and derived true quantities (``truth.json``).
    truth_customers : DataFrame
        One row per contact: planted segment, conversion, first purchase and death times (UTC),
        intent rate (per day), advocacy, A/B arm, media-driven or not, channels touched.

    Raises
    ------
    CRMError
        The folder has no ``truth.json``: it is not a synthetic company.

    Examples
    --------
    >>> import shutil, tempfile
    >>> from pathlib import Path
    >>> from crm_research import synthetic
    >>> tmp = Path(tempfile.mkdtemp())
    >>> truth, customers = synthetic.load_truth(synthetic.write(tmp / "company", n_customers=300, seed=7))
    >>> truth["friction"]["segment"], truth["friction"]["start"], truth["friction"]["end"]
    ({'platform': 'mobile'}, '2025-05-01', '2025-06-15')
    >>> len(customers), int(customers["converted"].sum()), int((~customers["media_driven"]).sum())
    (496, 173, 300)
    >>> shutil.rmtree(tmp)
    """
    folder = Path(folder)
    path = folder / "truth.json"
    if not path.exists():
        raise CRMError(f"{folder} has no truth.json: it is not a synthetic company written by crm-research")
    return json.loads(path.read_text(encoding="utf-8")), pd.read_parquet(folder / "truth_customers.parquet")
