"""How long run folders are kept, and deleting the older ones (``crm-research prune``).

Each run records its retention in its manifest (``record_of_processing.retention``: the
engagement's ``keep_runs_days``, default 365 days, and the date after which it may go). A run's
age counts from when it started (the manifest's ``started``; for a folder without a readable
manifest, the time in its name ``run-YYYYmmdd-HHMMSS-…``, else its modification time).
:func:`old_runs` lists the run folders under a reports root older than a given number of days,
or than their own retention when none is given; :func:`delete_runs` deletes them, each first
renamed to a hidden name in the same folder (one atomic step: the run is gone or whole), then
removed. A run still running is never listed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crm_research.errors import CRMError

__all__ = ["RunAge", "run_ages", "old_runs", "delete_runs"]

_NAME_TIME = re.compile(r"run-(\d{8}-\d{6})")


@dataclass(frozen=True)
class RunAge:
    """One run folder, its age and its retention.

    Attributes
    ----------
    folder : Path
    started : datetime
        When the run started (timezone-aware).
    age_days : float
        Days since it started (days).
    keep_days : int or None
        Its recorded retention (days); None when the manifest records none.
    status : str
        The run's status (``ok``, ``failed``, ``running``, ...; ``unknown`` without a manifest).
    """

    folder: Path
    started: datetime
    age_days: float
    keep_days: int | None
    status: str

    def line(self) -> str:
        """``run-… · 412 days old · kept 365 days · ok``."""
        keep = f"kept {self.keep_days} days" if self.keep_days else "no retention recorded"
        return f"{self.folder.name} · {self.age_days:,.0f} days old · {keep} · {self.status}"


def _started(folder: Path, manifest: dict | None) -> datetime:
    text = (manifest or {}).get("started")
    if text:
        try:
            t = datetime.fromisoformat(str(text))
            return t if t.tzinfo else t.astimezone()
        except ValueError:
            pass
    m = _NAME_TIME.match(folder.name)
    if m:
        return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").astimezone()
    return datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC)


def run_ages(reports: str | os.PathLike, now: datetime | None = None) -> list[RunAge]:
    """Every run folder directly under ``reports`` (``run-*`` or holding a ``manifest.json``), oldest first.

    Raises
    ------
    CRMError
        ``reports`` is not a folder.
    """
    root = Path(reports).expanduser()
    if not root.is_dir():
        raise CRMError(f"--reports {root}: no such folder: give the folder that holds the run folders (e.g. reports/)")
    now = now or datetime.now().astimezone()
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / "manifest.json").exists() and not _NAME_TIME.match(folder.name):
            continue
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            manifest = manifest if isinstance(manifest, dict) else None
        except (OSError, ValueError):
            manifest = None
        from crm_research.run.lifecycle import run_state

        state = run_state(manifest)[0]
        started = _started(folder, manifest)
        keep = (((manifest or {}).get("record_of_processing") or {}).get("retention") or {}).get("keep_runs_days")
        out.append(RunAge(folder, started, (now - started).total_seconds() / 86_400,
                          int(keep) if isinstance(keep, int) else None, state))
    return sorted(out, key=lambda r: (r.started, r.folder.name))


def old_runs(reports: str | os.PathLike, older_than: float | None = None, *,
             default_days: int | None = None, now: datetime | None = None) -> list[RunAge]:
    """The run folders older than ``older_than`` days, or than their own recorded retention.

    Parameters
    ----------
    reports : path-like
        The folder holding the run folders.
    older_than : float, optional
        Age limit (days). Default: each run's recorded ``keep_runs_days``, else ``default_days``.
    default_days : int, optional
        Limit for runs that record no retention (None: such runs are never listed).
    now : datetime, optional
        The present (tests).

    Returns
    -------
    list of RunAge
        Oldest first; never a run still running.
    """
    if older_than is not None and not older_than >= 0:
        raise CRMError(f"--older-than {older_than}: give a number of days, 0 or more")
    out = []
    for r in run_ages(reports, now):
        limit = older_than if older_than is not None else (r.keep_days or default_days)
        if limit is not None and r.age_days > limit and r.status != "running":
            out.append(r)
    return out


def delete_runs(runs: list[RunAge]) -> list[Path]:
    """Delete run folders: each renamed to a hidden name first (atomic), then removed.

    Returns
    -------
    list of Path
        The folders deleted.
    """
    done = []
    for r in runs:
        trash = r.folder.with_name(f".deleting-{r.folder.name}-{secrets.token_hex(3)}")
        try:
            os.replace(r.folder, trash)
        except OSError as exc:
            raise CRMError(f"cannot delete {r.folder}: {exc.strerror or exc} ({len(done)} run folders deleted "
                           f"before it)") from None
        shutil.rmtree(trash, ignore_errors=True)
        if trash.exists():
            raise CRMError(f"{r.folder} was only partly deleted: {trash} is left (files it could not remove); "
                           f"delete it by hand ({len(done)} run folders deleted before it)")
        done.append(r.folder)
    return done
