"""Time and peak memory of the notebooks on a large company (issue 20).

Runs ``crm-research run`` on a data folder and samples, every 0.25 s, the resident memory (RSS) of
the runner and of each kernel with everything it started (a Spark JVM included). With ``-j 1``
the notebooks run one after another, so each kernel's peak is one notebook's; with ``-j 2`` (the
runner's default) the summed peak is what the machine needs for the whole run.

    python benchmarks/bench_notebook_memory.py /work/s20/c300k --jobs 1 --engine duckdb
    python benchmarks/bench_notebook_memory.py /work/s20/c1m --jobs 2

Prints one line per notebook (seconds from the manifest, peak GiB of its kernel) and the run's
wall time and summed peak; ``--json FILE`` writes the same figures. Never a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _tree(pid: int, kids: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="data folder")
    ap.add_argument("notebooks", nargs="*", help="notebooks (default all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--engine", default=None, help="run --engine (default: the notebooks' own)")
    ap.add_argument("--memory", default=None, help="run --memory")
    ap.add_argument("--as-of", default="2026-01-01")
    ap.add_argument("--out", default="/tmp/bench_notebook_memory")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)

    exe = Path(sys.executable).with_name("crm-research")
    cmd = [str(exe), "run", *args.notebooks, "--data", args.data, "-p", "as_of", args.as_of,
           "-j", str(args.jobs), "--out", args.out]
    if args.engine:
        cmd += ["--engine", args.engine]
    if args.memory:
        cmd += ["--memory", args.memory]
    t0 = time.perf_counter()
    runner = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started: list[str] = []  # notebooks in the order the runner started them
    lines: list[str] = []

    def read() -> None:
        for line in runner.stdout:
            lines.append(line.rstrip())
            if line.startswith("[") and line.rstrip().endswith("..."):
                started.append(line.split("]", 1)[1].split()[0])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    kernel_of: dict[int, str] = {}
    peak_kernel: dict[str, int] = {}
    peak_runner = peak_total = 0
    while runner.poll() is None:
        kids = _children()
        runner_rss = _rss(runner.pid)
        total = runner_rss
        for k in kids.get(runner.pid, []):
            rss = sum(_rss(p) for p in _tree(k, kids))
            total += rss
            if rss == 0:
                continue
            if k not in kernel_of:
                kernel_of[k] = started[-1] if (args.jobs == 1 and started) else f"kernel {len(kernel_of) + 1}"
            name = kernel_of[k]
            peak_kernel[name] = max(peak_kernel.get(name, 0), rss)
        peak_runner = max(peak_runner, runner_rss)
        peak_total = max(peak_total, total)
        time.sleep(0.25)
    reader.join()
    wall = time.perf_counter() - t0
    run_dirs = sorted(Path(args.out).glob("run-*"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads((run_dirs[-1] / "manifest.json").read_text()) if run_dirs else {}
    gib = 2 ** 30
    result = {"data": args.data, "jobs": args.jobs, "engine": args.engine, "rc": runner.returncode,
              "wall_s": round(wall, 1), "peak_total_gib": round(peak_total / gib, 2),
              "peak_runner_gib": round(peak_runner / gib, 2), "notebooks": {}}
    for m in manifest.get("notebooks", []):
        result["notebooks"][m["name"]] = {"status": m.get("status"), "seconds": m.get("duration_s"),
                                          "peak_gib": round(peak_kernel.get(m["name"], 0) / gib, 2)
                                          if args.jobs == 1 else None}
    for name, r in result["notebooks"].items():
        mem = f"{r['peak_gib']:.2f} GiB" if r["peak_gib"] is not None else "(-j 1 gives per-notebook peaks)"
        print(f"{name:18s} {r['status']:8s} {r['seconds'] or 0:7.1f} s  {mem}")
    if args.jobs != 1:
        print("kernels:", {k: round(v / gib, 2) for k, v in peak_kernel.items()})
    print(f"run: rc {runner.returncode}, {wall:.1f} s wall, peak {peak_total / gib:.2f} GiB summed "
          f"(runner alone {peak_runner / gib:.2f} GiB)")
    if runner.returncode:
        print("\n".join(lines[-8:]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return runner.returncode


if __name__ == "__main__":
    raise SystemExit(main())
