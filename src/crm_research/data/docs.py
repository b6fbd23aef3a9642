"""Render the data model as Markdown for ``docs/data-model.md``.

The generated parts of that page sit between ``<!-- BEGIN GENERATED: name -->`` and
``<!-- END GENERATED: name -->`` markers; refresh them after changing the model with::

    python -m crm_research.data.docs docs/data-model.md

A test checks that the committed page matches the model.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from crm_research.data.model import TABLES, Column, Table
from crm_research.data.schemas import CHECK_NAMES

__all__ = ["render_checks", "render_tables", "update_page"]

_KIND_DTYPE = {
    "id": "string",
    "str": "string",
    "float": "float64",
    "int": "int64",
    "datetime": "datetime64[ns, UTC]",
    "date": "datetime64[ns, UTC] (midnight)",
}


def _rules(col: Column) -> str:
    parts = []
    if col.allowed is not None:
        parts.append("one of " + ", ".join(f"`{v}`" for v in col.allowed))
    if col.min_value is not None:
        parts.append(f"≥ {col.min_value:g}")
    if col.max_value is not None:
        parts.append(f"≤ {col.max_value:g}")
    return "; ".join(parts)


def _dtype(col: Column) -> str:
    if col.kind == "int" and col.nullable:
        return "Int64"
    return _KIND_DTYPE[col.kind]


def _table(table: Table) -> str:
    lines = [f"### `{table.name}`{' (required)' if table.required else ''}", "", table.doc, ""]
    facts = []
    if table.time:
        facts.append(f"dated by `{table.time}`")
    if table.key:
        facts.append("key: " + ", ".join(f"`{k}`" for k in table.key))
    for fk in table.foreign_keys:
        facts.append(f"`{fk.column}` → `{fk.ref_table}.{fk.ref_column}`")
    for earlier, later in table.order_checks:
        facts.append(f"`{later}` not before `{earlier}`")
    for column, bound in table.bound_checks:
        facts.append(f"`{column}` ≤ `{bound}`")
    if table.censored:
        facts.append("with `as_of`, missing when on or after it: "
                     + ", ".join(f"`{c}`" for c in table.censored))
    if facts:
        lines += ["Rules: " + "; ".join(facts) + ".", ""]
    lines += [
        "| column | type | dtype | required | nullable | PII | allowed / range | unit | meaning |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for col in table.columns:
        lines.append(
            f"| `{col.name}` | {col.kind} | {_dtype(col)} | {'yes' if col.name in table.core else 'no'} "
            f"| {'yes' if col.nullable else 'no'} | {'**PII**' if col.pii else ''} "
            f"| {_rules(col)} | {col.unit} | {col.doc} |"
        )
    return "\n".join(lines)


def render_tables() -> str:
    """Return the Markdown of every table of the model: rules, then one row per column."""
    return "\n\n".join(_table(t) for t in TABLES.values())


def render_checks() -> str:
    """Return the Markdown table of every check the loader reports."""
    lines = ["| check | what it finds |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in CHECK_NAMES.items()]
    return "\n".join(lines)


_RENDERERS = {"tables": render_tables, "checks": render_checks}


def update_page(text: str) -> str:
    """Return ``text`` with every generated section re-rendered from the model.

    Raises
    ------
    ValueError
        A marker pair of a known section is missing.
    """
    for name, render in _RENDERERS.items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED: {name} -->\n)(?:.*?\n)?(<!-- END GENERATED: {name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"no generated section {name!r} (BEGIN/END GENERATED markers)")
        text = pattern.sub(lambda m, r=render: m.group(1) + r() + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":  # pragma: no cover - maintenance command
    page = Path(sys.argv[1])
    page.write_text(update_page(page.read_text(encoding="utf-8")), encoding="utf-8")
