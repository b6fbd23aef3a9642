"""Side by side: our functions against the tools analysts use today, same input, same process.

Run on demand in the reference environment (never the project's):  make bench-reference
or  .bench-venv/bin/python benchmarks/side_by_side.py [--only rfm markov journey mmm] [--repeats N]

The reference tools (benchmarks/reference-requirements.txt) live in their own virtual
environment, ``.bench-venv``, next to crm-research installed from the lock with ``--no-deps -e``:
both run in one Python process, and every pair is timed in alternating rounds (the order of
the tools rotates each round) after one untimed warm-up call each, whose outputs are compared.
Figures are medians of the rounds, wall seconds and this process's CPU seconds (summed over
threads); the 1-minute load average is printed before and after each pair, because the machine
(2 cores) is shared with other work.

Pairs
-----
* **RFM summary** -- ``crm_research.churn.rfm_summary`` (pandas in -> pandas out: its NumPy
  route) vs lifetimes ``summary_data_from_transaction_data`` and pymc-marketing
  ``rfm_summary``, on CDNOW master x 1, x 10, x 100 (``--copies``; ``bench_churn.cdnow_times``:
  new ids per copy, dates jittered by -7..7 days), days, observation end 1998-06-30 inclusive,
  with monetary value. Input types (``--rfm-inputs``; every tool gets the same DataFrame):
  ``int`` = int64 ids and naive ``datetime64[ns]`` dates (the CDNOW file as read); ``model`` =
  the data model's types, what ``data.load`` returns and the notebooks pass: ids as pandas
  ``string`` (Python storage, the decimal text of the int ids) and ``datetime64[ns, UTC]``;
  ``model-shuffled`` = the same rows in a seeded random order (not grouped by customer).
  Asserted: the same customers, ``frequency`` identical, ``recency`` and ``T`` within 1e-6 (also
  reported: largest ``monetary_value`` difference). ``--rfm-engine`` adds our engine route
  (the same call's Ibis expression on the implicit single-threaded DuckDB connection,
  ``summary._rfm_on_engine``), asserted bit-identical to ours.
* **Markov attribution** -- ``MarkovAttribution(order=1).fit`` (exact absorbing-chain solve) vs
  ChannelAttribution ``markov_model(order=1)`` (simulation, its default convergence settings,
  ``ncore=1``, seed = round number) on 1M synthetic paths (``bench_attribution.make_paths``).
  Reported: largest absolute and relative difference of credited conversions and value per
  channel, over the rounds.
* **Journey** -- ``crm_research.journey.transitions`` and ``funnel`` vs retentioneering
  ``Eventstream.transition_graph_data(edge_weight="count")`` and ``funnel_data`` on the
  synthetic company's event log (32,895 contacts, 1,004,353 events), paths = customers.
  Convention shared by both: events of a path in timestamp order, equal timestamps in input
  order (ours: the row order of the DataFrame; retentioneering: its ``index`` column, made by a
  stable multi-key sort of (path, timestamp), i.e. the same order -- the log has 3,371 events
  tied with another of the same customer); transitions include ``start -> first event`` and
  ``last event -> end`` and self-loops; the funnel is closed, greedy earliest match, no window.
  Asserted: every transition count and every step count identical. retentioneering is timed
  both end to end (``Eventstream`` built from the DataFrame, then the call: what ours does
  from a DataFrame) and on a prebuilt stream; ours is also timed with the log already in a
  DuckDB table (explicit connection, all cores, the row number as ``row_col``): the
  counterpart of a prebuilt stream.
* **Marketing mix model** -- ``crm_research.mmm`` (fit with its bootstrap ranges) vs
  pymc-marketing's ``MMM`` (``pymc_marketing.mmm.multidimensional``; geometric adstock, 8 lags,
  logistic saturation, yearly seasonality with 2 Fourier orders, controls; its default NUTS
  sampler) on 3 years x 6 channels of synthetic weekly spend with planted adstock, saturation
  and ROAS, and on pymc-marketing's published example dataset (179 weeks x 2 channels,
  regenerated from its notebook's simulation): ``bench_mmm.run``. pymc-marketing: one fit (a
  sampler run is minutes); ours: median of 3 fits after an untimed one, with Hill (its default)
  and logistic saturation; CPU seconds include child processes. Reported: per-channel contribution
  and ROAS of both with their ranges, whether ours falls in its 94 % HDI, both against the
  planted truth.
"""

