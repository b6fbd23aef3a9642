"""At scale: 1M customers / 10M orders / 50M events on DuckDB from Parquet, then the same code on Spark.

Run on demand:  python benchmarks/bench_scale.py [--data /work/scale-data] [--only STEP ...]
                [--skip-duckdb] [--skip-spark] [--memory-limit 6GB]

1. Data (cached in ``--data``, outside git; about 1 GB of Parquet).
   * ``company/``: the synthetic company with 1,000,000 contacts (``synthetic.write``, seed 42):
     1,978,268 orders and 30,409,943 events -- fewer than the issue's 10M / 50M, so
   * ``scale/``: every table of ``company/`` plus a numpy top-up, generated like
     ``bench_segments.make_orders`` / ``bench_kpi.make_tables`` (seeded; only sizes matter):
     - orders: +8,021,732 orders of the company's 352,964 buyers (gamma-skewed counts, times
       uniform from signup to the end of history, lognormal amounts, status / channel /
       platform / promotion mix close to the company's), 10,000,000 in all;
     - events: +19,590,057 web-session events of random contacts in the company's funnel shape
       (site_visit, 1-3 product_view, add_to_cart 30 %, checkout_start 70 % of carts, purchase
       80 % of checkouts; no ad touches), 50,000,000 in all;
     - ``events`` carries ``row_no`` (its row number): the input order that breaks timestamp
       ties, the same on every engine.
   * ``sample_1pct/`` (contacts whose number is divisible by 100, and their rows) for Spark,
     and ``journey_1m/`` (contacts divisible by 50: about 1M events) for the journey targets.
2. Every row-level aggregation the notebooks use (the engine functions of ``kpi``, ``segments``,
   ``journey``, ``attribution``, ``churn`` and ``summaries``) runs on DuckDB over ``scale/``,
   each step in a fresh child process: wall and CPU seconds, peak RSS of the process
   (``ru_maxrss``: Python, DuckDB and the pandas result), and ``os.getloadavg()`` before the
   step. The DuckDB connection is ``engine.connect(threads=2, memory_limit=..., temp_directory=...)``.
   Results are collected to pandas as a notebook would, except ``sessions`` (one row per event:
   reduced to a checksum on the engine). The three 1M-event journey steps also run from a
   pandas DataFrame (``journey_1m`` read into memory before the clock starts; pandas in, pandas
   out on the implicit single-threaded connection, as in the notebooks).
3. The same step code over ``sample_1pct/`` on local Spark (``engine.connect("pyspark")``,
   ``local[2]``, 2 GB driver) and on DuckDB: time per step and whether the two results are equal
   (exactly, after casting Spark's dtypes to DuckDB's; otherwise the largest difference).

Output: JSON lines on stderr while running, markdown tables on stdout (paste into
benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

AS_OF = "2026-01-01"
CUTOFF = "2025-07-01"  # churn features / calibration-holdout split
STEPS_FUNNEL = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]
N_CONTACTS, SEED = 1_000_000, 42
TARGET_ORDERS, TARGET_EVENTS = 10_000_000, 50_000_000
START = np.datetime64("2024-01-01T00:00:00", "s")
END = np.datetime64("2026-01-01T00:00:00", "s")
TABLES = ("customers", "orders", "order_items", "events", "tickets", "surveys", "subscriptions", "campaigns",
          "ad_spend")


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def _ts(seconds: np.ndarray):
    import pyarrow as pa

    return pa.array((START + seconds.astype("timedelta64[s]")).astype("datetime64[us]"),
                     type=pa.timestamp("us", tz="UTC"))


def _ids(prefix: str, idx: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(idx.astype(str), width)).astype(object)


def _copy_then(src: Path, dst: Path, extra_batches, row_no: bool = False) -> int:
    """Write ``src``'s rows then the ``extra_batches`` (Arrow tables) to ``dst``; return rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = pq.ParquetFile(src)
    schema = f.schema_arrow
    if row_no:
        schema = schema.append(pa.field("row_no", pa.int64()))
    n = 0
    tmp = dst.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
        def put(tab):
            nonlocal n
            if row_no:
                tab = tab.append_column("row_no", pa.array(np.arange(n, n + tab.num_rows, dtype=np.int64)))
            w.write_table(tab.select(schema.names).cast(schema), row_group_size=1_000_000)
            n += tab.num_rows
        for batch in f.iter_batches(batch_size=1_000_000):
            put(pa.Table.from_batches([batch]))
        for tab in extra_batches(schema):
            put(tab)
    tmp.rename(dst)
    return n


