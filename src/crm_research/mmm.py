r"""Marketing mix model: what each channel's spend brought, with ranges, and where the next budget goes.

A weekly outcome (new customers, orders or revenue) is explained by a baseline, a linear trend,
yearly seasonality, optional controls (e.g. the share of orders with a promotion code) and each
channel's spend carried over time (adstock) with diminishing returns (saturation):

.. math::

    y_t = b_0 + b_1 \tau_t + \sum_{k=1}^{K} \big(a_k \sin \tfrac{2\pi k t}{52.18}
          + c_k \cos \tfrac{2\pi k t}{52.18}\big) + \sum_j \gamma_j z_{jt}
          + \sum_{c} \beta_c \, h_c\big(A_{ct}\big) + \varepsilon_t ,

with, for channel :math:`c` with weekly spend :math:`x_{ct}`,

* **geometric adstock** (Jin, Wang, Sun, Chan & Koehler 2017, "Bayesian Methods for Media Mix
  Modeling with Carryover and Shape Effects", Google, eq. 1 with the peak at lag 0):
  :math:`A_{ct} = \sum_{l=0}^{L} \theta_c^l x_{c,t-l} \,/\, \sum_{l=0}^{L} \theta_c^l`,
  :math:`0 \le \theta_c < 1` the share of a week's effect that carries to the next. Normalised
  weights make a constant spend :math:`x` give :math:`A = x` in steady state, so the saturation
  parameters are in currency per week. With ``adstock="delayed"`` the weights are Jin et al.'s
  :math:`\theta_c^{(l - \delta_c)^2}` (eq. 1 with a peak :math:`\delta_c` weeks after the
  spend, fitted per channel), for outcomes that follow the spend by weeks;
* **Hill saturation** (Jin et al. eq. 3): :math:`h_c(A) = A^{s_c} / (A^{s_c} + K_c^{s_c})`,
  :math:`K_c` the weekly spend at half the channel's maximum effect :math:`\beta_c`, :math:`s_c`
  the shape (S-curve when :math:`s_c > 1`); or the **logistic** saturation of pymc-marketing,
  :math:`h_c(A) = (1 - e^{-\lambda_c A}) / (1 + e^{-\lambda_c A})`.

Estimation: profiled (variable-projection) bounded non-linear least squares
---------------------------------------------------------------------------
For fixed non-linear parameters :math:`\phi = (\theta_c, K_c, s_c)_c` the model is linear in
:math:`(b, a, c, \gamma, \beta)`; these are solved exactly by bounded linear least squares
(:func:`scipy.optimize.lsq_linear`) with :math:`\beta_c \ge 0` (spend cannot destroy outcome)
and a ridge penalty :math:`\alpha \lVert \beta \rVert^2` on the media and seasonality
coefficients (outcome scaled to mean 1). The profiled residual
:math:`r(\phi) = y - X(\phi)\hat\beta(\phi)` is minimised over :math:`\phi` inside bounds
(:math:`0 \le \theta \le 0.9`, :math:`0.2\,\bar x_c \le K_c \le 5\,\bar x_c`,
:math:`1 \le s_c \le 3`) by :func:`scipy.optimize.least_squares` (trust-region reflective)
from a few fixed starting points, keeping the best. Golub & Pereyra's variable projection makes
the non-linear search 3 parameters per channel instead of 3 + 1; there is no sampling, so the
same data and parameters give the same numbers bit for bit, and 3 years × 6 channels fit in
well under a second.

Why not a Bayesian sampler (pymc-marketing, Meridian): with flat priors the posterior mode is
this least-squares fit; the ranges a sampler gives mostly reflect the priors where the data do
not identify a channel (which :attr:`MarketingMixModel.warnings_` reports instead), and a NUTS
run costs minutes where this costs seconds. The side-by-side is in ``benchmarks/``.

Ranges: moving-block bootstrap of residuals (Künsch 1989)
---------------------------------------------------------
Weekly residuals are autocorrelated, so they are resampled in blocks of ``block_length``
consecutive weeks: :math:`y^*_t = \hat y_t + e^*_t` keeps the spend (and its adstock) as
observed, and the model is refitted (warm start at the point estimate) on each replicate with
the seeded :func:`numpy.random.default_rng`. Every reported figure (contributions, ROAS,
marginal ROAS, response curves, the optimiser's gain) gets the ``interval`` percentile range over
the replicates.

Definitions
-----------
* contribution of channel :math:`c` over the fitted weeks: :math:`\sum_t \beta_c h_c(A_{ct})`
  (outcome units: customers, orders or currency);
* ROAS: contribution / spend (outcome per currency unit; for revenue, currency per currency);
* marginal ROAS: extra outcome per extra currency unit when every week's spend of the channel
  grows by the same small share,
  :math:`\sum_t \beta_c h_c'(A_{ct}) A_{ct} / \sum_t x_{ct}`;
* response curve: expected weekly outcome of a constant weekly spend, :math:`\beta_c h_c(x)`.

See Also
--------
crm_research.attribution.ad_performance : spend against journey-attributed conversions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.engine import collect, engine_function, exact_sum, first_by
from crm_research.errors import CRMError
from crm_research.exprs import (
    as_utc_timestamp,
    completed_orders,
    parse_as_of,
    require_columns,
    ts_literal,
)

__all__ = ["weekly_data", "MarketingMixModel", "OUTCOME_WORDS", "channel_view", "channel_view_columns", "fit_words",
           "budget_words", "BudgetWords", "appendix_words", "value_per_outcome", "truth_check", "geometric_adstock", "hill", "logistic_saturation",
           "OUTCOMES", "SPEND_PREFIX"]

OUTCOMES = ("new_customers", "orders", "revenue", "signups")
SPEND_PREFIX = "spend_"
YEAR_WEEKS = 365.25 / 7.0
_WEEK = pd.Timedelta(days=7)


# --------------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------------


def geometric_adstock(x, theta: float, max_lag: int = 8, delay=None) -> np.ndarray:
    """Normalised geometric adstock of a weekly series (Jin et al. 2017, eq. 1).

    Weights ``theta**l`` (peak at lag 0) or, with ``delay``, Jin et al.'s delayed adstock
    ``theta**((l - delay)**2)`` (peak ``delay`` weeks after the spend), normalised to sum to 1.

    Parameters
    ----------
    x : array-like, shape (n_weeks,) or (n_weeks, n_channels)
        Weekly spend (currency).
    theta : float or array of shape (n_channels,)
        Carry-over rate, 0 <= theta < 1.
    max_lag : int
        Longest carry-over in weeks.
    delay : float or array of shape (n_channels,), optional
        Weeks from the spend to the peak of its effect (delayed adstock).

    Returns
    -------
    ndarray
        Adstocked spend, same shape as ``x``, currency per week (a constant spend is unchanged).
    """
    x = np.asarray(x, dtype=float)
    one = x.ndim == 1
    X = x[:, None] if one else x
    th = np.broadcast_to(np.asarray(theta, dtype=float), (X.shape[1],))
    lags = np.arange(max_lag + 1)
    dl = None if delay is None else np.broadcast_to(np.asarray(delay, dtype=float), (X.shape[1],))
    out = np.empty_like(X)
    for j in range(X.shape[1]):
        w = th[j] ** lags if dl is None else th[j] ** ((lags - dl[j]) ** 2)
        if not w.sum() > 0:
            w = (lags == (0 if dl is None else min(int(round(dl[j])), max_lag))).astype(float)
        w = w / w.sum()
        out[:, j] = np.convolve(X[:, j], w)[: X.shape[0]]
    return out[:, 0] if one else out


def hill(a, half: float, shape: float) -> np.ndarray:
    """Hill saturation ``a**s / (a**s + K**s)`` (Jin et al. 2017, eq. 3), in [0, 1).

    Parameters
    ----------
    a : array-like
        Adstocked weekly spend (currency per week), >= 0.
    half : float
        ``K``: spend at half the maximum effect (currency per week).
    shape : float
        ``s`` > 0; an S-curve when above 1.
    """
    a = np.maximum(np.asarray(a, dtype=float), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(a > 0, (a / half) ** shape, 0.0)
    return r / (1.0 + r)


def logistic_saturation(a, lam: float) -> np.ndarray:
    """Logistic saturation ``(1 - exp(-lam a)) / (1 + exp(-lam a))`` (pymc-marketing), in [0, 1).

    ``lam`` is per currency unit of weekly spend.
    """
    e = np.exp(-lam * np.maximum(np.asarray(a, dtype=float), 0.0))
    return (1.0 - e) / (1.0 + e)


# --------------------------------------------------------------------------------------------
# weekly table from the data model
# --------------------------------------------------------------------------------------------


@engine_function("ad_spend", "campaigns")
def _weekly_spend(ad_spend, campaigns, *, start, end, channel_source):
    s = ad_spend
    if channel_source == "campaigns":
        c = campaigns.select(_cid=campaigns.campaign_id.cast("string"), _ch=campaigns.channel.cast("string"))
        s = s.mutate(_cid=s.campaign_id.cast("string")).left_join(c, "_cid")
        ch = s._ch.fill_null("unknown")
    elif channel_source == "channel":
        ch = s.channel.cast("string")
    else:
        ch = s.campaign_id.cast("string")
    s = s.mutate(_channel=ch, _week=s.date.cast("timestamp('UTC')").truncate("W"))
    s = s.filter((s._week >= ts_literal(start)) & (s._week < ts_literal(end)))
    g = s.group_by(week=s._week, channel=s._channel).aggregate(cost=exact_sum(s.cost))
    return g.order_by(["week", "channel"])


@engine_function("customers")
def _weekly_signups(customers, *, start, end, as_of):
    c = customers.filter(customers.signup_at < ts_literal(as_of))
    c = c.mutate(_week=c.signup_at.truncate("W"))
    c = c.filter((c._week >= ts_literal(start)) & (c._week < ts_literal(end)))
    return c.group_by(week=c._week).aggregate(value=c.count().cast("float64")).order_by("week")


def _counted_orders(orders, end, statuses):
    """Orders before ``end`` with an allowed status (every order without a ``status`` column)."""
    return completed_orders(orders, end, date_col="ordered_at", status_col="status" if statuses is not None else None,
                            statuses=statuses or ())


@engine_function("orders")
def _weekly_orders(orders, *, start, end, as_of, statuses, outcome):
    o = _counted_orders(orders, as_of, statuses)
    if outcome == "new_customers":
        o = o.group_by(customer_id=o.customer_id).aggregate(ordered_at=o.ordered_at.min())
    o = o.mutate(_week=o.ordered_at.truncate("W"))
    o = o.filter((o._week >= ts_literal(start)) & (o._week < ts_literal(end)))
    if outcome == "revenue":
        value = exact_sum(o.amount)
    elif outcome == "promo_share":
        code = o.promo_code.cast("string")
        value = (code.notnull() & (code.strip() != "")).cast("float64").mean()
    else:
        value = o.count().cast("float64")
    return o.group_by(week=o._week).aggregate(value=value).order_by("week")


@engine_function("orders", "customers")
def _first_orders(orders, customers=None, *, start, end, statuses, by):
    o = _counted_orders(orders, end, statuses)
    if by == "orders":
        o = o.filter(o.ordered_at >= ts_literal(start))
        return o.aggregate(n=o.count().cast("float64"), value=exact_sum(o.amount.cast("float64")))
    amount = o.amount.cast("float64")
    # the first order's amount; two orders in the same second: the smaller (the same on every engine)
    first = o.group_by(customer_id=o.customer_id).aggregate(
        first_at=o.ordered_at.min(), value=first_by(o, amount, [o.ordered_at, amount], include_null=True))
    if by == "new_customers":
        first = first.filter(first.first_at >= ts_literal(start))
        return first.aggregate(n=first.count().cast("float64"), value=exact_sum(first.value))
    c = customers.filter((customers.signup_at >= ts_literal(start)) & (customers.signup_at < ts_literal(end)))
    j = c.select(cid=c.customer_id).left_join(first, c.customer_id == first.customer_id)
    return j.aggregate(n=j.count().cast("float64"), value=exact_sum(j.value.fill_null(0.0)))


def value_per_outcome(orders, weekly: pd.DataFrame, customers=None,
                      statuses: tuple[str, ...] | None = ("completed",)) -> float:
    """What one unit of the model's outcome is worth, over the weeks of ``weekly`` (currency).

    ``new_customers``: the average first order of the customers whose first order falls in those
    weeks; ``signups``: the first-order revenue of the contacts who signed up in those weeks (by
    the analysis date) per contact; ``orders``: the average order; ``revenue``: 1.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        The data model's ``orders`` (``customer_id``, ``ordered_at``, ``amount``).
    weekly : DataFrame
        :func:`~crm_research.mmm.weekly_data`'s table (its ``attrs`` name the outcome).
    customers : DataFrame or ibis.Table, optional
        ``customers`` (``customer_id``, ``signup_at``), for ``signups``.
    statuses : tuple of str or None
        Order statuses counted, as in ``weekly_data``.

    Returns
    -------
    float
        Currency per unit of outcome; NaN when no unit fell in the weeks or ``amount`` is missing.

    Examples
    --------
    The new customers c1 (first order 10) and c2 (30) of three weeks are worth 20 each:

    >>> days = pd.date_range("2025-01-06", "2025-01-26", freq="D", tz="UTC")
    >>> ad = pd.DataFrame({"campaign_id": "a", "date": days, "cost": 10.0})
    >>> orders = pd.DataFrame({"customer_id": ["c1", "c1", "c2"], "amount": [10.0, 20.0, 30.0],
    ...                        "ordered_at": pd.to_datetime(["2025-01-07", "2025-01-14", "2025-01-20"], utc=True)})
    >>> weekly = weekly_data(orders, ad, outcome="new_customers", as_of="2025-01-27")
    >>> value_per_outcome(orders, weekly)
    20.0
    """
    outcome = weekly.attrs.get("outcome")
    if outcome == "revenue":
        return 1.0
    if outcome not in OUTCOMES:
        raise CRMError(f"the weekly table's outcome {outcome!r} is not one of {list(OUTCOMES)}: build it with "
                       "mmm.weekly_data")
    if "amount" not in orders.columns or (outcome == "signups" and customers is None):
        return float("nan")
    start = pd.Timestamp(weekly["week"].min())
    end = pd.Timestamp(weekly["week"].max()) + pd.Timedelta(days=7)
    r = collect(_first_orders(orders, customers, start=start, end=end, statuses=statuses, by=outcome))
    n, value = float(r["n"].iloc[0] or 0.0), float(r["value"].iloc[0] or 0.0)
    return value / n if n > 0 else float("nan")


def weekly_data(orders, ad_spend, campaigns=None, *, customers=None, outcome: str = "new_customers", as_of,
                start=None, statuses: tuple[str, ...] | None = ("completed",), promotions: bool = True
                ) -> pd.DataFrame:
    """Weekly outcome, spend per channel and controls: the input of :class:`MarketingMixModel`.

    Row-level sums run on the engine (pandas or Ibis tables in); the weekly result is small.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        ``orders`` of the data model (``customer_id``, ``ordered_at``, ``amount``; ``status`` and
        ``promo_code`` when present).
    ad_spend : DataFrame or ibis.Table
        ``ad_spend`` (``campaign_id``, ``date``, ``cost`` in currency).
    campaigns : DataFrame or ibis.Table, optional
        ``campaigns`` (``campaign_id`` → ``channel``). Without it, a ``channel`` column of
        ``ad_spend`` is used if present, else each campaign is its own channel.
    customers : DataFrame or ibis.Table, optional
        ``customers`` (``signup_at``); needed for ``outcome="signups"``.
    outcome : {"new_customers", "orders", "revenue", "signups"}
        ``new_customers``: customers whose first order with an allowed status falls in the week
        (count); ``orders``: orders with an allowed status (count); ``revenue``: their ``amount``
        (currency); ``signups``: contacts who signed up in the week (count, from ``customers``).
    as_of : date-like
        Analysis date (exclusive, UTC; required): only whole weeks ending on or before it are
        kept. When the outcome's last row (last sign-up or order) is more than a week before
        it, the data's end is moved back to the day after that row: weeks without outcome data
        yet are left out, not counted as zeros.
    start : date-like, optional
        First week kept (rounded up to a Monday). Default: the first Monday on or after the
        first ``ad_spend`` date with a cost.
    statuses : tuple of str or None
        Order statuses counted (None: every order).
    promotions : bool
        Add the control ``promo_share``: share of the week's counted orders with a promotion
        code (0..1), when ``orders`` has ``promo_code``.

    Returns
    -------
    DataFrame
        One row per week (Monday 00:00 UTC, ``week``), sorted: the outcome column (named as
        ``outcome``), ``spend_<channel>`` per channel (currency, 0 in weeks without delivery)
        and ``promo_share`` when asked. ``attrs["outcome"]``, ``attrs["channels"]``,
        ``attrs["controls"]`` and ``attrs["as_of"]`` describe it.

    Raises
    ------
    CRMError
        Unknown outcome, missing columns, or no whole week between ``start`` and ``as_of``.

    Examples
    --------
    >>> days = pd.date_range("2025-01-06", "2025-01-26", freq="D", tz="UTC")
    >>> ad = pd.DataFrame({"campaign_id": "a", "date": days, "cost": 10.0})
    >>> campaigns = pd.DataFrame({"campaign_id": ["a"], "channel": ["search"]})
    >>> orders = pd.DataFrame({"customer_id": ["c1", "c1", "c2"], "amount": [10.0, 20.0, 30.0],
    ...                        "ordered_at": pd.to_datetime(["2025-01-07", "2025-01-14", "2025-01-20"], utc=True)})
    >>> weekly_data(orders, ad, campaigns, outcome="new_customers", as_of="2025-01-27")
                           week  new_customers  spend_search
    0 2025-01-06 00:00:00+00:00            1.0          70.0
    1 2025-01-13 00:00:00+00:00            0.0          70.0
    2 2025-01-20 00:00:00+00:00            1.0          70.0
    """
    if outcome not in OUTCOMES:
        raise CRMError(f"outcome={outcome!r}: use one of {list(OUTCOMES)}")
    for name, table, cols in (("ad_spend", ad_spend, ("campaign_id", "date", "cost")),
                              ("orders", orders, ("customer_id", "ordered_at")
                               + (("amount",) if outcome == "revenue" else ())))+ (
                              (("customers", customers, ("signup_at",)),) if outcome == "signups" else ()):
        if table is None:
            raise CRMError(f"table {name!r} is needed for the marketing mix model: load it with the data")
        require_columns(table, name, cols, hint="rename the columns to the data model's names")
    if campaigns is not None and {"campaign_id", "channel"} <= set(campaigns.columns):
        source = "campaigns"
    elif "channel" in ad_spend.columns:
        source = "channel"
    else:
        source = "campaign_id"
    paid = ad_spend.filter(ad_spend.cost > 0) if not isinstance(ad_spend, pd.DataFrame) else None
    lo = (collect(paid.aggregate(lo=paid.date.min()))["lo"].iloc[0] if paid is not None else
          ad_spend.loc[ad_spend["cost"] > 0, "date"].min())
    if pd.isna(lo):
        raise CRMError("table 'ad_spend' has no row with cost > 0: the marketing mix model needs weekly spend "
                       "per channel")
    # a week or more after the outcome's last row there is no data yet (e.g. sign-ups recorded
    # up to a date): those weeks are left out rather than counted as zeros
    table, col = (customers, "signup_at") if outcome == "signups" else (orders, "ordered_at")
    last = (table[col].max() if isinstance(table, pd.DataFrame)
            else collect(table.aggregate(v=table[col].max()))["v"].iloc[0])
    as_of = parse_as_of(as_of)
    if not pd.isna(last) and as_utc_timestamp(last) < as_of - _WEEK:
        as_of = as_utc_timestamp(last).floor("D") + pd.Timedelta(days=1)
    first = as_utc_timestamp(start) if start is not None else as_utc_timestamp(lo)
    first = first.floor("D")
    first = first + pd.Timedelta(days=(7 - first.weekday()) % 7)
    end = as_of.floor("D") - pd.Timedelta(days=as_of.floor("D").weekday())  # Monday of as_of's week
    # only whole weeks: [week, week + 7 days) within [first, as_of)
    n_weeks = int((end - first) / _WEEK) if end > first else 0
    if n_weeks <= 0:
        raise CRMError(f"no whole week between {first.date()} and as_of {as_of.date()} in ad_spend.date: "
                       "pass an earlier start or a later as_of")
    weeks = pd.date_range(first, periods=n_weeks, freq="7D")
    spend = collect(_weekly_spend(ad_spend, campaigns, start=first, end=end, channel_source=source))
    spend["week"] = pd.to_datetime(spend["week"], utc=True)
    wide = spend.pivot_table(index="week", columns="channel", values="cost", aggfunc="sum", sort=True)
    wide = wide.reindex(weeks).fillna(0.0)
    channels = [str(c) for c in wide.columns]
    promo = promotions and "promo_code" in orders.columns
    def weekly(what):
        if what == "signups":
            o = collect(_weekly_signups(customers, start=first, end=end, as_of=as_of))
        else:
            o = collect(_weekly_orders(orders, start=first, end=end, as_of=as_of, statuses=statuses, outcome=what))
        o["week"] = pd.to_datetime(o["week"], utc=True)
        return o.set_index("week").reindex(weeks)

    o = weekly(outcome)
    out = pd.DataFrame({"week": weeks})
    out[outcome] = o["value"].fillna(0.0).to_numpy(float)
    for c in channels:
        out[SPEND_PREFIX + c] = np.round(wide[c].to_numpy(float), 6)
    controls = []
    if promo:
        out["promo_share"] = weekly("promo_share")["value"].fillna(0.0).to_numpy(float)
        controls.append("promo_share")
    out.attrs.update(outcome=outcome, channels=channels, controls=controls, as_of=str(as_of))
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------


class _Design:
    """Fixed parts of the design for one dataset (scaled), and the media transform."""

    def __init__(self, spend: np.ndarray, base: np.ndarray, max_lag: int, saturation: str, delayed: bool = False):
        self.spend = spend  # (n, C), scaled by each channel's mean positive spend
        self.base = base  # (n, p0): intercept, trend, fourier, controls
        self.max_lag, self.saturation, self.delayed = max_lag, saturation, delayed
        self.C = spend.shape[1]

    def adstock(self, x: np.ndarray, phi: np.ndarray, C: int) -> np.ndarray:
        """Adstock with the layout of ``phi``: theta first, the delays last (when delayed)."""
        return geometric_adstock(x, phi[:C], self.max_lag, phi[-C:] if self.delayed else None)

    def media(self, phi: np.ndarray, spend: np.ndarray | None = None) -> np.ndarray:
        x = self.spend if spend is None else spend
        a = self.adstock(x, phi, self.C)
        return _saturate(a, phi, self.C, self.saturation)


def _numbers(w: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Columns ``cols`` of table 'weekly' as floats (weeks x columns); a missing or non-numeric
    value is refused, naming the column and its first rows."""
    if not cols:
        return np.zeros((len(w), 0))
    arr = np.column_stack([pd.to_numeric(w[c], errors="coerce").to_numpy(float) for c in cols])
    bad = ~np.isfinite(arr)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])[:5].tolist()
        raise CRMError(f"table 'weekly' column {cols[j]!r} has {int(bad[:, j].sum())} missing or non-numeric "
                       f"value(s) (rows {rows}): fill them (0 for no spend) or drop those weeks")
    return arr


