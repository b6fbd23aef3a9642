"""Journey module: transitions, closed funnel and sessions at 1M .. 50M events.

Run on demand:  python benchmarks/bench_journey.py [--events 1e6 1e7 5e7] [--data DIR]

For each size the synthetic company is written to Parquet chunk by chunk (``synthetic.write``,
bounded memory; cached in ``--data``), then every operation runs in a fresh child process so its
peak resident memory (ru_maxrss) is its own:

* ``engine``: the events are read lazily from Parquet through an ibis DuckDB connection (all
  cores, ``memory_limit`` as given, spilling to a temporary folder), with the Parquet row number
  as ``row_col`` (input order breaks timestamp ties, as for pandas), and the lazy expression
  returned by the journey function is executed. Transitions and the funnel return their small
  tables; sessions are consumed by an aggregate over every row (``sum(session_index)``) and,
  with ``--write-sessions``, written back to Parquet.
* ``table`` (sizes up to ``--pandas-max``): the same, with the Parquet file first loaded into
  an in-memory DuckDB table (not timed), i.e. data already in the engine.
* ``pandas`` (sizes up to ``--pandas-max``): the events are a pandas DataFrame in memory and
  the call is pandas in → pandas out on the implicit single-threaded DuckDB connection (the
  default path of the notebooks), including the DataFrame → Arrow hand-over.

Each timing is the best of the first call and ``--repeat`` more runs (ibis expression building
and compilation included); CPU seconds are those of that run, summed over DuckDB's threads.
Output: a markdown table on stdout (paste it into benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

EVENTS_PER_CONTACT = 30.4  # synthetic company, measured (304,896 events for 10,000 contacts)
STEPS = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]

CHILD = r"""
import json, resource, sys, time, os
import ibis
import pandas as pd
from crm_research import journey as J
from crm_research.engine import collect

mode, path, op, repeat, mem, threads, write_sessions = sys.argv[1:8]
repeat = int(repeat)
STEPS = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]

if mode in ("engine", "table"):
    con = ibis.duckdb.connect(threads=int(threads), memory_limit=mem,
                              temp_directory=os.environ.get("BENCH_TMP", "/tmp"))
    # the Parquet row number is the input order (tie-break of equal timestamps, as for pandas)
    ev = con.read_parquet(path, table_name="events", file_row_number=True)
    if mode == "table":  # loaded into a DuckDB table first (not timed)
        ev = con.create_table("events_mem", ev)
    def run():
        if op == "transitions":
            return len(J.transitions(ev, row_col="file_row_number").to_pandas())
        if op == "funnel":
            return len(J.funnel(ev, STEPS, path_col="session_id", row_col="file_row_number").to_pandas())
        if op == "sessions":
            s = J.sessions(ev, "30min")
            return int(s.aggregate(total=s.session_index.sum()).to_pandas()["total"].iloc[0])
        if op == "sessions_write":
            out = os.path.join(os.environ.get("BENCH_TMP", "/tmp"), "sessions_out.parquet")
            con.to_parquet(J.sessions(ev, "30min"), out)
            return os.path.getsize(out)
        raise SystemExit(op)
else:
    ev = pd.read_parquet(path, columns=["customer_id", "occurred_at", "event", "session_id"])
    def run():
        if op == "transitions":
            return len(J.transitions(ev))
        if op == "funnel":
            return len(J.funnel(ev, STEPS, path_col="session_id"))
        if op == "sessions":
            return len(J.sessions(ev, "30min"))
        raise SystemExit(op)

n_rows = None
t0 = time.perf_counter(); c0 = time.process_time()
out = run()
warm = time.perf_counter() - t0
warm_cpu = time.process_time() - c0
times, cpus = [], []
for _ in range(repeat):
    t0 = time.perf_counter(); c0 = time.process_time()
    out = run()
    times.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
i = min(range(len(times)), key=times.__getitem__) if times else None
best, best_cpu = (times[i], cpus[i]) if times else (warm, None)
if warm < best:  # on a loaded machine the first call can be the fastest
    best, best_cpu = warm, warm_cpu
print(json.dumps({"seconds": best, "cpu_seconds": best_cpu,
                  "first_call_seconds": warm, "result": out,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def ensure_data(folder: Path, n_events: float) -> Path:
    """Write (once) a synthetic company with about ``n_events`` events; return events.parquet."""
    from crm_research import synthetic

    n_contacts = max(10, int(round(n_events / EVENTS_PER_CONTACT)))
    out = folder / f"company_{n_contacts}"
    if not (out / "events.parquet").exists():
        t0 = time.perf_counter()
        synthetic.write(out, n_customers=n_contacts, seed=7)
        print(f"# wrote {n_contacts:,} contacts in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out / "events.parquet"


def count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def child(mode: str, path: Path, op: str, repeat: int, mem: str, threads: int, tmp: Path) -> dict:
    env = {**os.environ, "BENCH_TMP": str(tmp)}
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), op, str(repeat), mem,
                           str(threads), "0"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} {op} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, nargs="+", default=[1e6])
    ap.add_argument("--data", type=Path, default=Path("/tmp/crm_bench_journey"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--pandas-max", type=float, default=1.1e7)
    ap.add_argument("--ops", nargs="+", default=["transitions", "funnel", "sessions"])
    ap.add_argument("--write-sessions", action="store_true")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    tmp = args.data / "spill"
    tmp.mkdir(exist_ok=True)
    rows = []
    for n in args.events:
        path = ensure_data(args.data, n)
        n_rows = count_rows(path)
        ops = list(args.ops) + (["sessions_write"] if args.write_sessions else [])
        for op in ops:
            small = n <= args.pandas_max and op != "sessions_write"
            modes = ["engine"] + (["table", "pandas"] if small else [])
            for mode in modes:
                rep = args.repeat if n_rows <= 2e7 else 1
                r = child(mode, path, op, rep, args.memory_limit, args.threads, tmp)
                r.update({"events": n_rows, "op": op, "mode": mode})
                rows.append(r)
                print(json.dumps(r), file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"date {time.strftime('%Y-%m-%d')}, load average at the end {load:.1f}")
    print()
    print("| events | operation | input | wall s (best) | CPU s | first call s | peak RSS (MB) |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        cpu = f"{r['cpu_seconds']:.2f}" if r["cpu_seconds"] is not None else "–"
        print(f"| {r['events']:,} | {r['op']} | {r['mode']} | {r['seconds']:.2f} | {cpu} | "
              f"{r['first_call_seconds']:.2f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
