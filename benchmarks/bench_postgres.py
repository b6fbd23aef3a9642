"""Reading the data where it lives: PostgreSQL and a DuckDB file against the Parquet folder.

Run on demand:  python benchmarks/bench_postgres.py [--sizes 100000 1000000] [--work DIR]

For each size the synthetic company (seed 42) is written as Parquet (kept in ``--work`` and
reused), copied into a throw-away PostgreSQL server (tests/pg_server.py: the machine's
initdb/pg_ctl, a free port, removed afterwards; bulk COPY, not timed in the table) and into a
DuckDB file. Then, each in a fresh child process so its peak resident memory (ru_maxrss) is its
own, from each source:

* ``load``: ``data.load(source, as_of=AS_OF)`` (read, convert, derive, ``as_of``, every check);
* ``validate``: ``crm-research validate SOURCE --as-of AS_OF`` (the load, then what each notebook
  section can do); for PostgreSQL also with the checks in pandas after the fetch (``validate,
  pandas checks``: the loader before the checks ran in the database), and both on a company
  with one planted fault (``faulty``: views over the same tables, its first order repeated), where
  the checks in the database fail before any row is fetched.

Output: a markdown section on stdout (and in ``--out`` when given).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

AS_OF = "2025-06-01"
USER, PASSWORD = "bench_reader", "bench-reader-pw"

CHILD = r"""
import contextlib, io, json, resource, sys, time
what, source, as_of = sys.argv[1], sys.argv[2], sys.argv[3]
if what.endswith("-pandas"):  # the loader before issue 19's push-down: every check after the fetch
    import importlib
    loader = importlib.import_module("crm_research.data.load")  # the module, not data.load the function
    loader._engine_checks = lambda *args, **kwargs: set()
    what = what[:-len("-pandas")]
t0 = time.perf_counter()
if what == "load":
    from crm_research import data
    crm = data.load(source, as_of=as_of)
    rows = sum(len(f) for f in crm.tables().values())
else:
    from crm_research.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", source, "--as-of", as_of])
    assert code == (2 if "faulty" in source else 0), code
    rows = None
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": wall, "cpu_seconds": ru.ru_utime + ru.ru_stime,
                  "peak_rss_mb": ru.ru_maxrss / 1024, "rows": rows}))
"""


def _company(work: Path, n: int) -> Path:
    from crm_research import synthetic

    folder = work / f"company-{n}"
    if not (folder / "truth.json").exists():
        synthetic.write(folder, n_customers=n, seed=42)
    return folder


def _tables(folder: Path) -> list[Path]:
    from crm_research import data

    return [p for p in sorted(folder.glob("*.parquet")) if p.stem in data.TABLES]


def copy_into_postgres(server, folder: Path, database: str) -> float:
    """Bulk-load every table of ``folder`` into ``database``.crm (COPY ... CSV); seconds taken."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from psycopg import sql

    import pg_server

    t0 = time.perf_counter()
    with server.connect(autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    with server.connect(database) as con:
        con.execute("CREATE SCHEMA crm")
        for path in _tables(folder):
            table = pq.read_table(path)
            types = table.slice(0, 0).to_pandas().dtypes
            cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(pg_server._pg_type(t)))
                                      for c, t in types.items())
            con.execute(sql.SQL("CREATE TABLE crm.{} ({})").format(sql.Identifier(path.stem), cols))
            copy = sql.SQL("COPY crm.{} FROM STDIN (FORMAT csv, HEADER false)").format(sql.Identifier(path.stem))
            with con.cursor().copy(copy) as out:
                for batch in table.to_batches(max_chunksize=200_000):
                    buf = io.BytesIO()
                    pacsv.write_csv(pa.Table.from_batches([batch]), buf,
                                    pacsv.WriteOptions(include_header=False))
                    out.write(buf.getvalue())
        con.execute("CREATE SCHEMA faulty")  # the same company with its first order repeated
        for path in _tables(folder):
            extra = (" UNION ALL (SELECT * FROM crm.orders ORDER BY ordered_at, order_id LIMIT 1)"
                     if path.stem == "orders" else "")
            con.execute(f"CREATE VIEW faulty.{path.stem} AS (SELECT * FROM crm.{path.stem}){extra}")
        con.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        for schema in ("crm", "faulty"):
            con.execute(f"GRANT USAGE ON SCHEMA {schema} TO {USER}")
            con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {USER}")
        con.commit()
    with server.connect(database, autocommit=True) as con:
        con.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def copy_into_duckdb(folder: Path, path: Path) -> float:
    import duckdb

    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        for p in _tables(folder):
            con.execute(f"CREATE TABLE {p.stem} AS SELECT * FROM read_parquet(?)", [str(p)])
    return time.perf_counter() - t0


def _measure(what: str, source: str) -> dict:
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    proc = subprocess.run([sys.executable, "-c", CHILD, what, source, AS_OF], capture_output=True, text=True,
                          env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} {source}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run(sizes: list[int], work: Path) -> tuple[list[dict], list[dict]]:
    import pg_server

    work.mkdir(parents=True, exist_ok=True)
    rows, setup = [], []
    server = pg_server.start()
    try:
        for n in sizes:
            folder = _company(work, n)
            database = f"crm{n}"
            pg_s = copy_into_postgres(server, folder, database)
            duck = work / f"company-{n}.duckdb"
            duck_s = copy_into_duckdb(folder, duck)
            setup.append({"n": n, "postgres_copy_s": pg_s, "duckdb_copy_s": duck_s})
            sources = {"Parquet folder": str(folder),
                       "DuckDB file": f"duckdb://{duck}",
                       "PostgreSQL": f"postgresql://{USER}@{server.host}:{server.port}/{database}?schema=crm"}
            pg = sources["PostgreSQL"]
            steps = [(what, label, source) for what in ("load", "validate") for label, source in sources.items()]
            steps += [("validate-pandas", "PostgreSQL", pg),
                      ("validate", "PostgreSQL, faulty", pg.replace("schema=crm", "schema=faulty")),
                      ("validate-pandas", "PostgreSQL, faulty", pg.replace("schema=crm", "schema=faulty"))]
            for what, label, source in steps:
                before = _load_average()
                m = _measure(what, source)
                shown = what.replace("-pandas", ", pandas checks")
                rows.append({"n": n, "what": shown, "source": label, "load": f"{before} → {_load_average()}", **m})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        server.stop()
    return rows, setup


def render(rows: list[dict], setup: list[dict]) -> str:
    lines = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
             f"{platform.python_version()}, date {time.strftime('%Y-%m-%d')}; as_of {AS_OF}", ""]
    lines += ["| contacts | step | source | wall s | CPU s | peak RSS (MB) | rows kept | load average |",
              "|---:|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        kept = f"{r['rows']:,}" if r["rows"] is not None else ""
        lines.append(f"| {r['n']:,} | {r['what']} | {r['source']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {kept} | {r['load']} |")
    lines.append("")
    for s in setup:
        lines.append(f"Setup, not in the table ({s['n']:,} contacts): COPY into PostgreSQL {s['postgres_copy_s']:.1f} s, "
                     f"DuckDB file from Parquet {s['duckdb_copy_s']:.1f} s.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/crm-bench-postgres"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows, setup = run(args.sizes, args.work)
    text = render(rows, setup)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
