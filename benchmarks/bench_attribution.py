"""Attribution: exact Markov on a million paths, and the other models at the same scale.

Run on demand:  python benchmarks/bench_attribution.py [--paths 1000000] [--repeats 3]

The input is a path table in the exchange format (``path`` = ``"a > b > c"``,
``total_conversions``, ``total_conversion_value``, ``total_null``), built in memory with 12
channels and path lengths uniform on 1..20 (10.5 touches on average, 10.5 million touches, almost
every path distinct), as a pandas DataFrame with an object column -- what ``pd.read_csv`` gives.
"End to end" is ``MarkovAttribution(order=1).fit(table)``: splitting the strings, building the
transition counts, and the exact absorbing-chain solve with one removal per channel.

Target (issue 7): first-order Markov on 1M paths in at most 2 s. For scale: ChannelAttribution
2.2 (C++, simulation-based, inexact by up to 5 % on such data) takes about 4 s on this machine.
Wall times depend on what else runs on the (2-core, shared) machine: the load average is printed,
and CPU seconds of this process are reported beside wall seconds.

Output: a markdown table on stdout (paste it into benchmarks/results.md).

Notebook 04's engine steps on a company's Parquet files:
``python benchmarks/bench_attribution.py --data /path/to/folder [--as-of 2026-01-01]`` reads the
folder in place on DuckDB (one thread, 1 GB memory limit, as the notebooks do) and times each step
the notebook runs on engine tables (the journeys collected for the models, the linear credit per
touch summed per campaign, the mix model's weekly table, the A/B assignments), with this process's
resident memory after each step and its peak so far. Measured on 300k contacts (14.5M events,
946k orders; 2 shared cores, load average ~5): journeys 473k rows in 15-26 s, peak 0.81-0.87 GiB
(collecting every column instead of the four the models read: 25 s, 1.10 GiB); the credit per
campaign 11 s, peak 0.89 GiB; the weekly table 1 s; the A/B assignments (38,612) 2 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CHANNELS = np.array(["paid_search", "social", "display", "email", "affiliate", "direct", "organic_search",
                     "referral", "video", "tv", "push", "sms"], dtype=object)


def make_paths(n: int, seed: int = 0) -> pd.DataFrame:
    """A path table of ``n`` rows: 12 channels, lengths 1..20, Poisson conversions and nulls."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 21, n)
    tokens = rng.integers(0, len(CHANNELS), int(lengths.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(CHANNELS[tokens]))
    path = pc.binary_join(lists, " > ").to_numpy(zero_copy_only=False).astype(object)
    conv = rng.poisson(0.3, n)
    return pd.DataFrame({
        "path": path,
        "total_conversions": conv,
        "total_conversion_value": np.round(conv * rng.gamma(2.0, 40.0, n), 2),
        "total_null": rng.poisson(1.0, n),
    })


def timed(fn, repeats: int) -> tuple[float, float, float]:
    """Median wall seconds, best wall seconds and median CPU seconds of ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def _rss_gib() -> tuple[float, float]:
    """This process's resident memory now and at its peak (GiB; Linux)."""
    import resource

    with open("/proc/self/statm") as fh:
        now = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return now / 2**30, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def engine_steps(folder: str, as_of: str) -> None:
    """Notebook 04's engine steps on the Parquet files in ``folder``: a markdown table."""
    from crm_research import data, engine, mmm
    from crm_research.attribution import (
        JourneyWindow,
        ab_assignments,
        ad_performance,
        paths,
        report,
        touch_credits,
    )
    from crm_research.attribution import touchpoints as touches
    from crm_research.engine import collect

    rows = []

    def step(label, fn):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        rows.append((label, time.perf_counter() - w0, time.process_time() - c0, *_rss_gib()))
        return out

    con = engine.open_engine("duckdb")
    crm = step("load (Parquet in place, checked by queries)", lambda: data.load(folder, as_of=as_of, con=con))
    window = JourneyWindow(30)
    j = step("journeys for the models, collected", lambda: collect(
        paths(crm.events, crm.orders, crm.customers, as_of=as_of, window=window, for_models=True)))
    spend = report.spend_before(crm.ad_spend, as_of)
    step("linear credit per touch, per campaign", lambda: ad_performance(
        spend, touch_credits(touches(crm.events, crm.orders, as_of=as_of, window=window)), crm.campaigns,
        period=None))
    step("mix model's weekly table (sign-ups)", lambda: mmm.weekly_data(
        crm.orders, crm.ad_spend, crm.campaigns, customers=crm.customers, outcome="signups", as_of=as_of))
    asg = step("A/B assignments, collected", lambda: collect(ab_assignments(
        crm.events, crm.orders, arms={"control": "ab_subject_control", "variant": "ab_subject_variant"},
        window_days=14, promo_code="AB-SEPT", as_of=as_of)))
    load = os.getloadavg()
    print(f"data: {folder} as of {as_of}: {len(j):,} journeys, {len(asg):,} A/B contacts; load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, date {time.strftime('%Y-%m-%d')}")
    print()
    print("| step | wall s | CPU s | RSS after, GiB | peak RSS so far, GiB |")
    print("|---|---:|---:|---:|---:|")
    for label, wall, cpu, now, peak in rows:
        print(f"| {label} | {wall:.1f} | {cpu:.1f} | {now:.2f} | {peak:.2f} |")


def main() -> None:
    from crm_research.attribution import (
        Linear,
        MarkovAttribution,
        ShapleyAttribution,
        bootstrap_replicates,
        path_data,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", help="a company's Parquet folder: time notebook 04's engine steps on it instead")
    ap.add_argument("--as-of", default="2026-01-01", help="analysis date for --data")
    args = ap.parse_args()
    if args.data:
        engine_steps(args.data, args.as_of)
        return
    n, r = args.paths, args.repeats
    table = make_paths(n)
    data = path_data(table)
    rows = []

    def add(label, fn, repeats=r):
        med, best, cpu = timed(fn, repeats)
        rows.append((label, med, best, cpu))

    add("path_data: split 1M path strings", lambda: path_data(table))
    add("**Markov order 1, end to end from the path table**", lambda: MarkovAttribution(1).fit(table))
    add("Markov order 1 on parsed paths", lambda: MarkovAttribution(1).fit(data))
    add("Markov order 2 on parsed paths", lambda: MarkovAttribution(2).fit(data))
    add("Markov order 3 on parsed paths", lambda: MarkovAttribution(3).fit(data), repeats=1)
    add("Linear on parsed paths", lambda: Linear().fit(data))
    add("Shapley incremental, exact, 12 channels", lambda: ShapleyAttribution().fit(data))
    add("Bootstrap Markov order 1, 10 replicates", lambda: bootstrap_replicates(MarkovAttribution(1), data,
                                                                               n_boot=10, seed=0), repeats=1)

    m = MarkovAttribution(1).fit(table)
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, date {time.strftime('%Y-%m-%d')}, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"input: {n:,} paths, {len(data.tokens):,} touches, 12 channels; conversion probability "
          f"{m.conversion_probability_:.6f}")
    print()
    print("| step | wall s (median) | wall s (best) | CPU s (median) |")
    print("|---|---:|---:|---:|")
    for label, med, best, cpu in rows:
        print(f"| {label} | {med:.2f} | {best:.2f} | {cpu:.2f} |")
    e2e = rows[1]
    print()
    print(f"target <= 2 s end to end: median {e2e[1]:.2f} s wall, {e2e[3]:.2f} s CPU -> "
          f"{'met' if e2e[1] <= 2.0 else 'NOT met on wall time (see the load average)'}")


if __name__ == "__main__":
    main()