def _extra_orders(company: Path, n_extra: int, seed: int):
    """Top-up orders of the company's buyers (numpy, as bench_segments.make_orders)."""
    import duckdb
    import pyarrow as pa

    buyers = duckdb.sql(f"""select o.customer_id, epoch(c.signup_at)::bigint as s
                            from (select distinct customer_id from '{company}/orders.parquet') o
                            join '{company}/customers.parquet' c using (customer_id)
                            order by o.customer_id""").fetchnumpy()
    ids, signup = buyers["customer_id"].astype(object), buyers["s"] - int(START.astype(np.int64))
    span = int((END - START).astype(np.int64))

    def gen(schema):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        w = rng.gamma(0.8, 1.0, len(ids))
        p = w / w.sum()
        chunk, done = 1_000_000, 0
        while done < n_extra:
            m = min(chunk, n_extra - done)
            c = rng.choice(len(ids), m, p=p)
            t = signup[c] + (rng.random(m) * (span - signup[c])).astype(np.int64)
            channel = rng.choice(np.array(["online", "phone", "in_person"], dtype=object), m, p=[0.84, 0.08, 0.08])
            plat = rng.choice(np.array(["mobile", "app", "desktop"], dtype=object), m, p=[0.38, 0.37, 0.25])
            plat = np.where(channel == "online", plat, None)
            promo = rng.random(m) < 0.07
            disc = np.where(promo, np.round(rng.uniform(5, 40, m), 2), 0.0)
            yield pa.table({
                "order_id": _ids("O", 1_000_000_000 + done + np.arange(m), 10),
                "customer_id": ids[c],
                "ordered_at": _ts(t),
                "amount": np.round(rng.lognormal(4.0, 0.8, m), 2),
                "discount": disc,
                "channel": channel,
                "platform": plat,
                "promo_code": np.where(promo, "TOPUP10", None),
                "status": rng.choice(np.array(["completed", "cancelled", "returned"], dtype=object), m,
                                     p=[0.92, 0.03, 0.05]),
            })
            done += m
    return gen


def _extra_events(company: Path, n_extra: int, seed: int):
    """Top-up web sessions of random contacts in the company's funnel shape (numpy)."""
    import duckdb
    import pyarrow as pa

    cust = duckdb.sql(f"select customer_id, epoch(signup_at)::bigint as s from '{company}/customers.parquet' "
                      "order by customer_id").fetchnumpy()
    ids, signup = cust["customer_id"].astype(object), cust["s"] - int(START.astype(np.int64))
    span = int((END - START).astype(np.int64))
    names = np.array(STEPS_FUNNEL, dtype=object)

    def gen(schema):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
        done, sess0 = 0, 0
        while done < n_extra:
            k = 400_000  # sessions per chunk (about 1.5M events)
            c = rng.integers(0, len(ids), k)
            t0 = signup[c] + (rng.random(k) * (span - signup[c] - 3600)).astype(np.int64)
            views = rng.integers(1, 4, k)
            cart = rng.random(k) < 0.30
            chk = cart & (rng.random(k) < 0.70)
            buy = chk & (rng.random(k) < 0.80)
            # steps per session: visit, views, then cart / checkout / purchase as reached
            n_ev = 1 + views + cart + chk + buy
            sess = np.repeat(np.arange(k), n_ev)
            pos = np.arange(len(sess)) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
            nv = views[sess]
            step = np.where(pos == 0, 0, np.where(pos <= nv, 1, pos - nv + 1))
            gap = rng.integers(5, 240, len(sess))
            gap[pos == 0] = 0
            t = t0[sess] + np.cumsum(gap) - np.repeat(np.cumsum(gap)[np.cumsum(n_ev) - n_ev], n_ev)
            m = min(len(sess), n_extra - done)
            sess, step, t = sess[:m], step[:m], t[:m]
            plat = rng.choice(np.array(["mobile", "app", "desktop"], dtype=object), k, p=[0.38, 0.33, 0.29])
            yield pa.table({
                "customer_id": ids[c[sess]],
                "occurred_at": _ts(t),
                "event": names[step],
                "session_id": _ids("T", sess0 + sess, 10),
                "channel": pa.nulls(m, pa.string()),
                "campaign_id": pa.nulls(m, pa.string()),
                "platform": plat[sess],
                "order_id": pa.nulls(m, pa.string()),
            })
            done += m
            sess0 += k
    return gen


