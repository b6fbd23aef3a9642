"""The ``crm-research`` command line.

Subcommands: ``synth`` (generate the synthetic company), ``validate`` (check a client export
against the data model), ``run`` (execute notebooks into a run folder), ``compare`` (put two
runs side by side), ``reidentify`` (map a run table's pseudonyms back to the client's ids, on
the consultant's machine), ``forget`` (erase customers from every run folder under a reports
root) and ``prune`` (list, and with confirmation delete, run folders older than their retention). Errors a user can cause (bad arguments, unreadable or unwritable
files, a full disk) print as one clear message, without a traceback, and exit with status 2.
A run in which notebooks failed prints one line per failed notebook and exits with status 1
(the other notebooks still ran; see the run folder's index). SIGINT (Ctrl-C) and SIGTERM stop
any command with one line and status 130 or 143; a run marks its folder interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from crm_research.errors import CRMError, NotebookFailed, ParameterError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crm-research", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate the synthetic CRM company with its ground truth")
    s.add_argument("--customers", type=int, default=10_000, help="number of contacts (leads and buyers)")
    s.add_argument("--seed", type=int, default=42, help="random seed: same seed, identical files")
    s.add_argument("--out", type=Path, required=True, help="output folder (created)")
    s.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="file format")

    v = sub.add_parser("validate", help="check a folder of tables (or a database) against the data model")
    v.add_argument("path", help="folder with one CSV or Parquet file per table, or a database URL: "
                   "postgresql://user@host:port/db?schema=crm or duckdb:///path/file.duckdb "
                   "(password from PGPASSWORD or ~/.pgpass)")
    v.add_argument("--mapping", type=Path, default=None,
                   help="YAML mapping of client columns/events (default: mapping.yaml in the folder, as `run` does)")
    v.add_argument("--as-of", default=None, metavar="DATE",
                   help="analysis date (YYYY-MM-DD), as `run -p as_of DATE`: only data before it counts "
                        "(default: now, the only use of the clock)")
    v.add_argument("--company-start", default=None, metavar="DATE",
                   help="dates before this day (YYYY-MM-DD) are errors")

    r = sub.add_parser("run", help="execute analysis notebooks into a new run folder")
    r.add_argument("notebooks", nargs="*", help="notebooks to run (names or numbers); default all")
    r.add_argument("-f", "--params-file", type=Path, default=None, help="YAML file of parameters")
    r.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override one parameter (repeatable)")
    r.add_argument("--data", default=None, help="data folder or database URL (postgresql://user@host:port/db"
                   "?schema=crm, duckdb:///path/file.duckdb); default: the demo company")
    r.add_argument("--out", type=Path, default=None, help="parent folder of run folders (default: reports/)")
    r.add_argument("--pdf", action="store_true", help="also print each HTML report to PDF (needs Chromium)")
    r.add_argument("-j", "--jobs", type=int, default=None,
                   help="notebooks run at the same time, each in its own kernel (default 2; results do not depend on it)")
    r.add_argument("--fail-fast", action="store_true",
                   help="start no further notebook after one fails (default: run them all, exit 1 if any failed)")
    r.add_argument("--key", default=None, metavar="NAME",
                   help="the client engagement's pseudonymisation key, by name (default: "
                        "$CRM_RESEARCH_KEY_NAME, else 'default'); kept in ~/.config/crm-research/keys/, "
                        "created on first use, never in the run folder")
    r.add_argument("--audience", choices=["client", "analyst"], default="client",
                   help="who reads the reports: 'client' (default: findings first, no code names, method in an "
                        "appendix, long tables cut to their top rows) or 'analyst' (everything, in place)")
    r.add_argument("--engine", default=None, metavar="ENGINE",
                   help="where the notebooks' row-level work runs: 'duckdb' (in-process on the data files, "
                        "memory stays flat), 'spark' (local Spark; 'spark:<master URL>' for a cluster) or "
                        "'pandas' (every table in memory); default: each notebook's own (duckdb)")
    r.add_argument("--memory", default=None, metavar="SIZE",
                   help="DuckDB memory limit of the data check and of each notebook, e.g. 1GB (the default) "
                        "or 512MB; past it DuckDB spills to disk inside the run folder")
    r.add_argument("--settings", type=Path, default=None, metavar="FILE",
                   help="report settings YAML (client name, title, author, date, paper, currency, labels); "
                        "default: report.yaml in the data folder, else the package's defaults")

    c = sub.add_parser("compare", help="what differed between two runs, and what changed in their results")
    c.add_argument("run_a", type=Path, help="the first run folder (A)")
    c.add_argument("run_b", type=Path, help="the second run folder (B)")
    c.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="also write the full comparison: FILE.md or FILE.html (both are written, and "
                        "every row of each table as FILE-tables/<table>.csv), or a folder "
                        "(comparison.md, comparison.html, <table>.csv)")
    c.add_argument("--tolerance", type=float, default=None, metavar="REL",
                   help="relative change below which a value counts as unchanged (default 1e-9; "
                        "0.01 hides changes under 1%%)")
    c.add_argument("--allow-incomplete", action="store_true",
                   help="also compare runs that were interrupted, failed, or whose process died")

    i = sub.add_parser("reidentify", help="map the pseudonyms of a run's table back to the client's ids")
    i.add_argument("table", type=Path, help="a table of a run (reports/run-.../tables/NAME.csv)")
    i.add_argument("--key", default=None, metavar="NAME",
                   help="the key's name (default: the one the run recorded)")
    src = i.add_mutually_exclusive_group()
    src.add_argument("--ids", type=Path, default=None,
                     help="CSV of candidate ids (a customer_id/order_id/... column, or one column)")
    src.add_argument("--data", default=None,
                     help="the client's data folder or database URL (default: the run's recorded data)")
    i.add_argument("--out", type=Path, default=None,
                   help="output file (default: NAME.reidentified.csv next to the table)")

    g = sub.add_parser("forget", help="erase customers from every run folder under a reports root")
    g.add_argument("ids", nargs="*", metavar="ID", help="the client's customer ids, as in their data")
    g.add_argument("--ids-file", type=Path, default=None, metavar="FILE",
                   help="a file of ids: one per line, or a CSV with a customer_id column")
    g.add_argument("--reports", type=Path, required=True, metavar="ROOT",
                   help="the folder holding the run folders (e.g. reports/), or one run folder")
    g.add_argument("--key", default=None, metavar="NAME",
                   help="the engagement's key (default: $CRM_RESEARCH_PSEUDO_KEY, else the keys the runs recorded); "
                        "never created")

    q = sub.add_parser("prune", help="list run folders older than their retention and, confirmed, delete them")
    q.add_argument("--reports", type=Path, required=True, metavar="ROOT", help="the folder holding the run folders")
    q.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                   help="age limit in days (default: each run's recorded keep_runs_days, 365 for runs without one)")
    q.add_argument("--yes", action="store_true", help="delete without asking (default: ask, or only list when "
                                                      "not at a terminal)")
    return p


def _cmd_synth(args: argparse.Namespace) -> int:
    from crm_research import synthetic

    t0 = time.perf_counter()
    out = synthetic.write(args.out, n_customers=args.customers, seed=args.seed, fmt=args.format)
    print(f"wrote synthetic company ({args.customers} contacts, seed {args.seed}) to {out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def _lines(value) -> list[str]:
    """Text lines of a loader attribute (``notes``, ``derived``): a string, a list or a mapping."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items()]
    try:
        return [str(v) for v in value if str(v).strip()]
    except TypeError:
        return [str(value)]


