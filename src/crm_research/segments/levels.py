"""Customer levels: first-time, repeat and advocate buyers.

The rule (configurable):

* **advocate**: a buyer who referred others (at least ``min_referrals`` events named
  ``referral_event`` before ``as_of``) or whose latest NPS answer before ``as_of`` is a
  promoter score (``>= promoter_min``, default 9). ``advocate_by`` picks which of the two
  criteria count; ``advocate_requires_repeat`` additionally asks for a repeat buyer;
* **repeat**: at least ``repeat_min_orders`` counted orders (default 2);
* **first-time**: one counted order.

Written on the engine layer (pandas in → pandas out, Ibis in → lazy out).
"""

from __future__ import annotations

import ibis

from crm_research.engine import engine_function, exact_mean
from crm_research.errors import ParameterError
from crm_research.exprs import completed_orders, require_columns, ts_literal

__all__ = ["LEVELS", "customer_levels", "level_summary"]

LEVELS = ("first-time", "repeat", "advocate")
_CRITERIA = ("referral", "nps")


@engine_function("orders", "events", "surveys")
def customer_levels(
    orders,
    as_of,
    events=None,
    surveys=None,
    *,
    repeat_min_orders: int = 2,
    advocate_by: tuple[str, ...] = ("referral", "nps"),
    referral_event: str = "referral",
    min_referrals: int = 1,
    promoter_min: int = 9,
    advocate_requires_repeat: bool = False,
    customer_col: str = "customer_id",
    date_col: str = "ordered_at",
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
):
    """The level of each buyer: ``first-time``, ``repeat`` or ``advocate``.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log (``customer_id``, ``ordered_at``, ``status``).
    as_of : date-like
        Analysis instant (UTC); only what happened strictly before it counts.
    events : DataFrame or ibis.Table, optional
        Event log (``customer_id``, ``occurred_at``, ``event``) for referrals. Needed when
        ``"referral"`` is in ``advocate_by``; without it nobody qualifies by referral.
    surveys : DataFrame or ibis.Table, optional
        NPS answers (``customer_id``, ``answered_at``, ``nps`` 0..10). Needed when ``"nps"`` is
        in ``advocate_by``; without it nobody qualifies by NPS.
    repeat_min_orders : int
        Orders (count) that make a repeat buyer.
    advocate_by : tuple of {"referral", "nps"}
        Criteria that make an advocate (any one suffices). ``()`` disables the advocate level.
    referral_event : str
        Event name of a referral.
    min_referrals : int
        Referrals (count) that make an advocate.
    promoter_min : int
        Lowest NPS (0..10) of a promoter; the customer's latest answer counts (ties in time:
        the higher score).
    advocate_requires_repeat : bool
        Only repeat buyers can be advocates.
    customer_col, date_col, status_col, statuses
        Order columns and the statuses that count as a purchase.

    Returns
    -------
    DataFrame or ibis.Table
        One row per buyer, sorted by ``customer_id``: ``customer_id``, ``n_orders`` (orders),
        ``n_referrals`` (events), ``latest_nps`` (0..10, null when never answered),
        ``is_promoter``, ``level``.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 3, 4], "amount": [30.0, 45.0, 60.0, 20.0, 50.0, 55.0, 10.0],
    ...     "ordered_at": pd.to_datetime(["2025-06-03", "2025-11-20", "2025-12-20", "2025-11-02", "2025-10-10",
    ...                                   "2025-12-11", "2024-12-24"], utc=True)})
    >>> levels = customer_levels(orders, "2026-01-01")  # no events or surveys: no advocates
    >>> levels[["customer_id", "n_orders", "level"]].values.tolist()
    [[1, 3, 'repeat'], [2, 1, 'first-time'], [3, 2, 'repeat'], [4, 1, 'first-time']]
    >>> level_summary(levels)[["level", "customers", "share", "mean_orders"]].values.tolist()
    [['first-time', 2, 0.5, 1.0], ['repeat', 2, 0.5, 2.5]]
    """
    unknown = set(advocate_by) - set(_CRITERIA)
    if unknown:
        raise ParameterError(f"advocate_by: unknown criteria {sorted(unknown)}; use any of {list(_CRITERIA)}")
    if repeat_min_orders < 2:
        raise ParameterError(f"repeat_min_orders must be at least 2, got {repeat_min_orders}")
    if not 0 <= promoter_min <= 10:
        raise ParameterError(f"promoter_min is an NPS score 0..10, got {promoter_min}")
    require_columns(orders, "orders", [customer_col, date_col])
    cut = ts_literal(as_of)
    o = completed_orders(orders, as_of, date_col=date_col, status_col=status_col, statuses=statuses)
    base = o.group_by(customer_id=o[customer_col]).aggregate(n_orders=o.count())

    if events is not None and "referral" in advocate_by:
        require_columns(events, "events", ["customer_id", "occurred_at", "event"])
        e = events.filter((events.event == referral_event) & (events.occurred_at < cut))
        refs = e.group_by("customer_id").aggregate(n_referrals=e.count())
    else:
        # no referral data: an empty table with the orders' id type (an int id cannot join a string one)
        refs = ibis.memtable({"customer_id": [], "n_referrals": []},
                             schema={"customer_id": base.customer_id.type(), "n_referrals": "int64"})
    if surveys is not None and "nps" in advocate_by:
        require_columns(surveys, "surveys", ["customer_id", "answered_at", "nps"])
        s = surveys.filter(surveys.answered_at < cut)
        w = ibis.window(group_by="customer_id", order_by=[ibis.desc("answered_at"), ibis.desc("nps")])
        s = s.mutate(_rn=ibis.row_number().over(w))
        nps = s.filter(s._rn == 0).select("customer_id", latest_nps=s.nps.cast("int64"))
    else:
        nps = ibis.memtable({"customer_id": [], "latest_nps": []},
                            schema={"customer_id": base.customer_id.type(), "latest_nps": "int64"})

    t = base.left_join(refs, "customer_id").select(base, refs.n_referrals)
    t = t.left_join(nps, "customer_id").select(t, nps.latest_nps)
    n_ref = t.n_referrals.fill_null(0).cast("int64")
    promoter = (t.latest_nps >= promoter_min).fill_null(False)
    adv = ibis.literal(False)
    if "referral" in advocate_by:
        adv = adv | (n_ref >= min_referrals)
    if "nps" in advocate_by:
        adv = adv | promoter
    repeat = t.n_orders >= repeat_min_orders
    if advocate_requires_repeat:
        adv = adv & repeat
    level = ibis.cases((adv, "advocate"), (repeat, "repeat"), else_="first-time")
    out = t.mutate(n_orders=t.n_orders.cast("int64"), n_referrals=n_ref, is_promoter=promoter,
                   level=level.cast("string"))
    return out.select("customer_id", "n_orders", "n_referrals", "latest_nps", "is_promoter",
                      "level").order_by("customer_id")


