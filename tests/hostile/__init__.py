"""A hostile company: the small synthetic company with attacks planted in every text column.

What a careless or malicious export can hold, as text values a client's system accepted:
HTML and script (``<script>``, ``<img onerror>``, ``"><svg onload>``), ``javascript:`` links,
Markdown that opens a link or shows a remote image, spreadsheet formulas (``=1+1``,
``=HYPERLINK(...)``, ``+cmd``, ``-2+3``, ``@SUM(1)``), a 5,000-character value and right-to-left
override and zero-width characters. Each distinct value of every free-text column becomes
``<payload> <original value>``, so the groups, joins and planted effects of the company are
those of the clean one (the same customers, orders and amounts), only their names are hostile;
the payloads rotate across columns so that each column holds several of them and every payload
is in several columns. Values the loader checks (ids that are keys, ``orders.channel``,
``platform``, ``status``) and the identifiers the notebooks' parameters name (the A/B test's
campaigns and promotion code) keep their values; event names the funnel and the stage map use
keep theirs too, and one extra event per payload (an unknown event name) is added for a few
contacts instead. ``truth.json`` is rewritten with the same names, so the planted-truth sections
still run.

``build(..., twin=True)`` writes the hostile company's harmless twin: every payload replaced by
as many ``x`` (``X`` for a capital, ``0`` for a digit, spaces kept), so its names are exactly as long. A report of the hostile company
must look like the twin's (the same pages): longer names alone lengthen tables of paths, which
says nothing about markup.

Build one by hand for a look::

    .venv/bin/python tests/hostile/__init__.py /tmp/hostile     # /tmp/hostile/{clean,hostile,twin}
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

LONG = "A" * 2500 + "\u202e" + "B" * 2499
"""A 5,000-character value without a space (with a right-to-left override in its middle)."""

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "[click](javascript:alert(1))",
    "![x](http://evil/x.png)",
    "=1+1",
    '=HYPERLINK("http://evil","p")',
    "+cmd",
    "@SUM(1)",
    "-2+3",
    LONG,
    "\u202eevil\u200b",
)
"""What is planted: each value becomes ``payload + " " + value``."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

KEEP = {
    ("campaigns", "campaign_id"): {"ab_subject_control", "ab_subject_variant"},
    ("events", "campaign_id"): {"ab_subject_control", "ab_subject_variant"},
    ("ad_spend", "campaign_id"): {"ab_subject_control", "ab_subject_variant"},
    ("orders", "promo_code"): {"AB-SEPT"},
}
"""Values the notebooks' default parameters name (the A/B test): kept as they are."""

DOMAINS = {
    "channel": [("customers", "acquisition_channel"), ("events", "channel"), ("campaigns", "channel")],
    "region": [("customers", "region")],
    "category": [("order_items", "category")],
    "product": [("order_items", "product_id")],
    "campaign": [("campaigns", "campaign_id"), ("events", "campaign_id"), ("ad_spend", "campaign_id")],
    "campaign_name": [("campaigns", "name")],
    "promo_code": [("orders", "promo_code")],
    "plan": [("subscriptions", "plan")],
}
"""Free-text columns, grouped where one name must read the same in several tables (a channel of
the events is a channel of the campaigns; a campaign id is a key of three tables)."""

TRUTH_DOMAINS = ("channel", "region", "category", "plan")
"""Names that ``truth.json`` holds (as keys or values) and that are rewritten there too."""

UNTOUCHED = {("orders", "channel"), ("orders", "platform"), ("orders", "status"), ("events", "platform"),
             ("events", "event"), ("customers", "marketing_consent"), ("customers", "do_not_contact")}
"""Text columns left as they are: a closed set of allowed values, or the funnel's and stage map's
event names (extra hostile events are added instead)."""

IDS = {"customer_id", "order_id", "session_id", "ticket_id"}
"""Keys: pseudonymised in every output; kept valid."""

PII = {"name", "email", "phone"}
"""Dropped at load: never reach an output."""


def inert(payload: str) -> str:
    """``payload`` as harmless text of the same length and about the same printed width: a capital
    becomes ``X``, a digit ``0``, a space stays and any other character becomes ``x`` (a 5,000-letter
    run of capitals wraps into as many lines as the twin's ``X``; ``x`` would take a third fewer)."""
    return "".join(" " if ch == " " else "X" if ch.isupper() else "0" if ch.isdigit() else "x" for ch in payload)


def hostile_value(value: str, i: int, inert_twin: bool = False) -> str:
    """The ``i``-th payload (cyclically; its harmless twin with ``inert_twin``) in front of ``value``."""
    payload = PAYLOADS[i % len(PAYLOADS)]
    return f"{inert(payload) if inert_twin else payload} {value}"


