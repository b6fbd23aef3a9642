"""The baseline table from the scans' per-period aggregates: KPI arithmetic in pandas, exact integers.

:func:`assemble` turns the small results of :func:`crm_research.kpi.measure.scan_stats` into the
tidy baseline (value, numerator, denominator, interval, definition per metric and period).
Ratios and cumulative stocks are computed on Python integers; the intervals come from
:mod:`crm_research.stats` (Wilson) and :mod:`crm_research.kpi.intervals` (t, Poisson, NPS).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import accumulate

import numpy as np
import pandas as pd

from crm_research.exprs import parse_as_of
from crm_research.kpi import intervals as ci
from crm_research.kpi import scans
from crm_research.kpi.definitions import ADVOCATE_RULES, METRICS
from crm_research.kpi.tables import BASELINE_COLUMNS
from crm_research.stats import wilson

__all__ = ["assemble"]


def assemble(stats: Mapping[str, pd.DataFrame], as_of, bins: scans.PeriodBins, *,
             periods: int | None = None, conf: float = 0.95, metrics=None,
             skipped: Mapping[str, str] | None = None, advocate_rule: str = "referral",
             referral_event: str = "referral", promoter_min: int = 9, cart_event: str = "add_to_cart",
             purchase_event: str = "purchase", **_ignored) -> pd.DataFrame:
    """The baseline table from the scan results of :func:`scan_stats` (one group).

    Returns
    -------
    DataFrame
        As :func:`baseline`.
    """
    as_of = parse_as_of(as_of)
    want = set(metrics) if metrics is not None else set(METRICS)
    params = {"advocate_text": ADVOCATE_RULES[advocate_rule].format(
        referral_event=referral_event, promoter_min=promoter_min),
        "cart_event": cart_event, "purchase_event": purchase_event}
    skipped = {k: v for k, v in (skipped or {}).items() if k in want}
    out = _assemble(dict(stats), as_of, bins, periods, conf, params, want - set(skipped))
    out.attrs.update({"as_of": as_of.isoformat(), "period": bins.period, "advocate_rule": advocate_rule,
                      "conf": conf, "skipped": skipped})
    return out



def _ints(frame: pd.DataFrame | None, col: str, idx: np.ndarray, kind: str | None = None) -> list[int]:
    """Column ``col`` of a per-period frame, aligned on ``idx``, as exact Python ints (0 if absent)."""
    if frame is None or len(frame) == 0:
        return [0] * len(idx)
    f = frame if kind is None else frame[frame["kind"] == kind]
    lookup = {int(p): v for p, v in zip(f["pidx"], f[col], strict=True)}
    out = []
    for p in idx:
        v = lookup.get(int(p))
        out.append(0 if v is None or (isinstance(v, float) and np.isnan(v)) else int(v))
    return out


def _floats(frame: pd.DataFrame | None, col: str, idx: np.ndarray) -> np.ndarray:
    if frame is None or len(frame) == 0:
        return np.full(len(idx), np.nan)
    s = pd.Series(frame[col].to_numpy(dtype=float), index=frame["pidx"].to_numpy(dtype=np.int64))
    return s.reindex(idx).to_numpy(dtype=float)


def _cum(xs: list[int]) -> list[int]:
    return list(accumulate(xs))


def _f(xs) -> np.ndarray:
    return np.asarray([float(x) for x in xs], dtype=float)


def _assemble(stats: dict, as_of: pd.Timestamp, bins: scans.PeriodBins, periods: int | None,
              conf: float, params: dict, want: set) -> pd.DataFrame:
    period = bins.period
    p_first = bins.first if periods is None else min(bins.first, bins.last - int(periods) + 1)
    idx = np.arange(p_first, bins.last + 1, dtype=np.int64)
    keep = slice(len(idx) - periods, None) if periods is not None else slice(0, None)
    starts = scans.period_start(idx, period)
    ends = scans.period_start(idx + 1, period)
    ends = ends.where(ends <= as_of, as_of)
    weeks = (ends - starts).total_seconds().to_numpy() / (7 * 86_400)

    parts: list[tuple[str, list[np.ndarray]]] = []  # (metric, [value, numerator, denominator, low, high])

    def add(metric, value, num=None, den=None, low=None, high=None):
        if metric not in want:
            return
        nan = np.full(len(idx), np.nan)
        parts.append((metric, [(nan if x is None else np.asarray(x, dtype=float))[keep]
                               for x in (value, num, den, low, high)]))

    def ratio(k, n):
        k, n = _f(k), _f(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, k / n, np.nan)

    # --- contacts -------------------------------------------------------------------------
    conv = stats.get("conversion")
    if conv is not None:
        contacts = _ints(conv, "n", idx, "contacts")
        add("new_contacts", _f(contacts), _f(contacts))

    # --- orders ---------------------------------------------------------------------------
    os_ = stats["orders"]
    active = _ints(os_, "active", idx)
    n_orders = _ints(os_, "orders", idx)
    cents = _ints(os_, "cents", idx)
    new = _ints(os_, "new_customers", idx)
    retained = _ints(os_, "retained", idx)
    prev_active = [0, *active[:-1]]
    customers = _cum(new)
    repeat = _cum(_ints(os_, "became_repeat", idx))

    add("active_customers", _f(active), _f(active))
    add("new_customers", _f(new), _f(new))
    rate, lo, hi = ci.poisson_rate(_f(new), weeks, conf)
    add("new_customers_per_week", rate, _f(new), weeks, lo, hi)
    add("orders", _f(n_orders), _f(n_orders))
    add("customers", _f(customers), _f(customers))
    adv = stats.get("advocates")
    if adv is not None:
        n_adv = _cum(_ints(adv, "n", idx, "advocates"))
        n_adv_rep = _cum(_ints(adv, "n", idx, "advocate_repeat"))
        first_time = [c - r - (a - ar) for c, r, a, ar in zip(customers, repeat, n_adv, n_adv_rep, strict=True)]
        repeat_level = [r - ar for r, ar in zip(repeat, n_adv_rep, strict=True)]
        add("first_time_customers", _f(first_time), _f(first_time), _f(customers))
        add("repeat_customers", _f(repeat_level), _f(repeat_level), _f(customers))
        add("advocates", _f(n_adv), _f(n_adv), _f(customers))
    lo, hi = wilson(_f(retained), _f(prev_active), conf)
    add("retention_rate", ratio(retained, prev_active), _f(retained), _f(prev_active), lo, hi)
    churned = [p - r for p, r in zip(prev_active, retained, strict=True)]
    lo, hi = wilson(_f(churned), _f(prev_active), conf)
    add("churn_rate", ratio(churned, prev_active), _f(churned), _f(prev_active), lo, hi)
    lo, hi = wilson(_f(repeat), _f(customers), conf)
    add("repeat_purchase_rate", ratio(repeat, customers), _f(repeat), _f(customers), lo, hi)
    m, lo, hi = ci.t_mean_from_sums(active, n_orders, _ints(os_, "cust_orders_sq", idx), conf)
    add("purchase_frequency", m, _f(n_orders), _f(active), lo, hi)
    revenue = _f(cents) / 100
    m, lo, hi = ci.t_mean_from_sums(n_orders, cents, _ints(os_, "order_cents_sq", idx), conf, scale=100)
    add("average_order_value", m, revenue, _f(n_orders), lo, hi)
    add("revenue", revenue, revenue)
    cust_sq = _ints(os_, "cust_cents_sq", idx)
    m, lo, hi = ci.t_mean_from_sums(active, cents, cust_sq, conf, scale=100)
    add("revenue_per_customer", m, revenue, _f(active), lo, hi)
    cross = _ints(os_, "hcv_cross", idx)
    cum_cents = _cum(cents)
    cum_sq = _cum([2 * x + q for x, q in zip(cross, cust_sq, strict=True)])
    m, lo, hi = ci.t_mean_from_sums(customers, cum_cents, cum_sq, conf, scale=100)
    add("historical_customer_value", m, _f(cum_cents) / 100, _f(customers), lo, hi)

    if conv is not None:
        n_contacts = _cum(contacts)
        converted = _cum(_ints(conv, "n", idx, "converted"))
        lo, hi = wilson(_f(converted), _f(n_contacts), conf)
        add("lead_conversion_rate", ratio(converted, n_contacts), _f(converted), _f(n_contacts), lo, hi)

    cart = stats.get("cart")
    if cart is not None:
        carts, aband = _ints(cart, "carts", idx), _ints(cart, "abandoned", idx)
        lo, hi = wilson(_f(aband), _f(carts), conf)
        add("cart_abandonment_rate", ratio(aband, carts), _f(aband), _f(carts), lo, hi)

    tk = stats.get("tickets")
    if tk is not None:
        for key, name in (("fr", "first_response_hours"), ("ht", "handling_hours")):
            n = _ints(tk, f"{key}_n", idx)
            s = _ints(tk, f"{key}_sum", idx)
            m, lo, hi = ci.t_mean_from_sums(n, s, _ints(tk, f"{key}_sq", idx), conf, scale=3600)
            add(f"{name}_mean", m, _f(s) / 3600, _f(n), lo, hi)
            add(f"{name}_median", _floats(tk, f"{key}_median", idx) / 3600, None, _f(n))
        fcr, resolved = _ints(tk, "fcr", idx), _ints(tk, "resolved", idx)
        lo, hi = wilson(_f(fcr), _f(resolved), conf)
        add("first_contact_resolution_rate", ratio(fcr, resolved), _f(fcr), _f(resolved), lo, hi)
        cn, cs = _ints(tk, "csat_n", idx), _ints(tk, "csat_sum", idx)
        m, lo, hi = ci.t_mean_from_sums(cn, cs, _ints(tk, "csat_sq", idx), conf)
        add("csat_mean", m, _f(cs), _f(cn), lo, hi)
        c45 = _ints(tk, "csat_45", idx)
        lo, hi = wilson(_f(c45), _f(cn), conf)
        add("csat_share_4_5", ratio(c45, cn), _f(c45), _f(cn), lo, hi)

    nps = stats.get("nps")
    if nps is not None:
        n, p, d = _ints(nps, "n", idx), _ints(nps, "promoters", idx), _ints(nps, "detractors", idx)
        v, lo, hi = ci.nps_interval(_f(p), _f(d), _f(n), conf)
        add("nps", v, _f(p) - _f(d), _f(n), lo, hi)

    if not parts:
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    # one frame built from the columns (a frame per metric and a concat cost more than the
    # arithmetic); rows in metric declaration order, each metric's periods in time order
    order = {name: i for i, name in enumerate(METRICS)}
    parts.sort(key=lambda part: order[part[0]])
    per = len(starts[keep])
    pick = np.tile(np.arange(per), len(parts))

    def text(f):
        return np.repeat(np.array([f(METRICS[name]) for name, _ in parts], dtype=object), per)

    def num(i):
        return np.concatenate([cols[i] for _, cols in parts])

    out = pd.DataFrame({
        "metric": text(lambda m: m.name), "period": starts[keep].take(pick), "period_end": ends[keep].take(pick),
        "value": num(0), "unit": text(lambda m: m.unit), "numerator": num(1), "denominator": num(2),
        "ci_low": num(3), "ci_high": num(4), "ci_method": text(lambda m: m.ci_method),
        "definition": text(lambda m: m.describe(**params)),
    })
    return out[BASELINE_COLUMNS]