from __future__ import annotations

import os

os.environ.setdefault("RETENTIONEERING_NO_TRACK", "1")  # no usage telemetry from retentioneering

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_mmm  # noqa: E402
from bench_attribution import make_paths  # noqa: E402
from bench_churn import AS_OF, OBSERVATION_END, cdnow_times, read_cdnow  # noqa: E402

warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parent / "out"
STEPS = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]
JOURNEY_CONTACTS = 32_895  # about 1M events (30.4 events per contact)
REFERENCE = ["lifetimes", "pymc-marketing", "pymc", "pytensor", "ChannelAttribution", "retentioneering"]
OURS = ["crm-research", "pandas", "numpy", "duckdb", "ibis-framework", "lifelines", "scipy", "pyarrow"]


def alternate(fns: dict, repeats: int) -> dict:
    """Warm-up call of each (its output kept), then ``repeats`` rounds in rotating order."""
    outputs = {name: fn(0) for name, fn in fns.items()}
    names = list(fns)
    walls = {n: [] for n in names}
    cpus = {n: [] for n in names}
    load0 = os.getloadavg()[0]
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            w0, c0 = time.perf_counter(), time.process_time()
            fns[name](r + 1)
            walls[name].append(time.perf_counter() - w0)
            cpus[name].append(time.process_time() - c0)
    load1 = os.getloadavg()[0]
    stats = {n: {"wall": statistics.median(walls[n]), "cpu": statistics.median(cpus[n]),
                 "walls": walls[n], "cpus": cpus[n]} for n in names}
    return {"stats": stats, "outputs": outputs, "load": (load0, load1), "repeats": repeats}


def quiet(fn):
    """Call ``fn`` with stdout silenced (ChannelAttribution prints a banner and progress)."""
    def run(*a, **k):
        with contextlib.redirect_stdout(io.StringIO()):
            return fn(*a, **k)
    return run


# -- (a) RFM summary -------------------------------------------------------------------------------
RFM_INPUTS = {
    "int": "int64 ids, naive datetime64[ns]",
    "model": "string ids, datetime64[ns, UTC]",
    "model-shuffled": "string ids, datetime64[ns, UTC], rows shuffled",
}