def read_frames(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of a synthetic company folder (``<table>.parquet``), by name."""
    return {p.stem: pd.read_parquet(p) for p in sorted(Path(folder).glob("*.parquet"))
            if not p.stem.startswith("truth")}


def text_columns(frames: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """Every (table, column) holding text, ids and personal data left out."""
    return [(t, c) for t, df in frames.items() for c in df.columns
            if c not in IDS | PII and not pd.api.types.is_numeric_dtype(df[c])
            and not pd.api.types.is_bool_dtype(df[c]) and not pd.api.types.is_datetime64_any_dtype(df[c])]


def mappings(frames: dict[str, pd.DataFrame], inert_twin: bool = False) -> dict[str, dict[str, str]]:
    """Original → hostile value for each domain of :data:`DOMAINS`; payloads rotate across domains."""
    out, offset = {}, 0
    for domain, columns in DOMAINS.items():
        keep = set().union(*(KEEP.get(tc, set()) for tc in columns))
        values = sorted({v for t, c in columns if t in frames and c in frames[t]
                         for v in frames[t][c].dropna().unique()} - keep)
        out[domain] = {v: hostile_value(v, offset + i, inert_twin) for i, v in enumerate(values)}
        offset += len(values)
    return out


def _rename(value, names: dict[str, str]):
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [_rename(v, names) for v in value]
    if isinstance(value, dict):
        return {_rename(k, names): _rename(v, names) for k, v in value.items()}
    return value


def hostile_events(frames: dict[str, pd.DataFrame], per_payload: int = 3, inert_twin: bool = False) -> pd.DataFrame:
    """Extra events with hostile names: one per payload for ``per_payload`` contacts each, a
    second after the contact signed up (so it is in the first steps of their paths)."""
    customers = frames["customers"].sort_values("customer_id").reset_index(drop=True)
    rows = []
    for j, payload in enumerate(PAYLOADS):
        for k in range(per_payload):
            c = customers.iloc[(j * per_payload + k) * 7 % len(customers)]
            rows.append({"customer_id": c["customer_id"], "occurred_at": c["signup_at"] + pd.Timedelta(seconds=1),
                         "event": f"{inert(payload) if inert_twin else payload} event"})
    extra = pd.DataFrame(rows)
    events = frames["events"]
    extra = extra.reindex(columns=events.columns)
    for col in events.columns:
        extra[col] = extra[col].astype(events[col].dtype)
    return extra


def build(company: str | Path, out: str | Path, *, twin: bool = False) -> Path:
    """Write the hostile copy of the synthetic company ``company`` into the new folder ``out``
    (with ``twin``, its harmless twin: the same names, each payload replaced by as many ``x``/``X``).

    Parquet files, as the synthetic company (what matters is what the values are, not how the
    file quotes them; the loader's CSV reading is tested elsewhere), with ``truth.json``
    rewritten and ``truth_customers.parquet`` copied.

    Returns
    -------
    Path
        ``out``.
    """
    company, out = Path(company), Path(out)
    frames = read_frames(company)
    names = mappings(frames, twin)
    for domain, columns in DOMAINS.items():
        for t, c in columns:
            if t in frames and c in frames[t]:
                s = frames[t][c]
                frames[t][c] = s.map(lambda v, m=names[domain]: m.get(v, v) if isinstance(v, str) else v)
    frames["events"] = (pd.concat([frames["events"], hostile_events(frames, inert_twin=twin)],
                                  ignore_index=True)
                        .sort_values(["occurred_at", "customer_id"], kind="stable").reset_index(drop=True))
    out.mkdir(parents=True, exist_ok=False)
    for name, df in frames.items():
        df.to_parquet(out / f"{name}.parquet", index=False)
    truth_names: dict[str, str] = {}
    for domain in TRUTH_DOMAINS:
        clash = set(truth_names) & set(names[domain])
        assert not clash, f"{domain} shares names with another domain: {clash}"
        truth_names.update(names[domain])
    truth = json.loads((company / "truth.json").read_text(encoding="utf-8"))
    (out / "truth.json").write_text(json.dumps(_rename(truth, truth_names), indent=2, sort_keys=True,
                                               ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.copy2(company / "truth_customers.parquet", out / "truth_customers.parquet")
    # the engagement's settings are data too: client, title, author and labels reach every page
    settings = {"client": hostile_value("Client", 0, twin), "title": hostile_value("Title", 1, twin),
                "author": hostile_value("Author", 2, twin), "currency": {"code": "EUR", "symbol": "€"},
                "labels": {"events": {e: hostile_value(e, i, twin) for i, e in
                                      enumerate(("add_to_cart", "checkout_start", "purchase", "product_view"))},
                           "channels": {c: hostile_value(c, i + 5, twin) for i, c in enumerate(("email", "display"))}}}
    (out / "report.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return out


def planted_columns(folder: str | Path) -> dict[tuple[str, str], set[str]]:
    """Which payloads each text column of a hostile company holds (to check the corpus itself)."""
    frames = read_frames(folder)
    found = {}
    for t, c in text_columns(frames):
        values = frames[t][c].dropna().astype(str)
        found[(t, c)] = {p for p in PAYLOADS if values.str.startswith(p).any()}
    return found


if __name__ == "__main__":  # pragma: no cover - a look by hand
    from crm_research import synthetic

    base = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/hostile")
    clean = synthetic.write(base / "clean", n_customers=800, seed=7)
    print(build(clean, base / "hostile"), build(clean, base / "twin", twin=True))
