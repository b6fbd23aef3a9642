"""Erase customers from the run folders under a reports root (``crm-research forget``).

A customer who asks to be forgotten (GDPR art. 17, CCPA deletion) is in the run folders only
as a pseudonym (``c_…``, a keyed hash of their id with the engagement's key): in per-customer
tables and lists (``tables/*.csv``, and the ``*.reidentified.csv`` a consultant made), in the
analyst's reports and executed notebooks (the first rows of a list), in comparisons written under
the root, and in any Parquet snapshot. Run folders keep no copy of the validated data, so there
is nothing else to erase.

:func:`forget` computes the pseudonyms of the given ids with the key, then, for every file
under the root that holds one:

* CSV and Markdown/text files: the records (lines) holding it are removed;
* Parquet files: the rows holding it are removed;
* HTML reports and executed notebooks are **redacted**, not regenerated (regenerating would
  render them with today's code): every table row (``<tr>``) and text line that holds the
  pseudonym is removed, any other mention becomes ``[erased]``; a PDF printed from a redacted
  report is printed again when Chromium is installed, else deleted (the HTML stays);
* JSON files: any mention becomes ``[erased]`` (manifests and metadata hold no ids).

Every file is first rewritten in memory and checked to hold no pseudonym; a file of another
kind that holds one (an image, an archive) stops the command before anything is written. Each
file is then replaced atomically (temporary file + ``os.replace``), and each touched run's
manifest records the erasure (date, customers found, rows removed per file; never an id or a
pseudonym), and its index is written again. Aggregate tables (counts, shares, model
parameters) are not recomputed: they describe no one.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from crm_research import paths, privacy
from crm_research.errors import CRMError

__all__ = ["forget", "Erasure", "read_ids", "ERASED", "run_folders"]

ERASED = "[erased]"
"""What a mention of an erased pseudonym outside a table row becomes."""

_TEXT_LINES = (".csv", ".md", ".txt", ".tsv")
_TR = re.compile(r"<tr\b.*?</tr>", re.S | re.I)


@dataclass
class Erasure:
    """What :func:`forget` changed.

    Attributes
    ----------
    files : dict of Path to int
        Every file rewritten (or deleted: a stale PDF) and the rows (records, table rows, lines)
        removed from it.
    runs : dict of Path to dict
        Per touched run folder, what its manifest recorded.
    other_keys : list of Path
        Run folders made with another key than the one(s) used: not searched; run ``forget``
        again with their key.
    deleted : list of Path
        PDFs deleted because their report was redacted and could not be printed again (no
        Chromium, or it failed).
    reprinted : list of Path
        PDFs printed again from their redacted report.
    searched : int
        Files searched.
    """

    files: dict[Path, int] = field(default_factory=dict)
    runs: dict[Path, dict] = field(default_factory=dict)
    other_keys: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    reprinted: list[Path] = field(default_factory=list)
    searched: int = 0

    @property
    def rows_removed(self) -> int:
        return sum(self.files.values())

    def lines(self, root: Path) -> list[str]:
        """What changed, one line per file, for the terminal (paths relative to ``root``)."""
        out = [f"{_rel(p, root)}: {n:,} row{'s' if n != 1 else ''} removed" for p, n in self.files.items()]
        out += [f"{_rel(p, root)}: deleted (its report was redacted; print it again with Chromium installed)"
                for p in self.deleted]
        out += [f"{_rel(p, root)}: printed again from its redacted report" for p in self.reprinted]
        out += [f"{_rel(p, root)}: made with another key, not searched: run forget again with its --key"
                for p in self.other_keys]
        return out


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


def read_ids(path: str | os.PathLike) -> list[str]:
    """The customer ids of a file: a CSV with a ``customer_id`` column, else one id per line.

    Raises
    ------
    CRMError
        The file cannot be read or holds no id.
    """
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CRMError(f"--ids-file {p}: {exc.strerror or exc}: give a file of customer ids, one per line") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and "customer_id" in [c.strip().strip('"') for c in lines[0].split(",")]:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        ids = [v.strip() for v in frame["customer_id"] if v.strip()]
    else:
        ids = lines
    if not ids:
        raise CRMError(f"--ids-file {p} holds no customer id: one id per line, or a CSV with a customer_id column")
    return ids


def _read_manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_folders(root: Path) -> list[Path]:
    """Every folder under ``root`` (``root`` included) holding a ``manifest.json``, sorted."""
    found = [p.parent for p in root.rglob("manifest.json") if not any(x.startswith(".") for x in p.relative_to(root).parts)]
    if (root / "manifest.json").exists() and root not in found:
        found.append(root)
    return sorted(set(found))


def _keys(folders: list[Path], key_name: str | None) -> tuple[dict[str, str | bytes], dict[Path, str | None]]:
    """The keys to search with, by fingerprint, and each run's recorded fingerprint."""
    recorded = {f: ((_read_manifest(f) or {}).get("pseudonym_key") or {}) for f in folders}
    env = os.environ.get(privacy.ENV_KEY)
    keys: dict[str, str | bytes] = {}
    if env:
        keys[privacy.fingerprint(env)] = env
    elif key_name is not None:
        k = privacy.load_key(key_name, create=False)
        keys[privacy.fingerprint(k)] = k
    else:
        names = sorted({str(r.get("name")) for r in recorded.values() if r.get("name")})
        if not names:
            raise CRMError("no key to pseudonymise the ids with: pass --key NAME (the engagement's key) or set "
                           f"${privacy.ENV_KEY}")
        for name in names:
            k = privacy.load_key(name, create=False)
            keys[privacy.fingerprint(k)] = k
    return keys, {f: r.get("fingerprint") for f, r in recorded.items()}