def rfm_input(tx: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``cdnow_times`` output in the types of ``kind`` (see ``RFM_INPUTS``)."""
    if kind == "int":
        return tx
    if kind in ("model", "model-shuffled"):
        tx = tx.assign(customer_id=tx["customer_id"].astype(str).astype(pd.StringDtype("python")),
                       date=tx["date"].dt.tz_localize("UTC"))
        if kind == "model":
            return tx
        return tx.iloc[np.random.default_rng(0).permutation(len(tx))].reset_index(drop=True)
    raise ValueError(f"unknown RFM input kind {kind!r}: use one of {sorted(RFM_INPUTS)}")


def pair_rfm(copies: int, repeats: int, base: pd.DataFrame, kind: str = "int", engine: bool = False) -> dict:
    from lifetimes.utils import summary_data_from_transaction_data
    from pymc_marketing.clv import rfm_summary as pymc_rfm

    from crm_research.churn import rfm_summary
    from crm_research.churn import summary as S

    tx = rfm_input(cdnow_times(copies, base=base), kind)
    kw = dict(customer_col="customer_id", date_col="date", value_col="value",
              as_of=AS_OF, time_unit="D", status_col=None)
    fns = {
        "crm-research": lambda r: rfm_summary(tx, **kw),
        "lifetimes": lambda r: summary_data_from_transaction_data(
            tx, "customer_id", "date", monetary_value_col="value",
            observation_period_end=OBSERVATION_END, freq="D"),
        "pymc-marketing": lambda r: pymc_rfm(
            tx, "customer_id", "date", monetary_value_col="value",
            observation_period_end=OBSERVATION_END, time_unit="D"),
    }
    if engine:
        fns["crm-research (engine route, DuckDB 1 thread)"] = lambda r: S._rfm_on_engine(tx, **kw)
    res = alternate(fns, repeats)
    out = res["outputs"]["crm-research"]
    ours = out.set_index("customer_id").sort_index()
    agree = {}
    if engine:
        eng = res["outputs"]["crm-research (engine route, DuckDB 1 thread)"]
        pd.testing.assert_frame_equal(out, eng, check_exact=True)
        agree["engine route"] = "bit-identical"
    for name in ("lifetimes", "pymc-marketing"):
        other = res["outputs"][name]
        if "customer_id" in other.columns:
            other = other.set_index("customer_id")
        other = other.sort_index()
        assert np.array_equal(ours.index.to_numpy(), other.index.to_numpy()), f"{name}: customers differ"
        f_ours = ours["frequency"].to_numpy()
        f_other = other["frequency"].to_numpy()
        assert np.array_equal(f_ours, f_other.astype(np.int64)) and np.all(f_other == np.round(f_other)), \
            f"{name}: frequency differs"
        d = {c: float(np.max(np.abs(ours[c].to_numpy() - other[c].to_numpy())))
             for c in ("recency", "T", "monetary_value")}
        assert d["recency"] <= 1e-6 and d["T"] <= 1e-6, f"{name}: recency/T differ {d}"
        agree[name] = {"customers": len(ours), "frequency_mismatches": int((f_ours != f_other).sum()),
                       **{f"max_abs_diff_{c}": v for c, v in d.items()}}
    res["agreement"] = agree
    res["input"] = {"transactions": len(tx), "customers": len(ours), "copies": copies, "kind": kind,
                    "types": RFM_INPUTS[kind],
                    "dtypes": {c: str(t) for c, t in tx.dtypes.items()}}
    del res["outputs"]
    return res


# -- (b) Markov attribution -------------------------------------------------------------------------
def pair_markov(n_paths: int, repeats: int) -> dict:
    from ChannelAttribution import markov_model

    from crm_research.attribution import MarkovAttribution

    table = make_paths(n_paths)
    ca = quiet(markov_model)
    ca_runs = []

    def theirs(r):
        out = ca(table, "path", "total_conversions", var_value="total_conversion_value",
                 var_null="total_null", order=1, sep=">", seed=r, ncore=1, verbose=False,
                 flg_pro=False)
        ca_runs.append(out)
        return out

    fns = {"crm-research": lambda r: MarkovAttribution(1).fit(table), "ChannelAttribution": theirs}
    res = alternate(fns, repeats)
    ours = res["outputs"]["crm-research"].credits_.set_index("channel")
    rows = []
    for out in ca_runs:  # warm-up (seed 0) and every timed round (seeds 1..repeats)
        o = out.set_index("channel_name").reindex(ours.index)
        dc = (o["total_conversions"] - ours["conversions"]).abs()
        dv = (o["total_conversion_value"] - ours["value"]).abs()
        rows.append({"conv_abs": dc.max(), "conv_rel": (dc / ours["conversions"]).max(),
                     "value_abs": dv.max(), "value_rel": (dv / ours["value"]).max(),
                     "total_conv_diff": abs(o["total_conversions"].sum() - ours["conversions"].sum())})
    dev = pd.DataFrame(rows)
    res["agreement"] = {
        "runs": len(dev),
        "max_abs_conversions": {"median": float(dev.conv_abs.median()), "max": float(dev.conv_abs.max())},
        "max_rel_conversions": {"median": float(dev.conv_rel.median()), "max": float(dev.conv_rel.max())},
        "max_abs_value": {"median": float(dev.value_abs.median()), "max": float(dev.value_abs.max())},
        "max_rel_value": {"median": float(dev.value_rel.median()), "max": float(dev.value_rel.max())},
        "total_conversions_ours": float(ours["conversions"].sum()),
        "channel_conversions_ours": {"min": float(ours["conversions"].min()),
                                     "max": float(ours["conversions"].max())},
    }
    res["input"] = {"paths": n_paths, "touches": int(table["path"].str.count(">").sum() + n_paths),
                    "channels": len(ours)}
    del res["outputs"]
    return res


# -- (c) Journey ------------------------------------------------------------------------------------
def journey_events() -> pd.DataFrame:
    from crm_research import synthetic

    out = OUT / f"company_{JOURNEY_CONTACTS}"
    if not (out / "events.parquet").exists():
        synthetic.write(out, n_customers=JOURNEY_CONTACTS, seed=7)
    return pd.read_parquet(out / "events.parquet", columns=["customer_id", "occurred_at", "event"])


def pair_journey(repeats: int) -> dict:
    from retentioneering import Eventstream

    from crm_research import engine
    from crm_research import journey as J

    ev = journey_events()
    schema = {"path_cols": ["customer_id"], "event_col": "event", "timestamp_col": "occurred_at"}
    stream = Eventstream(ev, schema=schema)

    def build():
        return Eventstream(ev, schema=schema)

    # ours with the log already in the engine (the counterpart of a prebuilt stream): a DuckDB
    # table of an explicit connection (all cores, as retentioneering's), input order as row_col
    con = engine.connect("duckdb")
    table = con.create_table("events", ev.assign(row=np.arange(len(ev), dtype=np.int64)))

    tr = {
        "crm-research": lambda r: J.transitions(ev),
        "crm-research (DuckDB table)": lambda r: engine.collect(J.transitions(table, row_col="row")),
        "retentioneering (build + call)": lambda r: build().transition_graph_data(edge_weight="count"),
        "retentioneering (prebuilt stream)": lambda r: stream.transition_graph_data(edge_weight="count"),
    }
    fu = {
        "crm-research": lambda r: J.funnel(ev, STEPS),
        "crm-research (DuckDB table)": lambda r: engine.collect(J.funnel(table, STEPS, row_col="row")),
        "retentioneering (build + call)": lambda r: build().funnel_data(STEPS),
        "retentioneering (prebuilt stream)": lambda r: stream.funnel_data(STEPS),
    }
    res_t = alternate(tr, repeats)
    res_f = alternate(fu, repeats)

    # transitions: long table of ours vs their square count matrix
    ours = res_t["outputs"]["crm-research"]
    names = {"(start)": "path_start", "(end)": "path_end"}
    ours_c = pd.Series(ours["n"].to_numpy(), index=pd.MultiIndex.from_arrays(
        [ours.from_event.replace(names), ours.to_event.replace(names)]))
    m = res_t["outputs"]["retentioneering (prebuilt stream)"]
    m2 = res_t["outputs"]["retentioneering (build + call)"]
    assert m.equals(m2)
    theirs = m.stack()
    theirs = theirs[theirs != 0]
    idx = ours_c.index.union(theirs.index)
    a = ours_c.reindex(idx, fill_value=0).astype(np.int64)
    b = theirs.reindex(idx, fill_value=0).astype(np.int64)
    assert (a == b).all(), f"transition counts differ: {int((a != b).sum())} pairs"
    assert res_t["outputs"]["crm-research (DuckDB table)"]["n"].equals(ours["n"])
    # funnel: paths reaching each step
    of = res_f["outputs"]["crm-research"]
    tf = [s["unique_paths"] for s in res_f["outputs"]["retentioneering (prebuilt stream)"]["steps"]]
    tf2 = [s["unique_paths"] for s in res_f["outputs"]["retentioneering (build + call)"]["steps"]]
    assert tf == tf2 and of["n"].astype(int).tolist() == tf, f"funnel counts differ {of['n'].tolist()} {tf}"
    assert res_f["outputs"]["crm-research (DuckDB table)"]["n"].astype(int).tolist() == tf
    ties = int(ev.duplicated(["customer_id", "occurred_at"]).sum())
    agreement = {"transition_pairs": len(idx), "transitions": int(a.sum()), "pairs_differing": 0,
                 "funnel_steps": dict(zip(STEPS, tf, strict=True)), "tied_events": ties}
    for r in (res_t, res_f):
        del r["outputs"]
    return {"transitions": res_t, "funnel": res_f, "agreement": agreement,
            "input": {"events": len(ev), "customers": int(ev.customer_id.nunique())}}


# -- (d) Marketing mix model ----------------------------------------------------------------------
def pair_mmm(datasets: list[str], seed: int) -> dict:
    """Ours and pymc-marketing's MMM on each dataset, one fit each (``bench_mmm.run``)."""
    return {name: bench_mmm.run(name, seed) for name in datasets}


def table_mmm(res: dict) -> list[str]:
    lines = []
    for name, r in res.items():
        o, p = r["ours"], r["pymc"]
        s = p["sampler"]
        title = f"MMM, {name} ({r['weeks']} weeks × {len(r['channels'])} channels)"
        lines.append(f"| {title} | crm-research ({o['label']}) | {o['time']['wall']:.3f} | {o['time']['cpu']:.3f} "
                     f"| 1 | 1 | {o['time']['repeats']} | {o['time']['load'][0]:.1f} → {o['time']['load'][1]:.1f} |")
        lines.append(f"| {title} | pymc-marketing (NUTS {s['chains']}×({s['tune']}+{s['draws']})) | "
                     f"{p['time']['wall']:.3f} | {p['time']['cpu']:.3f} | {r['ratio_wall']:.1f} | {r['ratio_cpu']:.1f} "
                     f"| 1 | {p['time']['load'][0]:.1f} → {p['time']['load'][1]:.1f} |")
    return lines


# -- report -----------------------------------------------------------------------------------------
def versions() -> dict:
    out = {}
    for p in OURS + REFERENCE:
        try:
            out[p] = version(p)
        except Exception:  # noqa: BLE001
            out[p] = "not installed"
    return out


def table(title: str, res: dict, ours: str = "crm-research") -> list[str]:
    s = res["stats"]
    base, base_cpu = s[ours]["wall"], s[ours]["cpu"]
    lines = []
    for name, st in s.items():
        ratio = "1" if name == ours else f"{st['wall'] / base:.1f}"
        ratio_cpu = "1" if name == ours else f"{st['cpu'] / base_cpu:.1f}"
        lines.append(f"| {title} | {name} | {st['wall']:.3f} | {st['cpu']:.3f} | {ratio} | {ratio_cpu} | "
                     f"{res['repeats']} | {res['load'][0]:.1f} → {res['load'][1]:.1f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", default=["rfm", "markov", "journey", "mmm"])
    ap.add_argument("--mmm-data", nargs="+", default=["synthetic", "example"], choices=["synthetic", "example"])
    ap.add_argument("--seed", type=int, default=0, help="seed of the MMM data and fits")
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--rfm-inputs", nargs="+", default=["int", "model"], choices=sorted(RFM_INPUTS),
                    help="input types of the RFM pair: int = int64 ids, naive dates; model = the data "
                         "model's string ids and UTC timestamps")
    ap.add_argument("--rfm-engine", action="store_true",
                    help="also time our engine route (DuckDB) and assert it bit-identical")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--paths", type=int, default=1_000_000)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
               "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
               "versions": versions()}
    lines = []
    if "rfm" in args.only:
        base = read_cdnow()
        results["rfm"] = {}
        for kind in args.rfm_inputs:
            for c in args.copies:
                r = pair_rfm(c, args.repeats, base, kind, args.rfm_engine)
                results["rfm"][f"{kind} x{c}"] = r
                n = r["input"]["transactions"]
                lines += table(f"RFM summary, CDNOW × {c} ({n:,} tx; {RFM_INPUTS[kind]})", r)
                print(json.dumps({"rfm": c, "kind": kind, "agreement": r["agreement"]}), file=sys.stderr)
    if "markov" in args.only:
        r = pair_markov(args.paths, args.repeats)
        results["markov"] = r
        lines += table(f"Markov order 1, {args.paths:,} paths", r)
        print(json.dumps({"markov": r["agreement"]}), file=sys.stderr)
    if "journey" in args.only:
        r = pair_journey(args.repeats)
        results["journey"] = r
        n = r["input"]["events"]
        lines += table(f"Transitions, {n:,} events", r["transitions"])
        lines += table(f"Closed funnel (5 steps), {n:,} events", r["funnel"])
        print(json.dumps({"journey": r["agreement"]}), file=sys.stderr)
    if "mmm" in args.only:
        results["mmm_source"] = bench_mmm.mmm_source()
        r = pair_mmm(args.mmm_data, args.seed)
        results["mmm"] = r
        lines += table_mmm(r)
        print(json.dumps({"mmm": {k: v["pymc"]["sampler"] for k, v in r.items()}}), file=sys.stderr)

    (OUT / "side_by_side.json").write_text(json.dumps(results, indent=1, default=str))
    v = results["versions"]
    print(f"machine: {results['machine']}, python {results['python']}, date {results['date']}")
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    print()
    print("| pair | tool | wall s (median) | CPU s (median) | ratio to ours (wall) | ratio (CPU) | "
          "rounds | load avg before → after |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(lines))
    print()
    if "rfm" in results:
        print("RFM agreement (asserted: frequency identical, recency and T within 1e-6):")
        for c, r in results["rfm"].items():
            for name, a in r["agreement"].items():
                if not isinstance(a, dict):
                    print(f"- {c}, {name}: {a}")
                    continue
                print(f"- {c}, {name}: {a['customers']:,} customers, frequency mismatches "
                      f"{a['frequency_mismatches']}, max |Δ| recency {a['max_abs_diff_recency']:.1e}, "
                      f"T {a['max_abs_diff_T']:.1e}, monetary_value {a['max_abs_diff_monetary_value']:.1e}")
    if "markov" in results:
        a = results["markov"]["agreement"]
        print(f"Markov: ChannelAttribution vs exact, over {a['runs']} seeds (median / worst): "
              f"max |Δ| credited conversions per channel {a['max_abs_conversions']['median']:.1f} / "
              f"{a['max_abs_conversions']['max']:.1f} (relative {a['max_rel_conversions']['median']:.2%} / "
              f"{a['max_rel_conversions']['max']:.2%}); value {a['max_abs_value']['median']:.0f} / "
              f"{a['max_abs_value']['max']:.0f} (relative {a['max_rel_value']['median']:.2%} / "
              f"{a['max_rel_value']['max']:.2%}); our per-channel credits "
              f"{a['channel_conversions_ours']['min']:.0f} .. {a['channel_conversions_ours']['max']:.0f}")
    if "journey" in results:
        a = results["journey"]["agreement"]
        print(f"Journey: {a['transition_pairs']} transition pairs, {a['transitions']:,} transitions, "
              f"all counts identical; funnel {a['funnel_steps']} identical; {a['tied_events']:,} tied events")
    if "mmm" in results:
        print(f"crm_research/mmm.py: {results['mmm_source']}")
        for r in results["mmm"].values():
            print()
            print("\n".join(bench_mmm.markdown(r)))


if __name__ == "__main__":
    main()