def _spend(w: pd.DataFrame, channels: list[str]) -> np.ndarray:
    """Each channel's weekly spend (currency per week), as :func:`_numbers` checks it; negative spend
    is refused."""
    X = _numbers(w, [SPEND_PREFIX + c for c in channels])
    if (X < 0).any():
        j = int(np.flatnonzero((X < 0).any(axis=0))[0])
        raise CRMError(f"table 'weekly' column {SPEND_PREFIX + channels[j]!r} has negative spend: fix ad_spend.cost")
    return X


def _hill_fitted(a: np.ndarray, half, shape) -> np.ndarray:
    """:func:`hill` for the fit's parameters (``half`` > 0, ``shape`` >= 1: the bounds): the same
    operations, bit for bit, without its guard for a zero spend (``0 ** shape`` is 0 there)."""
    r = (np.maximum(a, 0.0) / half) ** shape
    return r / (1.0 + r)


def _saturate(a: np.ndarray, phi: np.ndarray, C: int, saturation: str) -> np.ndarray:
    if saturation == "hill":
        half, shape = phi[C:2 * C], phi[2 * C:3 * C]
        return np.column_stack([_hill_fitted(a[:, j], half[j], shape[j]) for j in range(C)]) if a.ndim == 2 else \
            _hill_fitted(a, half, shape)
    lam = phi[C:2 * C]
    return np.column_stack([logistic_saturation(a[:, j], lam[j]) for j in range(C)]) if a.ndim == 2 else \
        logistic_saturation(a, lam)