def _atomic_temp(path: Path) -> bool:
    """A temporary file of an atomic write in progress (``.name.XXXX.tmp``): not a file to search."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _records(text: str) -> list[str]:
    """The records of a CSV text, each with its line ends (a quoted field may span lines)."""
    out, buf, quotes = [], [], 0
    for line in text.splitlines(keepends=True):
        buf.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            out.append("".join(buf))
            buf, quotes = [], 0
    if buf:
        out.append("".join(buf))
    return out


_BREAK = "(?:<wbr\\s*/?>|&shy;|&#173;|\u00ad|\u200b)*"
"""What a report may put inside a long word so that it wraps (``<wbr>`` in client tables): a
pseudonym is found, and erased, with or without them."""


@functools.lru_cache(maxsize=64)
def _pattern(tokens: frozenset[str]) -> re.Pattern:
    words = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(_BREAK.join(re.escape(ch) for ch in w) for w in words))


def _has(text: str, tokens: Iterable[str]) -> bool:
    tokens = frozenset(tokens)
    return bool(tokens) and _pattern(tokens).search(text) is not None


def _drop_lines(text: str, tokens: set[str], csv: bool) -> tuple[str, int]:
    parts = _records(text) if csv else text.splitlines(keepends=True)
    kept = [r for r in parts if not _has(r, tokens)]
    return "".join(kept), len(parts) - len(kept)


def _redact_html(text: str, tokens: set[str]) -> tuple[str, int]:
    n = 0

    def row(m: re.Match) -> str:
        nonlocal n
        if _has(m.group(0), tokens):
            n += 1
            return ""
        return m.group(0)

    out = _TR.sub(row, text)
    return _replace(out, tokens), n


def _replace(text: str, tokens: set[str]) -> str:
    return _pattern(frozenset(tokens)).sub(ERASED, text) if tokens else text


def _redact_notebook(text: str, tokens: set[str]) -> tuple[str, int]:
    nb = json.loads(text)
    n = 0

    def fix(value, html: bool):
        nonlocal n
        joined = "".join(value) if isinstance(value, list) else str(value)
        if not _has(joined, tokens):
            return value
        if html:
            new, k = _redact_html(joined, tokens)
        else:
            new, k = _drop_lines(joined, tokens, csv=False)
            new = _replace(new, tokens)
        n += k
        return new.splitlines(keepends=True) if isinstance(value, list) else new

    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if "text" in out:
                out["text"] = fix(out["text"], html=False)
            for mime, value in (out.get("data") or {}).items():
                if mime == "text/html":
                    out["data"][mime] = fix(value, html=True)
                elif mime.startswith("text/") or mime in ("application/json",):
                    out["data"][mime] = fix(value, html=False)
        if "source" in cell:
            cell["source"] = fix(cell["source"], html=False)
    body = json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    return _replace(body, tokens), n


def _parquet(path: Path, tokens: set[str]) -> tuple[bytes, int, set[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    # every stored column, the pandas index among them (an id kept as the index is a column here)
    frame = table.to_pandas(ignore_metadata=True)
    hit = pd.Series(False, index=frame.index)
    found: set[str] = set()
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            values = frame[col].astype("string")
            mask = values.isin(tokens).fillna(False)
            found |= set(values[mask].astype(str))
            hit |= mask
    kept = table.filter(pa.array(~hit.to_numpy()))  # same schema and metadata, fewer rows
    sink = io.BytesIO()
    pq.write_table(kept, sink)
    return sink.getvalue(), int(hit.sum()), found


def _rewrite(path: Path, raw: bytes, tokens: set[str]) -> tuple[bytes, int]:
    """The file without the pseudonyms, and the rows removed (raises for a kind it cannot rewrite)."""
    suffix = path.suffix.lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or suffix not in (*_TEXT_LINES, ".html", ".htm", ".ipynb", ".json"):
        raise CRMError(f"{path} holds a pseudonym to erase and is not a file forget can rewrite (CSV, Parquet, "
                       "HTML, notebook, JSON, Markdown, text): delete it, then run forget again; nothing was changed")
    if suffix in _TEXT_LINES:
        new, n = _drop_lines(text, tokens, csv=suffix in (".csv", ".tsv"))
        new = _replace(new, tokens)
    elif suffix in (".html", ".htm"):
        new, n = _redact_html(text, tokens)
    elif suffix == ".ipynb":
        try:
            new, n = _redact_notebook(text, tokens)
        except ValueError:
            new, n = _drop_lines(text, tokens, csv=False)
    else:
        new, n = _replace(text, tokens), 0
    return new.encode("utf-8"), n


def forget(ids: Iterable[str], reports: str | os.PathLike, *, key: str | None = None,
           today: str | None = None) -> Erasure:
    """Remove customers from every run folder (and comparison) under ``reports``.

    Parameters
    ----------
    ids : iterable of str
        The client's customer ids, as in their data.
    reports : path-like
        The folder that holds the run folders (``reports/``), or one run folder.
    key : str, optional
        Name of the engagement's key. Default: ``$CRM_RESEARCH_PSEUDO_KEY``, else the key names
        the run folders' manifests recorded. Never created: a key missing on this machine is
        an error.
    today : str, optional
        Date of the erasure recorded in the manifests (default: today, ``YYYY-MM-DD``).

    Returns
    -------
    Erasure
        The files changed with the rows removed, and what each touched manifest recorded.

    Raises
    ------
    CRMError
        No ids; ``reports`` is not a folder; no key, or a key not on this machine; a run still
        running; a file holding a pseudonym that cannot be rewritten. Raised before any file
        is changed.
    """
    wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
    if not wanted:
        raise CRMError("no customer id to forget: give ids (crm-research forget C0001 C0002) or --ids-file FILE")
    root = Path(reports).expanduser()
    if not root.is_dir():
        raise CRMError(f"--reports {root}: no such folder: give the folder that holds the run folders (e.g. reports/)")
    root = root.resolve()
    folders = run_folders(root)
    for f in folders:
        from crm_research.run.lifecycle import run_state

        if run_state(_read_manifest(f))[0] == "running":
            raise CRMError(f"run {f.name} is still running: wait for it to end, then run forget again; nothing was changed")
    keys, recorded = _keys(folders, key)
    result = Erasure(other_keys=[f for f, fp in recorded.items() if fp and fp not in keys])
    tokens: dict[str, str] = {}  # pseudonym -> index of the id (to count customers per run)
    series = pd.Series(wanted, name="customer_id", dtype="string")
    for k in keys.values():
        for i, p in enumerate(privacy.pseudonymise(series, key=k)):
            tokens[str(p)] = str(i)
    needles = set(tokens)
    raw_needles = [t.encode() for t in needles]

    plan: dict[Path, tuple[bytes, int, set[str]]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if _atomic_temp(path) or path.suffix.lower() == ".pdf":  # hidden folders too: .ipynb_checkpoints
            continue
        result.searched += 1
        raw = path.read_bytes()
        if path.suffix.lower() == ".parquet":  # compressed pages: look at the values
            try:
                new, n, found = _parquet(path, needles)
            except Exception:  # noqa: BLE001 - compressed pages cannot be searched without reading them
                raise CRMError(f"{path} cannot be read as a table, so forget cannot tell whether it holds a "
                               "customer to erase: delete it (or repair it), then run forget again; nothing was "
                               "changed") from None
            if n:
                plan[path] = (new, n, found)
            continue
        text = raw.decode("utf-8", errors="ignore")  # a pseudonym may be split by <wbr> in a report
        found = {t for t in needles if _has(text, (t,))}
        if not found:
            continue
        new, n = _rewrite(path, raw, needles)
        if _has(new.decode("utf-8", errors="ignore"), needles) or any(b in new for b in raw_needles):
            raise CRMError(f"{path}: a pseudonym would remain after rewriting it; nothing was changed")
        plan[path] = (new, n, found)

    def owner(p: Path) -> Path | None:
        for up in p.parents:
            if up in recorded:
                return up
            if up == root.parent:
                break
        return None

    redacted_reports = {p for p in plan if p.suffix.lower() in (".html", ".htm")}
    for path, (new, n, _found) in plan.items():
        paths.write_atomic(path, new)
        result.files[path] = n
    _refresh_pdfs(redacted_reports, result)

    day = today or datetime.now().astimezone().strftime("%Y-%m-%d")
    touched: dict[Path, dict] = {}
    for path, (_new, n, found) in plan.items():
        run = owner(path)
        if run is None:
            continue
        rec = touched.setdefault(run, {"files": {}, "ids": set()})
        rec["files"][_rel(path, run)] = n
        rec["ids"] |= {tokens[t] for t in found}
    for pdf in result.deleted + result.reprinted:
        run = owner(pdf)
        if run is not None and run in touched:
            touched[run]["files"][_rel(pdf, run)] = "deleted" if pdf in result.deleted else "printed again"
    for run, rec in sorted(touched.items()):
        entry = {"date": day, "customers": len(rec["ids"]) or None,
                 "rows_removed": sum(v for v in rec["files"].values() if isinstance(v, int)),
                 "files": dict(sorted(rec["files"].items())),
                 "method": "rows removed from tables; reports and notebooks redacted"}
        _record_erasure(run, entry)
        result.runs[run] = entry
    return result


def _record_erasure(run: Path, entry: dict) -> None:
    """Append ``entry`` to the run's manifest (its record of processing) and write its index again."""
    manifest = _read_manifest(run)
    if manifest is None:
        return
    record = manifest.get("record_of_processing")
    target = record if isinstance(record, dict) else manifest
    target.setdefault("erasures", []).append(entry)
    paths.write_atomic(run / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")
    if (run / "index.html").exists():
        from crm_research.run.execute import _write_index

        _write_index(run, manifest)


def _refresh_pdfs(reports: set[Path], result: Erasure) -> None:
    """Print again (or delete) the PDF of every redacted HTML report."""
    from crm_research import report

    chromium = report.find_chromium()
    with contextlib.ExitStack() as stack:
        printer = None  # one browser for every PDF, started at the first
        for html_path in sorted(reports):
            pdf = html_path.with_suffix(".pdf")
            if not pdf.exists():
                continue
            if chromium is not None:
                try:
                    if printer is None:
                        printer = stack.enter_context(report.PdfPrinter(chromium))
                    printer.print(html_path, pdf)
                    result.reprinted.append(pdf)
                    continue
                except CRMError:
                    pass
                except OSError:
                    # a full disk, a folder that cannot be written: the browser is not asked
                    # again, and no PDF keeps what was erased (each is deleted, and listed)
                    chromium = None
            pdf.unlink()
            result.deleted.append(pdf)
