"""Synthetic company: generation time and peak memory at several sizes.

Run on demand:  python benchmarks/bench_synth.py [--sizes 10000 100000 1000000]

Each size runs in a fresh child process so its peak resident memory (ru_maxrss) is its own.
Output: a markdown table on stdout (paste it into benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from crm_research import synthetic
n, out = int(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
synthetic.write(out, n_customers=n, seed=42)
wall = time.perf_counter() - t0
size = sum(p.stat().st_size for p in out.iterdir())
truth = json.loads((out / "truth.json").read_text())
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"n": n, "seconds": wall, "cpu_seconds": ru.ru_utime + ru.ru_stime, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes": size, "counts": truth["counts"]}))
"""


def run(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(Path(tmp) / "co")],
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args()
    rows = run(args.sizes)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"date {time.strftime('%Y-%m-%d')}")
    print()
    print("| contacts | wall s | CPU s | peak RSS (MB) | orders | events | Parquet size (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['counts']['orders']:,} | "
              f"{r['counts']['events']:,} | {r['bytes'] / 2**20:.0f} |")


if __name__ == "__main__":
    main()