def capability_lines(table) -> list[str]:
    """One line per notebook section: ``02 segmentation · Cross-sell and upsell · skip · reason``.

    ``table`` is :func:`crm_research.needs.capabilities`' frame (columns notebook, section,
    title, status, reason).
    """
    out = []
    for row in table.itertuples(index=False):
        nb = str(row.notebook).replace("_", " ", 1)
        reason = "" if row.reason is None or str(row.reason) in ("", "nan", "None") else str(row.reason)
        parts = [nb, str(row.title or row.section), str(row.status)] + ([reason] if reason else [])
        out.append(" · ".join(parts))
    return out


def _check_date(value: str, option: str) -> None:
    from crm_research.exprs import parse_as_of

    try:
        parse_as_of(value)
    except ParameterError:
        raise ParameterError(f"{option} {value!r} is not a date: use YYYY-MM-DD, e.g. 2020-01-01") from None


def _cmd_validate(args: argparse.Namespace) -> int:
    from crm_research import data
    from crm_research.notebook import mapping_file
    from crm_research.run.params import check_as_of

    if args.as_of is not None:
        check_as_of(args.as_of)
    if args.company_start is not None:
        _check_date(args.company_start, "--company-start")
    if not data.is_database_url(args.path):
        args.path = Path(args.path)
    mapping = args.mapping
    if mapping is None and data.is_database_url(args.path):
        mapping = mapping_file(args.path)  # the URL's mapping= option
    elif mapping is None and Path(args.path).is_dir():
        mapping = mapping_file(Path(args.path))
    crm = data.load(args.path, mapping=mapping, as_of=args.as_of, company_start=args.company_start)
    print(f"{args.path}: valid" + (f" (mapping {mapping})" if mapping is not None else "")
          + (f", as of {args.as_of}" if args.as_of is not None else ""))
    for name, frame in crm.tables().items():
        print(f"  {name:<14} {len(frame):>10,} rows")
    extra = {}
    paths_file = data.path_table_file(Path(args.path)) if Path(args.path).is_dir() else None
    if paths_file is not None:  # a client's aggregated path table, read as notebook 04 reads it
        from crm_research.attribution import read_path_table

        extra["paths"] = read_path_table(paths_file)
        print(f"  {'paths':<14} {len(extra['paths']):>10,} rows (path table {paths_file.name})")
    derived = _lines(getattr(crm, "derived", None))
    if derived:
        print("derived by the loader:")
        print("\n".join(f"  {d}" for d in derived))
    notes = _lines(getattr(crm, "notes", None))
    if notes:
        print("notes:")
        print("\n".join(f"  {n}" for n in notes))
    from crm_research import needs

    lines = capability_lines(needs.capabilities(crm, as_of=args.as_of, extra_tables=extra))
    if lines:
        print("what each notebook section can do with this data:")
        print("\n".join(f"  {ln}" for ln in lines))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from crm_research import run

    try:
        folder = run.run_notebooks(
            notebooks=args.notebooks or None,
            params_file=args.params_file,
            overrides=[tuple(p) for p in args.param],
            data_dir=args.data if args.data is None or "://" in args.data else Path(args.data),
            out_dir=args.out,
            pdf=args.pdf,
            progress=lambda msg: print(msg, flush=True),
            jobs=args.jobs,
            fail_fast=args.fail_fast,
            key=args.key,
            audience=args.audience,
            settings_file=args.settings,
            engine=args.engine,
            memory=args.memory,
        )
    except run.RunInterrupted as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except NotebookFailed as exc:
        for line in getattr(exc, "failures", None) or str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        if getattr(exc, "run_dir", None) is not None:
            print(f"run folder: {exc.run_dir}")
        return 1
    print(f"run folder: {folder}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from crm_research import run
    from crm_research.run import compare

    tolerance = compare.REL_TOL if args.tolerance is None else args.tolerance
    text = run.compare_runs(args.run_a, args.run_b, out=args.out, allow_incomplete=args.allow_incomplete,
                            tolerance=tolerance, brief=True)
    print(text.rstrip())
    print()
    if args.out is None:
        print("Every changed row of every table: add --out comparison.md (also writes comparison.html).")
    else:
        md, page, tables = compare.output_paths(args.out)
        print(f"Full comparison: {md} and {page}; every row side by side: {tables}/<table>.csv")
    return 0


def _cmd_reidentify(args: argparse.Namespace) -> int:
    from crm_research.run.reidentify import reidentify_table

    path, stats = reidentify_table(args.table, key=args.key, ids=args.ids, data_dir=args.data, out=args.out)
    found = ", ".join(f"{col} {hit:,} of {n:,}" for col, (hit, n) in stats.items())
    print(f"wrote {path} ({found} pseudonyms mapped back); it holds the client's ids: keep it on "
          f"this machine or give it to the client only")
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    from crm_research.run.erasure import forget, read_ids

    ids = list(args.ids) + (read_ids(args.ids_file) if args.ids_file is not None else [])
    if not ids:
        raise CRMError("forget: give customer ids (crm-research forget C0001 C0002 --reports reports/) "
                       "or --ids-file FILE")
    root = Path(args.reports).expanduser()
    result = forget(ids, root, key=args.key)
    n = len(dict.fromkeys(ids))
    if not result.files and not result.deleted:
        print(f"searched {result.searched:,} files under {root}: no trace of the {n:,} customer"
              f"{'s' if n != 1 else ''} (pseudonymised with the key{'s' if len(result.runs) != 1 else ''} used)")
    else:
        print(f"erased {n:,} customer{'s' if n != 1 else ''}: {result.rows_removed:,} rows removed from "
              f"{len(result.files):,} files in {len(result.runs):,} run folder{'s' if len(result.runs) != 1 else ''} "
              f"under {root}; each manifest records the erasure (date and counts, no id)")
    for line in result.lines(root.resolve()):
        print(f"  {line}")
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from crm_research.run.retention import delete_runs, old_runs
    from crm_research.settings import DEFAULT_KEEP_RUNS_DAYS

    runs = old_runs(args.reports, args.older_than, default_days=DEFAULT_KEEP_RUNS_DAYS)
    limit = f"{args.older_than:g} days" if args.older_than is not None else "their retention (keep_runs_days)"
    if not runs:
        print(f"no run folder under {args.reports} is older than {limit}")
        return 0
    print(f"{len(runs)} run folder{'s' if len(runs) != 1 else ''} under {args.reports} older than {limit}:")
    for r in runs:
        print(f"  {r.line()}")
    if not args.yes:
        if not sys.stdin.isatty():
            print("nothing deleted: add --yes to delete them")
            return 0
        answer = input(f"delete these {len(runs)} run folders? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted")
            return 0
    done = delete_runs(runs)
    print(f"deleted {len(done)} run folder{'s' if len(done) != 1 else ''}")
    return 0


_COMMANDS = {"synth": _cmd_synth, "validate": _cmd_validate, "run": _cmd_run, "compare": _cmd_compare,
             "reidentify": _cmd_reidentify, "forget": _cmd_forget, "prune": _cmd_prune}


class _Terminated(BaseException):
    """SIGTERM outside a run's kernel phase (which handles it itself)."""


def _on_sigterm(_signum, _frame) -> None:
    raise _Terminated()


def _os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    return f"{what}: {exc.filename}" if getattr(exc, "filename", None) else what


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    old = signal.getsignal(signal.SIGTERM) if main_thread else None
    if old is not None and old is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _on_sigterm)
    else:
        old = None
    try:
        return _COMMANDS[args.command](args)
    except CRMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` or a closed pager: stop quietly
        sys.stderr.close()
        return 0
    except OSError as exc:  # a full or read-only disk, a file where a folder should be, ...
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: {args.command} interrupted (SIGINT)", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"error: {args.command} terminated (SIGTERM)", file=sys.stderr)
        return 143
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