def _channel_phi(phi: np.ndarray, c: int, C: int) -> np.ndarray:
    """The parameters of channel ``c`` laid out as for one channel (theta, then saturation)."""
    return np.asarray(phi[c::C], dtype=float)


def _saturation_slope(a: np.ndarray, phi: np.ndarray, C: int, saturation: str) -> np.ndarray:
    """d h / d a per column (scaled units)."""
    a = np.maximum(a, 0.0)
    if saturation == "hill":
        K, s = phi[C:2 * C], phi[2 * C:3 * C]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(a > 0, (a / K) ** s, 0.0)
            d = np.where(a > 0, s * r / (a * (1.0 + r) ** 2), np.where(s == 1, 1.0 / K, 0.0))
        return d
    lam = phi[C:2 * C]
    e = np.exp(-lam * a)
    return 2.0 * lam * e / (1.0 + e) ** 2


class MarketingMixModel:
    """Marketing mix model by profiled, bounded non-linear least squares with block-bootstrap ranges.

    See the module docstring for the model, the fit and the definitions of every figure.

    Parameters
    ----------
    max_lag : int
        Longest carry-over of spend, in weeks (adstock window).
    adstock : {"geometric", "delayed"}
        Peak of a week's effect in the same week (geometric), or ``delay`` weeks later, fitted
        per channel in [0, max_lag / 2] (Jin et al.'s delayed adstock, weights
        ``theta**((l - delay)**2)``; for outcomes that follow the spend by weeks, e.g. first
        orders of leads who convert over a month).
    saturation : {"hill", "logistic"}
        Diminishing-returns curve.
    yearly_order : int
        Fourier order of yearly seasonality (0: none). Needs about a year of weeks per order.
    trend : bool
        Include a linear trend.
    ridge : float
        Ridge penalty on the media and seasonality coefficients (outcome scaled to mean 1).
    prior_weight : float
        Weight of the weak prior on the non-linear parameters (0: none; 1: a Gaussian prior
        in MAP form, the penalty of a one-spread deviation equal to the residual variance):
        carry-over ``theta`` around 0.3 (spread 0.3), ``log(K / mean spend)`` around 0
        (spread 0.7), ``log(shape)`` around 0 (spread 0.5). See the module docstring.
    n_bootstrap : int
        Moving-block bootstrap replicates for the ranges (0: point estimates only).
    block_length : int
        Weeks per bootstrap block.
    interval : float
        Width of the percentile ranges (0.9: 5th to 95th percentile).
    holdout_weeks : int
        Last weeks held out for the out-of-time check (0: none). The reported model is then
        refitted on every week.
    min_weeks : int
        Fewer weeks than this is an error.
    seed : int
        Seed of the bootstrap.

    Attributes
    ----------
    channels_, controls_, outcome_ : list of str, list of str, str
    weeks_ : DatetimeIndex
    params_ : DataFrame
        Per channel: ``theta`` (carry-over rate per week), ``half_saturation`` (currency per
        week; Hill) or ``lam`` (per currency; logistic), ``shape`` (Hill), ``delay`` (weeks to
        the peak; delayed adstock only), ``beta`` (maximum weekly effect, outcome units),
        ``mean_spend`` (currency per week).
    coef_ : Series
        Baseline, trend, seasonality and control coefficients (outcome units per unit of the term).
    contributions_ : DataFrame
        Decomposition per week, see :meth:`fit`.
    summary : DataFrame
        Per channel, see :attr:`summary`.
    holdout_ : DataFrame or None
        Out-of-time check, one row per held-out week.
    holdout_mape_ : float
        Mean absolute percentage error of the held-out weeks (share, 0.1 = 10 %).
    r2_, mape_ : float
        In-sample fit quality.
    warnings_ : list of str
        Identifiability problems, in plain sentences.
    issues_ : list of dict
        The same problems structured: ``kind`` (``few_weeks``, ``flat_spend``, ``collinear``,
        ``negative_baseline``), ``channels`` (tuple of channel names), ``value`` (weeks, coefficient
        of variation, correlation or share of weeks) and ``text`` (the sentence of ``warnings_``).
    n_bootstrap_ : int
        Replicates that converged.

    Examples
    --------
    >>> from crm_research import mmm, synthetic
    >>> t, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> weekly = mmm.weekly_data(t["orders"], t["ad_spend"], t["campaigns"], customers=t["customers"],
    ...                          outcome="signups", as_of="2026-01-01")
    >>> model = mmm.MarketingMixModel(n_bootstrap=0, holdout_weeks=0).fit(weekly)  # no ranges, no out-of-time check
    >>> model
    MarketingMixModel(n_bootstrap=0, holdout_weeks=0) fitted on 95 weeks × 5 channels (signups)
    >>> model.summary[["channel", "spend", "roas"]].round(3)
           channel    spend   roas
    0    affiliate  1841.43  0.000
    1      display  4576.35  0.000
    2        email   115.53  0.541
    3  paid_search   958.75  0.000
    4       social   445.30  0.068
    """

    def __init__(self, max_lag: int = 8, adstock: str = "geometric", saturation: str = "hill", yearly_order: int = 3,
                 trend: bool = True,
                 ridge: float = 0.01, prior_weight: float = 1.0, n_bootstrap: int = 100, block_length: int = 6, interval: float = 0.9,
                 holdout_weeks: int = 8, min_weeks: int = 40, seed: int = 0):
        self.max_lag = max_lag
        self.adstock = adstock
        self.saturation = saturation
        self.yearly_order = yearly_order
        self.trend = trend
        self.ridge = ridge
        self.prior_weight = prior_weight
        self.n_bootstrap = n_bootstrap
        self.block_length = block_length
        self.interval = interval
        self.holdout_weeks = holdout_weeks
        self.min_weeks = min_weeks
        self.seed = seed

    def __repr__(self) -> str:
        defaults = MarketingMixModel.__init__.__defaults__
        names = ("max_lag", "adstock", "saturation", "yearly_order", "trend", "ridge", "prior_weight", "n_bootstrap", "block_length",
                 "interval", "holdout_weeks", "min_weeks", "seed")
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n, d in zip(names, defaults, strict=True)
                         if getattr(self, n) != d)
        head = f"MarketingMixModel({args})"
        if hasattr(self, "params_"):
            head += f" fitted on {len(self.weeks_)} weeks × {len(self.channels_)} channels ({self.outcome_})"
        return head

    # ---- checks --------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.adstock not in ("geometric", "delayed"):
            raise CRMError(f"adstock={self.adstock!r}: use 'geometric' or 'delayed'")
        if self.saturation not in ("hill", "logistic"):
            raise CRMError(f"saturation={self.saturation!r}: use 'hill' or 'logistic'")
        for name, lo in (("max_lag", 0), ("yearly_order", 0), ("n_bootstrap", 0), ("block_length", 1),
                         ("holdout_weeks", 0), ("min_weeks", 1)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise CRMError(f"{name}={v!r} must be an integer >= {lo}")
        for name in ("ridge", "prior_weight"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= 0):
                raise CRMError(f"{name}={v!r} must be a number >= 0")
        if not 0 < self.interval < 1:
            raise CRMError(f"interval={self.interval!r} must be strictly between 0 and 1, e.g. 0.9")

    def _columns(self, weekly, outcome, channels, controls):
        if not isinstance(weekly, pd.DataFrame):
            raise CRMError(f"weekly must be a pandas DataFrame (weekly_data output), got {type(weekly).__name__}")
        outcome = outcome or weekly.attrs.get("outcome") or next((c for c in OUTCOMES if c in weekly.columns), None)
        if outcome is None or outcome not in weekly.columns:
            raise CRMError(f"table 'weekly' has no outcome column {outcome!r}; it has {list(weekly.columns)}. "
                           "Pass outcome= the column to explain.")
        if channels is None:
            channels = [c[len(SPEND_PREFIX):] for c in weekly.columns if c.startswith(SPEND_PREFIX)]
        channels = list(channels)
        if not channels:
            raise CRMError("table 'weekly' has no spend_<channel> column: build it with weekly_data or pass channels=")
        missing = [SPEND_PREFIX + c for c in channels if SPEND_PREFIX + c not in weekly.columns]
        if missing:
            raise CRMError(f"table 'weekly' has no column(s) {missing}; it has {list(weekly.columns)}")
        if controls is None:
            controls = weekly.attrs.get("controls", [c for c in ("promo_share",) if c in weekly.columns])
        controls = list(controls)
        missing = [c for c in controls if c not in weekly.columns]
        if missing:
            raise CRMError(f"table 'weekly' has no control column(s) {missing}; it has {list(weekly.columns)}")
        if "week" not in weekly.columns:
            raise CRMError("table 'weekly' has no column 'week' (week start): build it with weekly_data")
        return outcome, channels, controls

    # ---- fitting -------------------------------------------------------------------------------

    def _base(self, t: np.ndarray, n_total: int, Z: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
        cols, names, kinds = [np.ones(len(t))], ["baseline"], ["baseline"]
        if self.trend:
            cols.append(t / max(n_total - 1, 1))
            names.append("trend")
            kinds.append("trend")
        for k in range(1, self.yearly_order + 1):
            w = 2 * np.pi * k * t / YEAR_WEEKS
            cols += [np.sin(w), np.cos(w)]
            names += [f"sin_{k}", f"cos_{k}"]
            kinds += ["seasonality", "seasonality"]
        for j in range(Z.shape[1]):
            cols.append(Z[:, j])
            names.append(f"control_{j}")
            kinds.append("control")
        return np.column_stack(cols), names, kinds

    def _bounds(self, C: int) -> tuple[np.ndarray, np.ndarray]:
        if self.saturation == "hill":
            lo = np.r_[np.zeros(C), np.full(C, 0.2), np.full(C, 1.0)]
            hi = np.r_[np.full(C, 0.9), np.full(C, 5.0), np.full(C, 3.0)]
        else:
            lo = np.r_[np.zeros(C), np.full(C, 0.1)]
            hi = np.r_[np.full(C, 0.9), np.full(C, 5.0)]
        if self.adstock == "delayed":
            lo[:C] = 0.05
            lo, hi = np.r_[lo, np.zeros(C)], np.r_[hi, np.full(C, self.max_lag / 2.0)]
        if self.max_lag == 0:
            hi[:C] = 1e-9
            if self.adstock == "delayed":
                lo[:C], hi[-C:] = 0.0, 1e-9
        return lo, hi

    def _starts(self, C: int) -> list[np.ndarray]:
        lo, hi = self._bounds(C)
        if self.saturation == "hill":
            pts = [(0.3, 1.0, 1.0), (0.6, 2.0, 1.5), (0.1, 0.6, 2.0)]
        else:
            pts = [(0.3, 1.0), (0.6, 0.5), (0.1, 2.0)]
        if self.adstock == "delayed":
            pts = [(*p, d) for p, d in zip(pts, (1.0, 2.0, 0.5), strict=True)]
        return [np.clip(np.repeat(np.asarray(p, float), C), lo, hi) for p in pts]

    def _inner(self, D: _Design, phi: np.ndarray, y: np.ndarray, penalise: np.ndarray, M=None):
        """Linear coefficients for fixed ``phi``: ridge least squares with media coefficients >= 0.

        Lawson-Hanson style active set on the (few) media columns; the other columns are free.
        Returns the coefficients, the design and the mask of active (non-zero media) columns.
        """
        M = D.media(phi) if M is None else M
        X = np.column_stack([D.base, M])
        p0, p = D.base.shape[1], X.shape[1]
        pen = np.sqrt(self.ridge) * penalise.astype(float)
        G_full = X.T @ X + np.diag(pen ** 2)
        g_full = X.T @ y
        active = np.ones(p, bool)
        b = np.zeros(p)
        for _ in range(4 * D.C + 4):
            idx = np.flatnonzero(active)
            sol = np.linalg.solve(G_full[np.ix_(idx, idx)] + 1e-12 * np.eye(len(idx)), g_full[idx])
            b = np.zeros(p)
            b[idx] = sol
            neg = np.flatnonzero(b[p0:] < 0)
            if len(neg):
                active[p0 + neg[np.argmin(b[p0 + neg])]] = False
                continue
            grad = g_full - G_full @ b  # -d(0.5 loss)/db
            cand = [j for j in range(p0, p) if not active[j] and grad[j] > 1e-10 * max(1.0, abs(g_full[j]))]
            if not cand:
                break
            active[max(cand, key=lambda j: grad[j])] = True
        return b, X, active

    def _prior(self, C: int):
        """Centre and spread of the weak prior on the non-linear parameters (per parameter)."""
        if self.saturation == "hill":  # theta, log K (K in mean spends), log s
            centre = np.r_[np.full(C, 0.3), np.zeros(C), np.zeros(C)]
            spread = np.r_[np.full(C, 0.3), np.full(C, 0.7), np.full(C, 0.5)]
            logged = np.r_[np.zeros(C, bool), np.ones(2 * C, bool)]
        else:  # theta, log lam (per mean spend)
            centre = np.r_[np.full(C, 0.3), np.zeros(C)]
            spread = np.r_[np.full(C, 0.3), np.full(C, 0.7)]
            logged = np.r_[np.zeros(C, bool), np.ones(C, bool)]
        if self.adstock == "delayed":  # delay around 1 week (spread 2)
            centre, spread, logged = np.r_[centre, np.ones(C)], np.r_[spread, np.full(C, 2.0)], np.r_[logged, np.zeros(C, bool)]
        return centre, spread, logged

    def _pilot_var(self, D: _Design, y: np.ndarray, penalise: np.ndarray) -> float:
        """Residual variance (scaled outcome) with the non-linear parameters at the prior centre."""
        centre, _, logged = self._prior(D.C)
        lo, hi = self._bounds(D.C)
        phi0 = np.clip(np.where(logged, np.exp(centre), centre), lo, hi)
        b, X, _ = self._inner(D, phi0, y, penalise)
        dof = max(len(y) - X.shape[1], 1)
        return float(((y - X @ b) ** 2).sum() / dof)

    def _fit_phi(self, D: _Design, y: np.ndarray, penalise: np.ndarray, starts, max_nfev: int,
                 prior_var: float = 0.0):
        from scipy import optimize

        lo, hi = self._bounds(D.C)
        C, p0 = D.C, D.base.shape[1]
        centre, spread, logged = self._prior(C)
        wp = np.sqrt(self.prior_weight * prior_var)
        pen = np.sqrt(self.ridge) * penalise.astype(float)
        cache: dict = {}
        step = 1e-5

        def solve(phi):
            key = phi.tobytes()
            if key not in cache:
                cache.clear()
                a = D.adstock(D.spend, phi, C)
                M = _saturate(a, phi, C, self.saturation)  # D.media(phi), kept for the Jacobian
                cache[key] = (*self._inner(D, phi, y, penalise, M), a, M)
            return cache[key]

        def prior_z(phi):
            v = np.where(logged, np.log(np.maximum(phi, 1e-12)), phi)
            return (v - centre) / spread

        def resid(phi):
            b, X, *_ = solve(phi)
            return np.r_[y - X @ b, pen * b, wp * prior_z(phi)]

        def jac(phi):
            # variable projection (Kaufman 1975): J = -(I - P_A) dX/dphi b, X augmented by the ridge rows
            b, X, active, a, M = solve(phi)
            Xa = np.vstack([X, np.diag(pen)])[:, active]
            Q, _ = np.linalg.qr(Xa)
            n = len(y)
            J = np.zeros((n + len(pen) + len(phi), len(phi)))
            J[n + len(pen):, :] = np.diag(wp * np.where(logged, 1.0 / np.maximum(phi, 1e-12), 1.0) / spread)
            n_phi = len(phi)
            for k in range(n_phi):
                c = k % C
                bc = b[p0 + c]
                if bc == 0:
                    continue
                h = step * max(1.0, abs(phi[k]))
                q = phi.copy()
                q[k] = q[k] + h if q[k] + h <= hi[k] else q[k] - h
                d = q[k] - phi[k]
                if k < C or (D.delayed and k >= n_phi - C):
                    a_c = D.adstock(D.spend[:, [c]], _channel_phi(q, c, C), 1)[:, 0]
                else:
                    a_c = a[:, c]
                m_c = _saturate(a_c, _channel_phi(q, c, C), 1, self.saturation)
                v = np.zeros(n + len(pen))
                v[:n] = (m_c - M[:, c]) / d * bc
                J[:n + len(pen), k] = -(v - Q @ (Q.T @ v))
            return J

        best = None
        for s in starts:
            with np.errstate(all="ignore"):
                res = optimize.least_squares(resid, s, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac",
                                             max_nfev=max_nfev, xtol=1e-8, ftol=1e-10, gtol=1e-10)
            if best is None or res.cost < best.cost - 1e-12:
                best = res
        phi = best.x
        b, _, _ = self._inner(D, phi, y, penalise)
        return phi, b

    def fit(self, weekly: pd.DataFrame, outcome: str | None = None, channels=None, controls=None
            ) -> MarketingMixModel:
        """Fit the model to a weekly table.

        Parameters
        ----------
        weekly : DataFrame
            :func:`weekly_data` output, or any table with ``week``, the outcome column,
            ``spend_<channel>`` columns (currency per week) and control columns.
        outcome : str, optional
            Outcome column (default: the table's ``attrs["outcome"]``).
        channels : list of str, optional
            Channel names (default: every ``spend_<channel>`` column).
        controls : list of str, optional
            Control columns (default: the table's ``attrs["controls"]``; ``[]`` for none).

        Returns
        -------
        self
            With ``contributions_``: one row per week: ``week``, ``actual``, ``fitted``, then
            the decomposition of ``fitted`` in outcome units: ``baseline``, ``trend``,
            ``seasonality``, one column per control, one per channel (they add up to
            ``fitted``).

        Raises
        ------
        CRMError
            Too few weeks, a channel without spend, missing or non-finite values.
        """
        self._check_params()
        outcome, channels, controls = self._columns(weekly, outcome, channels, controls)
        w = weekly.sort_values("week", kind="stable").reset_index(drop=True)
        n = len(w)
        need = max(self.min_weeks, self.holdout_weeks + 26)
        if n < need:
            raise CRMError(f"table 'weekly' has {n} weeks; the marketing mix model needs at least {need} "
                           f"({self.min_weeks} to fit{' + ' + str(self.holdout_weeks) + ' held out' if self.holdout_weeks else ''}): "
                           "load a longer ad_spend history or lower holdout_weeks")
        y = _numbers(w, [outcome])[:, 0]
        X = _spend(w, channels)
        Z = _numbers(w, controls)
        dead = [c for c, s in zip(channels, X.sum(axis=0), strict=True) if s <= 0]
        if dead:
            raise CRMError(f"channel(s) {dead} have no spend in ad_spend.cost over the {n} weeks: "
                           "drop them with channels= or load their spend")
        if y.mean() <= 0:
            raise CRMError(f"table 'weekly' column {outcome!r} is zero in every week: nothing to explain")
        self.outcome_, self.channels_, self.controls_ = outcome, channels, controls
        self.weeks_ = pd.DatetimeIndex(w["week"])
        self.issues_ = self._identifiability(X, n)
        C = len(channels)
        self.y_scale_ = float(y.mean())
        mean_spend = np.array([X[X[:, j] > 0, j].mean() for j in range(C)])
        self.mean_spend_ = mean_spend
        Xs = X / mean_spend
        ys = y / self.y_scale_
        t = np.arange(n, dtype=float)
        base, names, kinds = self._base(t, n, Z)
        self._base_names, self._base_kinds = names, kinds
        penalise = np.r_[np.array([k == "seasonality" for k in kinds]), np.ones(C, bool)]
        self._penalise = penalise

        # out-of-time check: fit on all but the last weeks, predict them from their spend
        self.holdout_, self.holdout_mape_ = None, float("nan")
        h = self.holdout_weeks
        if h:
            m = n - h
            Dh = _Design(Xs[:m], base[:m], self.max_lag, self.saturation, self.adstock == "delayed")
            ph, bh = self._fit_phi(Dh, ys[:m], penalise, self._starts(C), 200, self._pilot_var(Dh, ys[:m], penalise))
            Dfull = _Design(Xs, base, self.max_lag, self.saturation, self.adstock == "delayed")
            pred = np.column_stack([base, Dfull.media(ph)]) @ bh * self.y_scale_
            act = y[m:]
            with np.errstate(divide="ignore", invalid="ignore"):
                ape = np.where(act != 0, np.abs(pred[m:] - act) / np.abs(act), np.nan)
            self.holdout_ = pd.DataFrame({"week": self.weeks_[m:], "actual": act, "predicted": pred[m:],
                                          "error": pred[m:] - act, "abs_pct_error": ape})
            self.holdout_mape_ = float(np.nanmean(ape))

        D = _Design(Xs, base, self.max_lag, self.saturation, self.adstock == "delayed")
        self._D = D
        self._prior_var = self._pilot_var(D, ys, penalise)
        phi, b = self._fit_phi(D, ys, penalise, self._starts(C), 400, self._prior_var)
        self._phi, self._b = phi, b
        fitted = np.column_stack([base, D.media(phi)]) @ b
        resid = ys - fitted
        self.r2_ = float(1 - (resid ** 2).sum() / ((ys - ys.mean()) ** 2).sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            self.mape_ = float(np.nanmean(np.where(y != 0, np.abs(resid * self.y_scale_) / np.abs(y), np.nan)))
        self._spend = X
        self._boot = self._bootstrap(D, fitted, resid, penalise, phi)
        self.n_bootstrap_ = len(self._boot)
        self._store(w, y, Z, base, phi, b)
        self.issues_ = self.issues_ + self._baseline_check()
        self.warnings_ = [i["text"] for i in self.issues_]
        return self

    def _identifiability(self, X: np.ndarray, n: int) -> list[dict]:
        """What the data cannot tell apart, one dict per problem: ``kind`` (``few_weeks``,
        ``flat_spend``, ``collinear``), ``channels`` (tuple), ``value`` and ``text``."""
        out = []
        C = X.shape[1]
        n_par = 2 + 2 * self.yearly_order + 4 * C
        if n < max(52, 3 * n_par):
            out.append({"kind": "few_weeks", "channels": tuple(self.channels_), "value": float(n),
                        "text": f"Only {n} weeks for {C} channels: with fewer than {max(52, 3 * n_par)} weeks the "
                                "split between channels and seasonality is loosely determined."})
        for j, c in enumerate(self.channels_):
            x = X[:, j]
            cv = x.std() / x.mean() if x.mean() > 0 else 0.0
            if cv < 0.1 or len(np.unique(np.round(x, 2))) <= 2:
                out.append({"kind": "flat_spend", "channels": (c,), "value": float(cv),
                            "text": f"Spend on {c} hardly varies (coefficient of variation {cv:.2f}): its effect "
                                    "cannot be told apart from the baseline."})
        with np.errstate(invalid="ignore", divide="ignore"):
            R = np.corrcoef(X, rowvar=False) if C > 1 else np.ones((1, 1))
        for i in range(C):
            for j in range(i + 1, C):
                if np.isfinite(R[i, j]) and abs(R[i, j]) > 0.9:
                    a, b = self.channels_[i], self.channels_[j]
                    out.append({"kind": "collinear", "channels": (a, b), "value": float(R[i, j]),
                                "text": f"Spend on {a} and {b} moves together (correlation {R[i, j]:.2f}): their "
                                        "separate effects cannot be told apart."})
        return out

    def _baseline_check(self) -> list[dict]:
        """A fit whose outcome without ads falls below zero in some weeks credits the ads with more
        than they can have brought: the data does not separate them from the trend and season."""
        w = self.contributions_
        base = w.drop(columns=["week", "actual", "fitted", *self.channels_]).sum(axis=1)
        share = float((base < -0.05 * max(float(w["fitted"].abs().mean()), 1e-12)).mean())
        if share <= 0.1:
            return []
        return [{"kind": "negative_baseline", "channels": (), "value": share,
                 "text": f"In {share:.0%} of the weeks the outcome without ads would be below zero: the model credits "
                         "the ads with part of the trend or the season, so its figures overstate them."}]

    def _bootstrap(self, D: _Design, fitted, resid, penalise, phi) -> list[tuple[np.ndarray, np.ndarray]]:
        B = self.n_bootstrap
        if B == 0:
            return []
        rng = np.random.default_rng(self.seed)
        n = len(resid)
        L = min(self.block_length, n)
        e = resid - resid.mean()
        out = []
        for _ in range(B):
            k = -(-n // L)
            starts = rng.integers(0, n - L + 1, k)
            idx = (starts[:, None] + np.arange(L)[None, :]).ravel()[:n]
            ystar = fitted + e[idx]
            p, b = self._fit_phi(D, ystar, penalise, [phi], 60, self._prior_var)
            out.append((p, b))
        return out

    # ---- derived figures -----------------------------------------------------------------------

    def _media_parts(self, phi, b):
        """Weekly contribution per channel (outcome units), adstocked spend (scaled)."""
        C = len(self.channels_)
        a = self._D.adstock(self._D.spend, phi, C)
        h = _saturate(a, phi, C, self.saturation)
        beta = b[-C:] * self.y_scale_
        return h * beta, a, beta

    def _figures(self, phi, b) -> dict[str, np.ndarray]:
        C = len(self.channels_)
        contrib, a, beta = self._media_parts(phi, b)
        total = contrib.sum(axis=0)
        spend = self._spend.sum(axis=0)
        slope = _saturation_slope(a, phi, C, self.saturation)
        marginal = (beta * slope * a).sum(axis=0)  # d total / d log(scale)
        return {"contribution": total, "roas": total / spend, "mroas": marginal / spend}

    def _store(self, w, y, Z, base, phi, b) -> None:
        C = len(self.channels_)
        contrib, _, beta = self._media_parts(phi, b)
        coef = b[:base.shape[1]] * self.y_scale_
        parts = base * coef
        kinds = np.asarray(self._base_kinds)
        dec = pd.DataFrame({"week": self.weeks_, "actual": y})
        dec["fitted"] = parts.sum(axis=1) + contrib.sum(axis=1)
        dec["baseline"] = parts[:, kinds == "baseline"].sum(axis=1)
        dec["trend"] = parts[:, kinds == "trend"].sum(axis=1)
        dec["seasonality"] = parts[:, kinds == "seasonality"].sum(axis=1)
        for j, c in enumerate(self.controls_):
            dec[c] = parts[:, kinds == "control"][:, j]
        for j, c in enumerate(self.channels_):
            dec[c] = contrib[:, j]
        self.contributions_ = dec
        names = [n if not n.startswith("control_") else self.controls_[int(n.split("_")[1])]
                 for n in self._base_names]
        self.coef_ = pd.Series(coef, index=names, name="coefficient")
        par = {"channel": self.channels_, "theta": phi[:C]}
        if self.saturation == "hill":
            par["half_saturation"] = phi[C:2 * C] * self.mean_spend_
            par["shape"] = phi[2 * C:3 * C]
        else:
            par["lam"] = phi[C:2 * C] / self.mean_spend_
        if self.adstock == "delayed":
            par["delay"] = phi[-C:]
        par["beta"] = beta
        par["mean_spend"] = self.mean_spend_
        self.params_ = pd.DataFrame(par)

        point = self._figures(phi, b)
        reps = {k: np.array([self._figures(p, bb)[k] for p, bb in self._boot]) for k in point} if self._boot else {}
        q = ((1 - self.interval) / 2, 1 - (1 - self.interval) / 2)
        spend = self._spend.sum(axis=0)
        s = pd.DataFrame({"channel": self.channels_, "spend": spend})
        for k in ("contribution", "roas", "mroas"):
            s[k] = point[k]
            if reps:
                s[f"{k}_low"], s[f"{k}_high"] = np.quantile(reps[k], q[0], axis=0), np.quantile(reps[k], q[1], axis=0)
            else:
                s[f"{k}_low"] = s[f"{k}_high"] = np.nan
        media_total = point["contribution"].sum()
        s.insert(5, "share", point["contribution"] / media_total if media_total > 0 else np.nan)
        s.insert(6, "share_of_outcome", point["contribution"] / y.sum())
        with np.errstate(divide="ignore"):
            s["cost_per_outcome"] = np.where(s["roas"] > 0, 1.0 / s["roas"], np.inf)
        self._summary = s.reset_index(drop=True)

    def _need_fit(self) -> None:
        if not hasattr(self, "params_"):
            raise CRMError("the marketing mix model is not fitted yet: call fit(weekly) first")

    @property
    def summary(self) -> pd.DataFrame:
        """Per channel: what its spend brought over the fitted weeks.

        Columns: ``channel``; ``spend`` (currency); ``contribution`` (outcome units) with
        ``contribution_low``/``_high``; ``share`` (of the media contribution, 0..1);
        ``share_of_outcome`` (of the whole outcome, 0..1); ``roas`` (outcome per currency
        unit) with ``roas_low``/``_high``; ``mroas`` (marginal: extra outcome per extra
        currency unit) with ``mroas_low``/``_high``; ``cost_per_outcome`` (currency per
        outcome unit, 1 / roas). Ranges: the ``interval`` percentile range over bootstrap
        replicates (NaN without bootstrap).
        """
        self._need_fit()
        return self._summary.copy()

    # ---- response curves and budget ------------------------------------------------------------

    def _response(self, phi, b, weekly_spend: np.ndarray) -> np.ndarray:
        """Steady-state weekly outcome per channel of constant weekly spend (n_points, C) or (C,)."""
        C = len(self.channels_)
        xs = np.atleast_2d(weekly_spend) / self.mean_spend_
        h = _saturate(xs, phi, C, self.saturation)
        out = h * b[-C:] * self.y_scale_
        return out if np.ndim(weekly_spend) == 2 else out[0]

    def decomposition(self) -> pd.DataFrame:
        """:attr:`contributions_` as a long table, one row per week and component (for a CSV: a
        channel never becomes a column name).

        Returns
        -------
        DataFrame
            ``week``, ``component`` (``baseline``, ``trend``, ``seasonality``, a control or a
            channel), ``kind`` (``base``, ``control`` or ``channel``) and ``contribution``
            (outcome units that week); the components of a week add up to its fitted outcome.
        """
        w = self.contributions_
        comps = [c for c in w.columns if c not in ("week", "actual", "fitted")]
        long = w.melt(id_vars=["week"], value_vars=comps, var_name="component", value_name="contribution")
        kind = {c: "channel" if c in self.channels_ else "control" if c in self.controls_ else "base" for c in comps}
        long.insert(2, "kind", long["component"].map(kind))
        order = {c: i for i, c in enumerate(comps)}
        return long.sort_values(["week", "component"], key=lambda s: s.map(order) if s.name == "component" else s,
                                kind="stable").reset_index(drop=True)

    def response_curves(self, n_points: int = 41, max_multiple: float = 2.0) -> pd.DataFrame:
        """Expected weekly outcome of a constant weekly spend, per channel, with ranges.

        Parameters
        ----------
        n_points : int
            Spend levels per channel, from 0 to ``max_multiple`` × the channel's mean weekly spend.
        max_multiple : float
            Upper end of the curve as a multiple of the mean weekly spend of the weeks with spend.

        Returns
        -------
        DataFrame
            Long format: ``channel``, ``weekly_spend`` (currency per week), ``response``
            (outcome units per week, in steady state) with ``response_low``/``_high``,
            ``current`` (True on the level nearest the mean weekly spend over all fitted weeks).
        """
        self._need_fit()
        if not (isinstance(n_points, (int, np.integer)) and n_points >= 2):
            raise CRMError(f"n_points={n_points!r} must be an integer >= 2")
        if not max_multiple > 0:
            raise CRMError(f"max_multiple={max_multiple!r} must be a positive multiple of the mean spend")
        grid = np.linspace(0, max_multiple, n_points)[:, None] * self.mean_spend_[None, :]
        r = self._response(self._phi, self._b, grid)
        q = ((1 - self.interval) / 2, 1 - (1 - self.interval) / 2)
        if self._boot:
            reps = np.array([self._response(p, b, grid) for p, b in self._boot])
            lo, hi = np.quantile(reps, q[0], axis=0), np.quantile(reps, q[1], axis=0)
        else:
            lo = hi = np.full_like(r, np.nan)
        current = self._spend.mean(axis=0)
        rows = []
        for j, c in enumerate(self.channels_):
            near = np.zeros(n_points, bool)
            near[int(np.argmin(np.abs(grid[:, j] - current[j])))] = True
            rows.append(pd.DataFrame({"channel": c, "weekly_spend": grid[:, j], "response": r[:, j],
                                      "response_low": lo[:, j], "response_high": hi[:, j], "current": near}))
        return pd.concat(rows, ignore_index=True)

    def optimise_budget(self, total: float | None = None, weeks: int = 13, bounds: dict | None = None,
                        current: dict | None = None) -> pd.DataFrame:
        """Split a budget across channels to maximise the expected outcome, with the gain's range.

        Spend is taken as constant over the ``weeks`` of the period (steady state of the adstock),
        and the split maximises :math:`\\sum_c \\beta_c h_c(x_c)` subject to
        :math:`\\sum_c x_c = \\text{total} / \\text{weeks}` and the bounds (SLSQP from the current
        and the equal split; deterministic).

        Parameters
        ----------
        total : float, optional
            Budget of the period (currency). Default: the current weekly spend × ``weeks``.
        weeks : int
            Length of the period in weeks (13: a quarter).
        bounds : dict of str to (float, float), optional
            Per channel, the lowest and highest spend over the period (currency). Default: 50 %
            to 150 % of the channel's current spend (a move the data can vouch for). Channels not
            named keep the default.
        current : dict of str to float, optional
            The current split over the period (currency). Default: the mean weekly spend of the
            last 13 fitted weeks × ``weeks``, rescaled to ``total``.

        Returns
        -------
        DataFrame
            One row per channel and a final ``total`` row: ``channel``, ``current_spend``,
            ``recommended_spend``, ``change`` (currency, over the period), ``current_outcome``,
            ``expected_outcome`` (outcome units over the period, from media), ``gain``
            (expected − current) with ``gain_low``/``gain_high`` (range over bootstrap replicates
            of the gain of the same two splits; total row).
        """
        from scipy import optimize

        self._need_fit()
        C = len(self.channels_)
        if not (isinstance(weeks, (int, np.integer)) and weeks >= 1):
            raise CRMError(f"weeks={weeks!r} must be an integer number of weeks >= 1")
        recent = self._spend[-13:].mean(axis=0)
        if current is None:
            cur = recent * weeks
        else:
            unknown = sorted(set(current) - set(self.channels_))
            if unknown:
                raise CRMError(f"current names unknown channel(s) {unknown}; the model has {self.channels_}")
            cur = np.array([float(current.get(c, recent[j] * weeks)) for j, c in enumerate(self.channels_)])
        if total is None:
            total = float(cur.sum())
        total = float(total)
        if not (np.isfinite(total) and total > 0):
            raise CRMError(f"total={total!r} must be a positive budget (currency over the period)")
        if current is None and cur.sum() > 0:
            cur = cur * total / cur.sum()
        lo, hi = 0.5 * cur, 1.5 * cur
        if bounds:
            unknown = sorted(set(bounds) - set(self.channels_))
            if unknown:
                raise CRMError(f"bounds name unknown channel(s) {unknown}; the model has {self.channels_}")
            for j, c in enumerate(self.channels_):
                if c in bounds:
                    a, b_ = bounds[c]
                    if not (0 <= float(a) <= float(b_)):
                        raise CRMError(f"bounds[{c!r}]=({a}, {b_}) must satisfy 0 <= low <= high (currency)")
                    lo[j], hi[j] = float(a), float(b_)
        if lo.sum() > total + 1e-9 or hi.sum() < total - 1e-9:
            raise CRMError(f"total={total:,.2f} cannot be split within the bounds (they allow "
                           f"{lo.sum():,.2f} to {hi.sum():,.2f}): widen the bounds or change the total")
        per = weeks

        def outcome(x, phi=None, b=None):
            return self._response(self._phi if phi is None else phi, self._b if b is None else b, x / per).sum() * per

        scale = total

        def neg(z):
            return -outcome(z * scale) / max(outcome(cur) if outcome(cur) > 0 else 1.0, 1e-12)

        cons = ({"type": "eq", "fun": lambda z: z.sum() - 1.0},)
        bnds = list(zip(lo / scale, hi / scale, strict=True))
        starts = [np.clip(cur / scale, lo / scale, hi / scale), np.clip(np.full(C, 1.0 / C), lo / scale, hi / scale)]
        best = None
        for z0 in starts:
            with np.errstate(all="ignore"):
                res = optimize.minimize(neg, z0, method="SLSQP", bounds=bnds, constraints=cons,
                                        options={"ftol": 1e-12, "maxiter": 500})
            z = np.clip(res.x, lo / scale, hi / scale)
            if best is None or neg(z) < neg(best) - 1e-12:
                best = z
        rec = best * scale
        if outcome(rec) < outcome(cur):  # never recommend worse than the current split
            rec = cur.copy()
        per_c = self._response(self._phi, self._b, np.vstack([cur / per, rec / per])) * per
        gains = np.array([outcome(rec, p, b) - outcome(cur, p, b) for p, b in self._boot]) if self._boot else None
        q = ((1 - self.interval) / 2, 1 - (1 - self.interval) / 2)
        df = pd.DataFrame({"channel": self.channels_, "current_spend": cur, "recommended_spend": rec,
                           "change": rec - cur, "current_outcome": per_c[0], "expected_outcome": per_c[1]})
        df["gain"] = df["expected_outcome"] - df["current_outcome"]
        df["gain_low"] = df["gain_high"] = np.nan
        tot = {"channel": "total", "current_spend": cur.sum(), "recommended_spend": rec.sum(),
               "change": rec.sum() - cur.sum(), "current_outcome": per_c[0].sum(), "expected_outcome": per_c[1].sum(),
               "gain": per_c[1].sum() - per_c[0].sum(),
               "gain_low": float(np.quantile(gains, q[0])) if gains is not None else np.nan,
               "gain_high": float(np.quantile(gains, q[1])) if gains is not None else np.nan}
        df = pd.concat([df, pd.DataFrame([tot])], ignore_index=True)
        df.attrs.update(weeks=weeks, total=total, bounds_given=bounds is not None)
        return df

    def predict(self, weekly: pd.DataFrame) -> pd.Series:
        """Expected outcome of the fitted weeks' calendar for new spend (same weeks as the fit).

        Parameters
        ----------
        weekly : DataFrame
            Same weeks and columns as the fitted table, spend possibly changed (a scenario).

        Returns
        -------
        Series
            Expected outcome per week (outcome units), indexed by week.
        """
        self._need_fit()
        w = weekly.sort_values("week", kind="stable").reset_index(drop=True)
        if len(w) != len(self.weeks_) or not (pd.DatetimeIndex(w["week"]) == self.weeks_).all():
            raise CRMError("table 'weekly' must have the same weeks as the fitted table (a scenario of its spend)")
        X = _spend(w, self.channels_) / self.mean_spend_
        Z = _numbers(w, self.controls_)
        base, _, _ = self._base(np.arange(len(w), dtype=float), len(w), Z)
        pred = np.column_stack([base, self._D.media(self._phi, X)]) @ self._b * self.y_scale_
        return pd.Series(pred, index=self.weeks_, name=self.outcome_)


# the results in a client's words (a module of their own; imported last, they read the fitted model only)
from crm_research.mmm_words import (  # noqa: E402
    OUTCOME_WORDS,
    BudgetWords,
    appendix_words,
    budget_words,
    channel_view,
    channel_view_columns,
    fit_words,
    truth_check,
)
