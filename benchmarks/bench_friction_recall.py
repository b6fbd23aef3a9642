"""Friction scan: recall of planted incidents and false incidents per year of data.

Run on demand:  python benchmarks/bench_friction_recall.py [--seeds 20] [--config NAME ...]

A "real-sized" e-commerce log: the synthetic company with 1,200 contacts over six months
(2024-07-01 .. 2025-01-01, before the company's own planted incident), about 1,000 customers
with visits and 3,600 visits (sessions). One company per seed. Into each, one incident is planted
with :func:`crm_research.synthetic.incidents.plant_incident`:

* size: the step's conversion multiplied by ``factor`` 0.3, 0.5 (a halving) or 0.7;
* length: 1, 2 or 4 weeks, starting on a Monday drawn per seed between weeks 6 and 20;
* group: one platform (mobile; add to cart → checkout, ≈ 15 mobile carts a week at ≈ 0.68) or
  all platforms (checkout → purchase, a payment failure; ≈ 35 checkouts a week at ≈ 0.88).

plus the same number of unplanted companies. Sessions are the paths, weekly periods, platforms
the segments (the notebook's default unit). An incident is *found* when one of the reported
incidents has the planted step, the planted group (for an all-platform incident: all platforms
or any one platform) and a window overlapping the planted weeks. *False incidents* are the
reported incidents of the unplanted companies, per year of data (the six months count 0.5 year).
*Tail incidents* start in the last week of the data.

The customers-as-unit check (``--unit customer``) repeats the unplanted runs with customers as
the paths, without the conversion window (old behaviour: ``step_window`` of 10 years, nothing
left out) and with it, and counts the runs with an incident in the last week.

``--config`` picks scan variants (``CONFIGS``) to compare; every variant sees the same logs.

Output: markdown tables on stdout (paste into benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from crm_research import synthetic
from crm_research.journey.friction import friction_cells
from crm_research.journey.friction_scan import FrictionScan
from crm_research.synthetic.config import CompanyConfig
from crm_research.synthetic.incidents import plant_incident

STEPS = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]
START, END = "2024-07-01", "2025-01-01"
YEARS = 0.5
N_CONTACTS = 1_200
FACTORS = (0.3, 0.5, 0.7)
WEEKS = (1, 2, 4)
SCOPES = {"one platform": ("add_to_cart", "checkout_start", {"platform": "mobile"}),
          "all platforms": ("checkout_start", "purchase", None)}
CONFIGS = {
    "default": {},
    "overdispersion": {"overdispersion": True},
    "no-overdispersion": {"overdispersion": False},
    "no-detrend": {"detrend": False},
    "neither": {"detrend": False, "overdispersion": False},
    "max_window=4": {"max_window": 4},
    "max_window=8": {"max_window": 8},
    "min_n=5": {"min_n": 5},
    "min_n=20": {"min_n": 20},
    "alpha=0.10": {"alpha": 0.10},
}


def company(seed: int) -> pd.DataFrame:
    tables, _, _ = synthetic.generate(N_CONTACTS, seed, CompanyConfig(start=START, end=END))
    return tables["events"]


def start_of(seed: int) -> pd.Timestamp:
    week = int(np.random.default_rng([seed, 99]).integers(6, 21))
    return pd.Timestamp(START, tz="UTC") + pd.Timedelta(weeks=week)  # 2024-07-01 is a Monday


def found(inc: pd.DataFrame, step_to: str, segment, start, end) -> bool:
    m = inc[(inc["to_step"] == step_to) & (inc["period_start"] < end) & (inc["period_end"] > start)]
    if segment is not None:
        (col, val), = segment.items()
        m = m[(m["segment_col"] == col) & (m["segment_value"] == val)]
    return len(m) > 0


def run(seeds: int, configs: list[str], unit: str) -> None:
    scans = {c: FrictionScan(seed=0, **CONFIGS[c]) for c in configs}
    hits = {c: {} for c in configs}
    false = {c: [] for c in configs}
    tail = {c: 0 for c in configs}
    end = pd.Timestamp(END, tz="UTC")
    t0 = time.time()
    for s in range(seeds):
        ev = company(1000 + s)
        cells = friction_cells(ev, STEPS, segments=["platform"], period="W", as_of=END)
        for c, sc in scans.items():
            inc = sc.fit(cells, "W").incidents_
            false[c].append(len(inc))
            tail[c] += int((inc["period_start"] >= end - pd.Timedelta(weeks=1)).sum())
        for scope, (a, b, seg) in SCOPES.items():
            for f in FACTORS:
                for w in WEEKS:
                    st = start_of(s)
                    en = st + pd.Timedelta(weeks=w)
                    planted, _ = plant_incident(ev, a, b, st, en, f, seg, seed=s)
                    pc = friction_cells(planted, STEPS, segments=["platform"], period="W", as_of=END)
                    for c, sc in scans.items():
                        inc = sc.fit(pc, "W").incidents_
                        hits[c].setdefault((scope, f, w), []).append(found(inc, b, seg, st, en))
                        tail[c] += int((inc["period_start"] >= end - pd.Timedelta(weeks=1)).sum())
        print(f"seed {s + 1}/{seeds} done, {time.time() - t0:.0f} s", file=sys.stderr)
    for c in configs:
        print(f"\n### {c} ({scans[c]!r})\n")
        print("| incident | factor | 1 week | 2 weeks | 4 weeks |\n|---|---|---|---|---|")
        for scope in SCOPES:
            for f in FACTORS:
                cells_ = [np.mean(hits[c][(scope, f, w)]) for w in WEEKS]
                print(f"| {scope} | {f} | " + " | ".join(f"{v:.2f}" for v in cells_) + " |")
        fa = np.array(false[c])
        print(f"\nunplanted companies: {fa.sum()} incident(s) in {len(fa)} runs = "
              f"{fa.sum() / (len(fa) * YEARS):.2f} false incidents per year of data; "
              f"{(fa > 0).mean():.2f} of the runs with any; tail incidents (all runs): {tail[c]}")


def run_customers(seeds: int) -> None:
    """Customers as the unit: the last week's 'incident' without, and with, the conversion window."""
    end = pd.Timestamp(END, tz="UTC")
    rows = []
    for s in range(seeds):
        ev = company(1000 + s)
        # without: every conversion counts however late, nothing is left out (as_of far away)
        for label, kw in (("no conversion window", {"step_window": "3650D", "as_of": "2100-01-01"}),
                          ("conversion window", {"as_of": END})):
            cells = friction_cells(ev, STEPS, path_col="customer_id", segments=["platform"], period="W",
                                   **kw)
            inc = FrictionScan(seed=0).fit(cells, "W").incidents_
            last = inc[inc["period_end"] >= end]
            rows.append({"seed": s, "method": label, "incidents": len(inc), "in_last_week": len(last),
                         "left_out": int(cells.loc[cells["segment_col"] == "(all)", "n_left_out"].sum()),
                         "example": (f"{last.iloc[0]['step']} {last.iloc[0]['conversion_during']:.2f} vs "
                                     f"{last.iloc[0]['conversion_baseline']:.2f}") if len(last) else ""})
        print(f"seed {s + 1}/{seeds} done", file=sys.stderr)
    df = pd.DataFrame(rows)
    g = df.groupby("method").agg(runs=("seed", "size"), incidents=("incidents", "sum"),
                                 runs_with_last_week_incident=("in_last_week", lambda v: int((v > 0).sum())),
                                 left_out_per_run=("left_out", "mean"))
    print("| method | runs | incidents | runs with an incident in the last week | paths left out per run |")
    print("|---|---:|---:|---:|---:|")
    for m, r in g.iterrows():
        print(f"| {m} | {r['runs']} | {r['incidents']} | {r['runs_with_last_week_incident']} | "
              f"{r['left_out_per_run']:.0f} |")
    ex = df[df["example"] != ""]
    if len(ex):
        print("\nexamples:", "; ".join(ex["method"] + ": " + ex["example"]).replace("\n", " ")[:600])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--config", nargs="*", default=["default"], choices=list(CONFIGS))
    ap.add_argument("--unit", choices=["session", "customer"], default="session")
    a = ap.parse_args()
    if a.unit == "customer":
        run_customers(a.seeds)
    else:
        run(a.seeds, a.config, a.unit)


if __name__ == "__main__":
    main()