@engine_function("levels")
def level_summary(levels):
    """Buyers per level.

    Parameters
    ----------
    levels : DataFrame or ibis.Table
        Output of :func:`customer_levels`.

    Returns
    -------
    DataFrame or ibis.Table
        ``level``, ``customers``, ``share`` (0..1), ``mean_orders`` (orders per buyer), in the
        order first-time, repeat, advocate (levels without buyers are left out).

    Examples
    --------
    >>> levels = pd.DataFrame({"customer_id": [1, 2, 3, 4], "n_orders": [1, 1, 4, 2],
    ...                        "level": ["first-time", "first-time", "advocate", "repeat"]})
    >>> level_summary(levels)[["level", "customers", "share", "mean_orders"]].values.tolist()
    [['first-time', 2, 0.5, 1.0], ['repeat', 1, 0.25, 2.0], ['advocate', 1, 0.25, 4.0]]
    """
    require_columns(levels, "levels", ["level", "n_orders"], hint="pass the output of customer_levels")
    g = levels.group_by("level").aggregate(customers=levels.count(), mean_orders=exact_mean(levels.n_orders))
    g = g.mutate(share=g.customers.cast("float64") / g.customers.sum().over(ibis.window()),
                 _pos=ibis.cases(*[(g.level == name, i) for i, name in enumerate(LEVELS)], else_=len(LEVELS)))
    return g.order_by(["_pos", "level"]).select("level", "customers", "share", "mean_orders")
