"""Small text helpers shared by the attribution report modules (:mod:`~crm_research.attribution.report`)."""

from __future__ import annotations

__all__ = ["per_unit"]


def _text(value, **kw) -> str:
    from crm_research.notebook import text

    return text(value, **kw)


def _label(settings, kind: str, value) -> str:
    """A code (channel, campaign) by its label, escaped for Markdown."""
    return _text(settings.label(kind, value))


def per_unit(settings) -> str:
    """What a return is "per": one unit of the currency (``"€1"``), or ``"unit of currency"``
    while the client's currency is not set."""
    return settings.money(1, 0) if settings.currency.known else "unit of currency"
