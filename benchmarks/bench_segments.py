"""Benchmark: RFM on 10M orders / 1M customers on DuckDB; clustering 100k customers.

1. ``segments.rfm`` — orders generated with numpy (seeded; only sizes matter), written to
   Parquet, read as a DuckDB table; ``rfm(...)`` plus collecting the 1M-row result to pandas is
   timed (3 runs, checked bit-identical), then once on a pandas DataFrame for comparison.
   Target: <= 5 s on DuckDB.
2. ``segments.CustomerClusters`` — the synthetic company is generated with enough contacts
   that about 100,000 buyers have >= 3 orders (the clustered population), features are
   computed (timed separately), and ``CustomerClusters().fit`` with its defaults (k in 2..8 by
   silhouette on a 20,000-customer sample, final fit on everyone, 20 bootstrap refits) is
   timed. Target: <= 30 s.
3. Notebook 02's chain on engine tables (``--notebook-data FOLDER``, a Parquet data folder,
   e.g. a 300k-contact company): the folder is read in place on DuckDB as the notebook reads it
   (one thread, 1 GB memory limit) and every step the notebook runs is timed, with the
   process's resident memory after it and its peak so far (what the kernel holds: only
   per-customer and smaller results come to pandas). Measured on 300k contacts (14.5M events,
   946k orders, 166,805 buyers, 91,532 clustered; 2 cores shared with other runs, load 3.5-5):
   load 12 s (0.36 GiB), rfm 1 s, levels 1 s, features 9 s (peak 0.68 GiB; 0.90 GiB before
   its parts were stored in turn), clusters 39 s (15 s fitting + 20 bootstrap refits of
   0.75 s each, measured alone), affinities and tiers 3 s, suggestions with consent and
   category spend 8 s (peak 0.93 GiB), customer table 1 s; the notebook's kernel under the
   runner peaked at 1.0-1.1 GiB (its DuckDB connection may use up to 1 GB of working memory).

Run: ``/work/venv/bin/python benchmarks/bench_segments.py [--orders N] [--customers N]
[--contacts N] [--skip-rfm] [--skip-clusters] [--notebook-data FOLDER [--as-of DATE]]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

START = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_S = 2 * 365 * 86_400
AS_OF = "2026-01-01"


def make_orders(n_customers: int, n_orders: int, seed: int = 0) -> pd.DataFrame:
    """Seeded order log: every customer buys at least once, counts skewed (gamma weights)."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", np.char.zfill(np.arange(n_customers).astype(str), 7)).astype(object)
    weights = rng.gamma(0.8, 1.0, n_customers)
    cust = np.concatenate([np.arange(n_customers),
                           rng.choice(n_customers, n_orders - n_customers, p=weights / weights.sum())])
    t = rng.integers(0, SPAN_S, n_orders)
    return pd.DataFrame({
        "order_id": np.char.add("O", np.char.zfill(np.arange(n_orders).astype(str), 9)).astype(object),
        "customer_id": ids[cust],
        "ordered_at": pd.Series((START + t.astype("timedelta64[s]")).astype("datetime64[us]")).dt.tz_localize("UTC"),
        "amount": np.round(rng.lognormal(4.0, 0.8, n_orders), 2),
        "status": rng.choice(["completed", "cancelled", "returned"], n_orders, p=[0.92, 0.03, 0.05]),
    })


