"""A throw-away PostgreSQL server for the tests: the machine's ``initdb``/``pg_ctl``, a free port.

:func:`start` initialises a cluster in a new temporary folder, as an unprivileged user (``initdb``
refuses root: under root the server runs as the ``postgres`` user of the Debian package), listens
on 127.0.0.1 with password (SCRAM) authentication, and returns a :class:`Server`; :meth:`Server.stop`
stops it and removes the folder. :func:`unavailable` says in one sentence why no server can be
started (the tests skip with it), or returns None.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ADMIN = "crm_admin"
ADMIN_PASSWORD = "admin-secret-1"


def _binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: on PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _server_user() -> str | None:
    """Who runs the server: the current user, or ``postgres`` when the tests run as root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres" if shutil.which("runuser") else None


def unavailable() -> str | None:
    """Why no PostgreSQL server can be started here, or None when one can."""
    if _binaries() is None:
        return ("no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql package "
                "(.ci/run does)")
    if _server_user() is None:
        return "running as root without a 'postgres' user (and runuser) to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running throw-away server: connect to ``host``:``port`` as :data:`ADMIN`."""

    folder: Path
    bin: Path
    user: str
    port: int
    host: str = "127.0.0.1"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []) + list(args)

    def url(self, user: str, database: str = "crm", **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://{user}@{self.host}:{self.port}/{database}" + (f"?{q}" if q else "")

    def connect(self, database: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=ADMIN, password=ADMIN_PASSWORD,
                               dbname=database, **kwargs)

    def stop(self) -> None:
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                                 "immediate", "-w", "stop"),
                       capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Server:
    """Initialise and start a server in a new temporary folder (see the module docstring).

    Raises
    ------
    RuntimeError
        initdb or pg_ctl failed (the message holds their output).
    """
    bin_, user = _binaries(), _server_user()
    if bin_ is None or user is None:
        raise RuntimeError(unavailable())
    folder = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    owner = pwd.getpwnam(user)
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    pwfile = folder / "pw"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    server = Server(folder, bin_, user, _free_port())
    steps = [
        server._cmd(str(bin_ / "initdb"), "-D", str(folder / "data"), "-U", ADMIN, "--pwfile", str(pwfile),
                    "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
                    "--locale=C", "--no-sync"),
        server._cmd(str(bin_ / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
                    "-t", "30", "-o",
                    f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off", "start"),
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            log = (folder / "log").read_text(errors="replace")[-2000:] if (folder / "log").exists() else ""
            server.stop()
            raise RuntimeError(f"{Path(cmd[-1] if 'initdb' in cmd[0] else 'pg_ctl').name} failed: "
                               f"{done.stderr.strip()[-2000:]} {log}")
    deadline = time.monotonic() + 30
    while True:  # pg_ctl -w waited already; this only guards a slow first connection
        try:
            with server.connect():
                break
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.2)
    return server


_PG_TYPES = {"object": "text", "string": "text", "float64": "double precision", "int64": "bigint",
             "Int64": "bigint", "bool": "boolean"}


def _pg_type(dtype) -> str:
    text = str(dtype)
    if text.startswith("datetime64") and "UTC" in text:
        return "timestamptz"
    if text.startswith("datetime64"):
        return "timestamp"
    return _PG_TYPES[text]


def load_tables(server: Server, tables: dict, database: str = "crm", schema: str = "crm") -> None:
    """Create ``schema`` in ``database`` (created when absent) and COPY each DataFrame into a table."""
    import pandas as pd
    from psycopg import sql

    with server.connect(autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    with server.connect(database) as con:
        con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for name, frame in tables.items():
            cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_pg_type(t)))
                                      for c, t in frame.dtypes.items())
            con.execute(sql.SQL("CREATE TABLE {}.{} ({})").format(sql.Identifier(schema), sql.Identifier(name),
                                                                   cols))
            copy = sql.SQL("COPY {}.{} FROM STDIN").format(sql.Identifier(schema), sql.Identifier(name))
            values = frame.astype(object).where(frame.notna(), None)
            with con.cursor().copy(copy) as out:
                for row in values.itertuples(index=False, name=None):
                    out.write_row([v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row])
        con.commit()



def postgres_server_fixture():
    """Body of the session fixture ``postgres_server`` (registered in conftest.py): a started
    :class:`Server`, stopped and removed after the session; skips with the reason when none can
    be started."""
    import pytest

    why = unavailable()
    if why is not None:
        pytest.skip(why)
    try:
        server = start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no PostgreSQL server could be started: {' '.join(str(exc).split())[:300]}")
    try:
        yield server
    finally:
        server.stop()