def _subset(src: Path, dst: Path, modulus: int, tables=TABLES) -> None:
    """Rows of the contacts whose number is divisible by ``modulus`` (campaigns, ad_spend whole)."""
    import duckdb

    tmp = dst.parent / (dst.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    keep = f"(substr(customer_id, 2)::bigint % {modulus} = 0)"
    for t in tables:
        s = f"'{src}/{t}.parquet'"
        if t in ("campaigns", "ad_spend"):
            q = f"select * from {s}"
        elif t == "order_items":
            q = (f"select i.* from {s} i semi join (select order_id from '{src}/orders.parquet' where {keep}) o "
                 "using (order_id)")
        else:
            q = f"select * from {s} where {keep}"
        if t == "events":  # keep the input order (row_no) of the big file
            q += " order by row_no"
        con.sql(f"copy ({q}) to '{tmp}/{t}.parquet' (format parquet, compression zstd)")
    tmp.rename(dst)


def ensure_data(root: Path) -> dict:
    import pyarrow.parquet as pq

    from crm_research import synthetic

    info = {}
    company, scale = root / "company", root / "scale"
    if not (company / "truth.json").exists():
        _log("writing the synthetic company (1M contacts)")
        t0 = time.perf_counter()
        synthetic.write(company, n_customers=N_CONTACTS, seed=SEED)
        info["synthetic_seconds"] = time.perf_counter() - t0
    if not (scale / "done").exists():
        scale.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        for t in TABLES:
            if t not in ("orders", "events") and not (scale / f"{t}.parquet").exists():
                os.link(company / f"{t}.parquet", scale / f"{t}.parquet")
        n_o = pq.ParquetFile(company / "orders.parquet").metadata.num_rows
        n_e = pq.ParquetFile(company / "events.parquet").metadata.num_rows
        if not (scale / "orders.parquet").exists():
            _log(f"orders: {n_o:,} + {TARGET_ORDERS - n_o:,} top-up")
            _copy_then(company / "orders.parquet", scale / "orders.parquet",
                       _extra_orders(company, TARGET_ORDERS - n_o, SEED))
        if not (scale / "events.parquet").exists():
            _log(f"events: {n_e:,} + {TARGET_EVENTS - n_e:,} top-up")
            _copy_then(company / "events.parquet", scale / "events.parquet",
                       _extra_events(company, TARGET_EVENTS - n_e, SEED), row_no=True)
        info["topup_seconds"] = time.perf_counter() - t0
        (scale / "done").write_text(json.dumps(info))
    for name, mod in (("sample_1pct", 100), ("journey_1m", 50)):
        if not (root / name).exists():
            _log(f"subset {name}")
            _subset(scale, root / name, mod, TABLES if name == "sample_1pct" else ("events",))
    return info


def table_rows(folder: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {p.stem: pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("*.parquet"))}


# --------------------------------------------------------------------------------------------
# steps: the row-level aggregations of the five notebooks, written once for any backend
# --------------------------------------------------------------------------------------------

def step_table() -> dict:
    """name -> (tables read, call(t) returning a pandas DataFrame or a lazy ibis table)."""
    from crm_research import attribution as A
    from crm_research import churn as C
    from crm_research import journey as J
    from crm_research import kpi, summaries
    from crm_research import segments as S

    def sessions_checksum(t):
        s = J.sessions(t["events"], "30min", row_col="row_no")
        return s.aggregate(rows=s.count(), sessions=s.session_id.nunique(),
                           index_total=s.session_index.sum())

    def touch_credit_totals(t):
        return A.touch_credits(A.touchpoints(t["events"], t["orders"], as_of=AS_OF, window=A.JourneyWindow(30)),
                               rule="linear")

    def paths_and_table(t):
        j = A.paths(t["events"], t["orders"], t["customers"], as_of=AS_OF, window=A.JourneyWindow(30))
        return A.aggregate_paths(j)

    core = ("customers", "orders", "events", "tickets", "surveys")
    return {
        # 01 baseline
        "kpi.baseline (monthly)": (core, lambda t: kpi.baseline({k: t[k] for k in core}, AS_OF, "M")),
        # 02 segmentation
        "segments.rfm": (("orders",), lambda t: S.rfm(t["orders"], AS_OF)),
        "segments.customer_levels": (("orders", "events", "surveys"),
                                     lambda t: S.customer_levels(t["orders"], AS_OF, t["events"], t["surveys"])),
        "segments.customer_features": (("orders", "order_items", "events", "tickets", "surveys"),
                                       lambda t: S.customer_features(t["orders"], AS_OF, t["order_items"],
                                                                     t["events"], t["tickets"], t["surveys"])),
        "segments.affinities": (("order_items", "orders"),
                                lambda t: S.affinities(t["order_items"], t["orders"], AS_OF)),
        "segments.next_best_offers": (("order_items", "orders"),
                                      lambda t: S.next_best_offers(t["order_items"], t["orders"], AS_OF)),
        # 03 journey
        "journey.transitions": (("events",), lambda t: J.transitions(t["events"], row_col="row_no")),
        "journey.funnel (sessions)": (("events",), lambda t: J.funnel(t["events"], STEPS_FUNNEL,
                                                                       path_col="session_id", row_col="row_no")),
        "journey.sessions (30 min)": (("events",), sessions_checksum),
        "journey.top_paths": (("events",), lambda t: J.top_paths(t["events"], row_col="row_no")),
        # 04 attribution
        "attribution.paths + aggregate_paths": (("events", "orders", "customers"), paths_and_table),
        "attribution.touchpoints + touch_credits": (("events", "orders"), touch_credit_totals),
        "attribution.ab_assignments": (("events", "orders"), lambda t: A.ab_assignments(
            t["events"], t["orders"], arms={"control": "ab_subject_control", "variant": "ab_subject_variant"},
            window_days=14, promo_code="AB-SEPT", as_of=AS_OF)),
        # 05 churn
        "summaries.customer_orders": (("orders",), lambda t: summaries.customer_orders(t["orders"], AS_OF)),
        "churn.rfm_summary": (("orders",), lambda t: C.rfm_summary(t["orders"], AS_OF)),
        "churn.calibration_holdout_summary": (("orders",), lambda t: C.calibration_holdout_summary(
            t["orders"], CUTOFF, AS_OF)),
        "churn.churn_features": (("orders", "events", "tickets", "surveys", "subscriptions", "customers"),
                                 lambda t: C.churn_features(dict(t), CUTOFF)),
        "churn.first_order_promo": (("orders",), lambda t: C.first_order_promo(t["orders"], AS_OF)),
        "churn.rfm_risk": (("orders",), lambda t: C.rfm_risk(t["orders"], AS_OF)),
        # further engine work of the notebooks (second batch)
        "kpi.cohort_retention (monthly)": (("customers", "orders"), lambda t: kpi.cohort_retention(
            {k: t[k] for k in ("customers", "orders")}, AS_OF, "M")),
        "kpi.breakdowns (last month)": (core, lambda t: kpi.breakdowns({k: t[k] for k in core}, AS_OF, "M",
                                                                       periods=1)),
        "journey.stages": (("events",), lambda t: J.stages(t["events"], as_of=AS_OF, row_col="row_no")),
        "journey.time_to_paths (purchase)": (("events",), lambda t: J.time_to_paths(
            t["events"], "purchase", AS_OF, row_col="row_no")),
        "journey.path_flows": (("events",), lambda t: J.path_flows(t["events"], 5, path_col="customer_id",
                                                                    row_col="row_no")),
        "journey.friction_cells": (("events",), lambda t: J.friction_cells(
            t["events"], STEPS_FUNNEL, segments=("platform",), period="W", as_of=AS_OF, row_col="row_no")),
        "churn.customer_covariates": (("customers", "orders"), lambda t: C.customer_covariates(
            {k: t[k] for k in ("customers", "orders")}, CUTOFF)),
    }


JOURNEY_1M = ("journey.transitions", "journey.funnel (sessions)", "journey.sessions (30 min)")


def frame_step(name: str, events):
    """The 1M-event journey steps on a pandas DataFrame (implicit single-threaded connection)."""
    from crm_research import journey as J

    if name == "journey.transitions":
        return J.transitions(events)
    if name == "journey.funnel (sessions)":
        return J.funnel(events, STEPS_FUNNEL, path_col="session_id")
    return J.sessions(events, "30min")


def open_tables(con, folder: Path, names) -> dict:
    return {n: con.read_parquet(str(folder / f"{n}.parquet"), table_name=f"{n}_{abs(hash(str(folder))) % 10**6}")
            for n in names}


def run_step(con, folder: Path, name: str):
    from crm_research import engine

    names, call = step_table()[name]
    t = open_tables(con, folder, names)
    out = call(t)
    return engine.collect(out)


# --------------------------------------------------------------------------------------------
# child processes
# --------------------------------------------------------------------------------------------

def child_duckdb(args) -> None:
    """One step on DuckDB in this (fresh) process; prints a JSON line."""
    from crm_research import engine

    folder = Path(args.folder)
    spill = Path(args.data) / "spill"
    spill.mkdir(exist_ok=True)
    con = engine.connect(threads=args.threads, memory_limit=args.memory_limit, temp_directory=str(spill))
    step_table()  # import the analysis modules (sklearn, scipy, ...) before the clock starts
    walls, cpus, loads = [], [], []
    out = None
    frame = None
    if args.frame:  # events as a DataFrame in input order (loaded before the clock starts)
        import pandas as pd

        frame = pd.read_parquet(folder / "events.parquet").sort_values("row_no", kind="stable")
        frame = frame.drop(columns="row_no").reset_index(drop=True)
    for _ in range(args.repeat):
        loads.append(os.getloadavg()[0])
        t0, c0 = time.perf_counter(), time.process_time()
        out = run_step(con, folder, args.child) if frame is None else frame_step(args.child, frame)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    i = min(range(len(walls)), key=walls.__getitem__)
    if args.save:
        with open(args.save, "wb") as fh:
            pickle.dump(out, fh)
    print(json.dumps({"step": args.child, "seconds": walls[i], "all_seconds": walls, "cpu_seconds": cpus[i],
                      "load_before": loads[i], "load_after": os.getloadavg()[0], "rows_out": len(out),
                      "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))


def child_spark(args) -> None:
    """Every step on local Spark over the sample, results pickled for the comparison."""
    from crm_research import engine

    t0 = time.perf_counter()
    session = engine.spark_session(cores=args.threads, memory=args.spark_memory)
    con = engine.connect("pyspark", session=session)
    startup = time.perf_counter() - t0
    print(json.dumps({"spark_startup_seconds": startup, "spark_version": session.version}), flush=True)
    folder, outdir = Path(args.folder), Path(args.save)
    step_table()  # imports outside the timings
    for name in args.steps:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            out = run_step(con, folder, name)
            err = None
        except Exception as exc:  # noqa: BLE001 - report and go on to the next step
            out, err = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        wall = time.perf_counter() - t0
        if out is not None:
            with open(outdir / f"{_slug(name)}.pkl", "wb") as fh:
                pickle.dump(out, fh)
        print(json.dumps({"step": name, "seconds": wall, "load_before": load, "error": err,
                          "rows_out": None if out is None else len(out)}), flush=True)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _same(spark, duck) -> tuple[bool, str]:
    """Exactly equal after casting Spark's dtypes to DuckDB's? Else a short description."""
    import pandas as pd

    spark = spark.reset_index(drop=True).copy()
    duck = duck.reset_index(drop=True)
    if list(spark.columns) != list(duck.columns) or len(spark) != len(duck):
        return False, f"shape/columns differ: {spark.shape} {duck.shape}"
    for c in duck.columns:
        if spark[c].dtype != duck[c].dtype:
            try:
                spark[c] = spark[c].astype(duck[c].dtype)
            except (TypeError, ValueError):
                pass
    try:
        pd.testing.assert_frame_equal(spark, duck, check_exact=True)
        return True, "exact"
    except AssertionError as exc:
        first = str(exc).strip().splitlines()
        try:
            pd.testing.assert_frame_equal(spark, duck, check_exact=False, rtol=1e-9, atol=1e-12)
            return False, "equal to 1e-9 relative, not bit for bit: " + " ".join(first[:2])[:200]
        except AssertionError:
            return False, " ".join(first[:4])[:300]


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------

def _call(argv: list[str], timeout: float) -> tuple[list[dict], str]:
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    err = ""
    if proc.returncode != 0:  # the engine's own message (e.g. DuckDB's "Out of Memory Error: ...")
        tail = [x for x in proc.stderr.strip().splitlines() if "Error" in x or "Exception" in x]
        err = (tail[-1] if tail else f"exit {proc.returncode}").strip()[:400]
    return lines, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/scale-data")
    ap.add_argument("--only", nargs="+", default=None, help="step names (as printed) to run")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit (spills beyond it)")
    ap.add_argument("--spark-memory", default="2g")
    ap.add_argument("--repeat-1m", type=int, default=3, help="runs of the 1M-event journey steps (best counts)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child process")
    # child-process arguments
    ap.add_argument("--child", default=None)
    ap.add_argument("--spark-child", action="store_true")
    ap.add_argument("--folder", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--save", default=None)
    ap.add_argument("--frame", action="store_true", help="child: the 1M journey step from a DataFrame")
    ap.add_argument("--steps", nargs="*", default=None)
    args = ap.parse_args()
    if args.spark_child:
        return child_spark(args)
    if args.child:
        return child_duckdb(args)

    root = Path(args.data)
    t0 = time.perf_counter()
    info = ensure_data(root)
    _log(f"data ready in {time.perf_counter() - t0:.0f} s {info}")
    scale, sample, j1m = root / "scale", root / "sample_1pct", root / "journey_1m"
    rows = {"scale": table_rows(scale), "sample": table_rows(sample), "journey_1m": table_rows(j1m)}
    steps = step_table()
    names = [n for n in steps if args.only is None or n in args.only]
    common = ["--data", str(root), "--threads", str(args.threads), "--memory-limit", args.memory_limit]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, python "
          f"{platform.python_version()}, date {time.strftime('%Y-%m-%d')}; DuckDB threads={args.threads}, "
          f"memory_limit={args.memory_limit}")
    print("input rows: " + ", ".join(f"{k} {v:,}" for k, v in rows["scale"].items()))
    print()

    results = []
    if not args.skip_duckdb:
        jobs = [(n, scale, 1) for n in names]
        jobs += [(n + " @1M events", j1m, args.repeat_1m) for n in names if n in JOURNEY_1M]
        jobs += [(n + " @1M events, DataFrame", j1m, args.repeat_1m) for n in names if n in JOURNEY_1M]
        for label, folder, rep in jobs:
            name = label.replace(" @1M events, DataFrame", "").replace(" @1M events", "")
            frame = ["--frame"] if label.endswith("DataFrame") else []
            r, err = _call(["--child", name, "--folder", str(folder), "--repeat", str(rep), *frame, *common],
                           args.timeout)
            rec = r[-1] if r else {"step": name, "error": err}
            rec["label"] = label
            rec["rows_in"] = sum(rows["journey_1m" if folder == j1m else "scale"].get(t, 0) for t in steps[name][0])
            results.append(rec)
            print(json.dumps(rec), file=sys.stderr, flush=True)
        print("| step | rows in | wall s | CPU s | peak RSS GiB | load avg before | rows out |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in results:
            if "seconds" not in r:
                print(f"| {r['label']} | {r['rows_in']:,} | failed: {r.get('error', '')} | | | | |")
                continue
            runs = "" if len(r["all_seconds"]) == 1 else f" (best of {len(r['all_seconds'])})"
            print(f"| {r['label']} | {r['rows_in']:,} | {r['seconds']:.2f}{runs} | {r['cpu_seconds']:.1f} | "
                  f"{r['peak_rss_gib']:.2f} | {r['load_before']:.1f} | {r['rows_out']:,} |")
        print()

    if not args.skip_spark:
        outd, outs = root / "out_duckdb", root / "out_spark"
        outd.mkdir(exist_ok=True)
        outs.mkdir(exist_ok=True)
        duck = {}
        for name in names:
            r, err = _call(["--child", name, "--folder", str(sample), "--save", str(outd / f"{_slug(name)}.pkl"),
                            *common], args.timeout)
            duck[name] = r[-1] if r else {"error": err}
            print(json.dumps({"sample duckdb": name, **duck[name]}), file=sys.stderr, flush=True)
        r, err = _call(["--spark-child", "--folder", str(sample), "--save", str(outs), "--threads",
                        str(args.threads), "--spark-memory", args.spark_memory, "--steps", *names],
                       args.timeout * 2)
        head = r[0] if r and "spark_startup_seconds" in r[0] else {}
        spark = {x["step"]: x for x in r if "step" in x}
        print(f"Spark {head.get('spark_version', '?')} local[{args.threads}], driver {args.spark_memory}; "
              f"session start {head.get('spark_startup_seconds', float('nan')):.1f} s; sample: "
              + ", ".join(f"{k} {v:,}" for k, v in rows["sample"].items() if k not in ("campaigns", "ad_spend"))
              + (f"; spark child: {err}" if err else ""))
        print()
        print("| step | rows in (sample) | Spark s | load avg before | DuckDB s | rows out | equal to DuckDB |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name in names:
            s, d = spark.get(name, {"error": "not run"}), duck[name]
            rows_in = sum(rows["sample"].get(t, 0) for t in steps[name][0])
            if s.get("error") or "seconds" not in d:
                print(f"| {name} | {rows_in:,} | failed: {s.get('error') or ''} | {s.get('load_before', 0):.1f} | "
                      f"{d.get('seconds', float('nan')):.2f} | | {d.get('error', '')} |")
                continue
            with open(outs / f"{_slug(name)}.pkl", "rb") as fh:
                so = pickle.load(fh)
            with open(outd / f"{_slug(name)}.pkl", "rb") as fh:
                do = pickle.load(fh)
            ok, how = _same(so, do)
            print(f"| {name} | {rows_in:,} | {s['seconds']:.2f} | {s['load_before']:.1f} | {d['seconds']:.2f} | "
                  f"{len(do):,} | {'yes, ' + how if ok else 'NO: ' + how} |")


if __name__ == "__main__":
    main()