def bench_rfm(n_customers: int, n_orders: int, repeat: int) -> float:
    from crm_research import engine
    from crm_research.segments import rfm

    folder = Path(tempfile.mkdtemp(prefix="bench_segments_"))
    try:
        t0 = time.perf_counter()
        orders = make_orders(n_customers, n_orders)
        orders.to_parquet(folder / "orders.parquet", index=False)
        print(f"generated and wrote {len(orders):,} orders of {n_customers:,} customers in "
              f"{time.perf_counter() - t0:.1f} s")
        con = engine.connect()
        t = con.read_parquet(folder / "orders.parquet")
        walls, cpus, loads, first = [], [], [], None
        for _ in range(repeat):
            loads.append(os.getloadavg()[0])
            t0, c0 = time.perf_counter(), time.process_time()
            out = engine.collect(rfm(t, AS_OF))
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            first = out if first is None else first
            assert out.equals(first), "rfm is not bit-identical between runs"
        print(f"rfm on DuckDB (Parquet) incl. collecting {len(first):,} rows, {repeat} runs: wall "
              + ", ".join(f"{w:.2f}" for w in walls) + " s; CPU (all threads) "
              + ", ".join(f"{c:.2f}" for c in cpus) + " s; load average before each run "
              + ", ".join(f"{x:.1f}" for x in loads) + f" on {os.cpu_count()} cores; runs bit-identical")
        t0 = time.perf_counter()
        out2 = rfm(orders, AS_OF)
        print(f"rfm on a pandas DataFrame (in-process DuckDB): {time.perf_counter() - t0:.2f} s; identical to "
              f"the Parquet run: {out2.equals(first)}")
        print("segment sizes:", first["segment"].value_counts().to_dict())
        best = min(walls)
        print("PASS" if best <= 5 else "FAIL", f"rfm: target <= 5 s on DuckDB; best of {repeat} runs {best:.2f} s")
        return best
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_clusters(n_contacts: int, seed: int) -> float:
    from crm_research import synthetic
    from crm_research.segments import CustomerClusters, features_from_data, persona_table

    t0 = time.perf_counter()
    tables, _, tc = synthetic.generate(n_contacts, seed)
    print(f"generated the synthetic company ({n_contacts:,} contacts, {len(tables['orders']):,} orders, "
          f"{len(tables['events']):,} events) in {time.perf_counter() - t0:.1f} s")
    t0, c0 = time.perf_counter(), time.process_time()
    features = features_from_data(tables, AS_OF)
    print(f"customer_features: {len(features):,} buyers in {time.perf_counter() - t0:.1f} s wall, "
          f"{time.process_time() - c0:.1f} s CPU")
    del tables
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    model = CustomerClusters().fit(features)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(model.labels_)
    t1 = time.perf_counter()
    personas = persona_table(features, model)
    t_p = time.perf_counter() - t1
    from sklearn.metrics import adjusted_rand_score

    lab = model.labels_.merge(tc[["customer_id", "segment"]], on="customer_id")
    print(f"CustomerClusters().fit on {n:,} customers ({len(model.features_)} features): {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU (load average before {load:.1f}); k = {model.k_}; silhouette "
          + ", ".join(f"{k}: {s:.3f}" for k, s in zip(model.selection_["k"], model.selection_["silhouette"],
                                                       strict=True))
          + f"; bootstrap ARI mean {model.stability_['ari'].mean():.3f}; ARI vs planted segments "
          f"{adjusted_rand_score(lab['segment'], lab['cluster']):.3f}; persona table {t_p:.2f} s")
    print(personas[["cluster", "label", "customers", "revenue_share", "churn_rate"]].to_string(index=False))
    print("PASS" if wall <= 30 else "FAIL", f"clustering: target <= 30 s for ~100k customers; {wall:.1f} s "
          f"for {n:,}")
    return wall


def bench_notebook_chain(folder: str, as_of: str, seed: int) -> None:
    import resource

    from crm_research import data, engine, privacy
    from crm_research.engine import collect
    from crm_research.segments import (
        CustomerClusters,
        affinities,
        category_spend,
        customer_levels,
        customer_table,
        features_from_data,
        next_best_offers,
        persona_table,
        product_tiers,
        rfm,
        segment_summary,
        suggestion_list,
        upsell_offers,
    )

    def rss() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30

    clock = [time.perf_counter()]

    def step(name: str) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"{name:<34} {time.perf_counter() - clock[0]:6.1f} s   RSS {rss():.2f} GiB   peak {peak:.2f} GiB")
        clock[0] = time.perf_counter()

    spill = Path(tempfile.mkdtemp(prefix="bench_segments_spill_"))
    try:
        crm = data.load(folder, as_of=as_of, con=engine.open_engine("duckdb", spill_dir=spill))
        step("load (engine tables)")
        scores = collect(rfm(crm.orders, as_of))
        segment_summary(scores)
        step(f"rfm: {len(scores):,} buyers")
        levels = collect(customer_levels(crm.orders, as_of, crm.events, crm.surveys))
        step("customer_levels")
        features = features_from_data(crm, as_of)
        step(f"features: {features.shape[1] - 1} columns")
        model = CustomerClusters(seed=seed).fit(features)
        persona_table(features, model)
        step(f"clusters: k = {model.k_}, {len(model.labels_):,} buyers")
        pairs = collect(affinities(crm.order_items, crm.orders, as_of))
        tiers = collect(product_tiers(crm.order_items, crm.orders, as_of))
        step("affinities, price tiers")
        suggestions = collect(suggestion_list(next_best_offers(crm.order_items, crm.orders, as_of, pairs),
                                              upsell_offers(crm.order_items, crm.orders, as_of, tiers)))
        listed, _ = privacy.contactable(suggestions, crm.customers)
        collect(category_spend(crm.order_items, crm.orders, as_of))
        step(f"suggestions: {len(suggestions):,} rows")
        privacy.contactable(customer_table(scores, levels, model.labels_), crm.customers)
        step("customer table")
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--contacts", type=int, default=520_000,
                    help="synthetic contacts for the clustering run (520k gives ~100k buyers with >= 3 orders)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-rfm", action="store_true")
    ap.add_argument("--skip-clusters", action="store_true")
    ap.add_argument("--notebook-data", metavar="FOLDER", help="a Parquet data folder: time notebook 02's chain "
                    "on its engine tables (the other benchmarks are skipped)")
    ap.add_argument("--as-of", default=AS_OF)
    args = ap.parse_args()
    if args.notebook_data:
        bench_notebook_chain(args.notebook_data, args.as_of, args.seed)
        return
    if not args.skip_rfm:
        bench_rfm(args.customers, args.orders, args.repeat)
    if not args.skip_clusters:
        bench_clusters(args.contacts, args.seed)


if __name__ == "__main__":
    main()
