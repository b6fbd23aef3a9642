"""BG/BB: beta-geometric/beta-Bernoulli model of discrete purchase opportunities.

Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time noncontractual
setting", Marketing Science 29(6). A customer has ``n`` purchase opportunities after the first
purchase (yearly appeals, seasonal campaigns, monthly boxes). While alive they buy at each one
with probability ``p`` ~ Beta(``alpha``, ``beta``); before each opportunity they die with
probability ``theta`` ~ Beta(``gamma``, ``delta``). A customer is summarised by ``frequency`` x
(opportunities with a purchase), ``recency`` t_x (the last one, 0 if none) and ``periods`` n.

Likelihood::

    L = B(a+x, b+n-x)/B(a,b) * B(g, d+n)/B(g,d)
        + sum_{i=0}^{n-t_x-1} B(a+x, b+t_x-x+i)/B(a,b) * B(g+1, d+t_x+i)/B(g,d)

evaluated in log space with ``scipy.special.betaln`` and ``logaddexp``. Results are in
opportunities (purchases per opportunity), whatever calendar period they stand for.
:func:`discrete_summary` builds the summary from the ``orders`` table on the engine layer.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crm_research import exprs
from crm_research.churn.btyd import _Fitted
from crm_research.churn.sbg import _numeric, _weighted_mle, _weights
from crm_research.engine import engine_function
from crm_research.errors import CRMError, ParameterError

__all__ = ["BetaGeoBetaBinomModel", "discrete_summary", "discrete_calibration_holdout",
           "discrete_holdout_table", "purchase_days_by_date", "occasion_pattern", "occasion_scores"]


def _bgbb_ll(a, b, g, d, x, t_x, n):
    """Per-row log-likelihood of BG/BB (Fader, Hardie & Shang 2010)."""
    from scipy import special

    lb_ab, lb_gd = special.betaln(a, b), special.betaln(g, d)
    out = special.betaln(a + x, b + n - x) - lb_ab + special.betaln(g, d + n) - lb_gd
    gap = n - t_x
    for i in range(int(np.max(gap, initial=0))):
        term = special.betaln(a + x, b + t_x - x + i) - lb_ab + special.betaln(g + 1, d + t_x + i) - lb_gd
        out = np.where(i < gap, np.logaddexp(out, term), out)
    return out


class BetaGeoBetaBinomModel(_Fitted):
    """BG/BB model of repeat purchases at discrete opportunities (Fader, Hardie & Shang 2010).

    Parameters
    ----------
    frequency_col, recency_col, periods_col : str
        Columns of x (opportunities with a purchase), t_x (last such opportunity, 0 if none) and
        n (opportunities observed); see :func:`discrete_summary`.
    weights_col : str or None
        Customers per row (a compressed table); rows count once when absent.
    tol : float
        Relative tolerance of the optimiser.
    customer_col : str
        Id column: per-customer outputs are indexed by it (by the table's index without it).

    Attributes
    ----------
    params_ : dict
        ``alpha``, ``beta`` (purchase probability ~ Beta), ``gamma``, ``delta`` (dropout
        probability ~ Beta); all dimensionless.
    standard_errors_, log_likelihood_, n_customers_, converged_
        As in :class:`~crm_research.churn.sbg.ShiftedBetaGeoModel`.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> occasions = discrete_summary(tables["orders"], "2026-01-01", period="Q")   # quarters
    >>> model = BetaGeoBetaBinomModel().fit(occasions)
    >>> model
    BetaGeoBetaBinomModel(); fitted on 173 customers: alpha=0.9759, beta=0.4983, gamma=1.977, delta=12.86; log-likelihood -298.83
    >>> model.p_alive(occasions).round(3).head(2)   # alive for the next quarter
    customer_id
    C0000001    0.112
    C0000004    0.905
    Name: p_alive, dtype: float64
    """

    _names = ("alpha", "beta", "gamma", "delta")
    _units = ("1", "1", "1", "1")

    def __init__(self, frequency_col: str = "frequency", recency_col: str = "recency",
                 periods_col: str = "periods", weights_col: str | None = "weights", tol: float = 1e-11,
                 customer_col: str = "customer_id"):
        self.frequency_col = frequency_col
        self.recency_col = recency_col
        self.periods_col = periods_col
        self.weights_col = weights_col
        self.tol = tol
        self.customer_col = customer_col

    def _data(self, data: pd.DataFrame, table: str = "summary"):
        if not isinstance(data, pd.DataFrame):
            raise CRMError(f"{table} must be a pandas DataFrame (discrete_summary output), got {type(data).__name__}")
        x = _numeric(data, table, self.frequency_col, "frequency_col")
        t_x = _numeric(data, table, self.recency_col, "recency_col")
        n = _numeric(data, table, self.periods_col, "periods_col")
        bad = (x > t_x) | (t_x > n) | ((x == 0) & (t_x > 0)) | ((x > 0) & (t_x == 0))
        if bad.any():
            raise CRMError(f"table {table!r}: {int(bad.sum())} row(s) break frequency <= recency <= periods "
                           f"with recency = 0 exactly when frequency = 0 (index "
                           f"{data.index[bad][:5].tolist()}); rebuild it with discrete_summary")
        return x, t_x, n, _weights(data, table, self.weights_col)

    def fit(self, data: pd.DataFrame) -> BetaGeoBetaBinomModel:
        """Fit by maximum likelihood on (frequency, recency, periods, weights)."""
        x, t_x, n, w = self._data(data)
        if w.sum() <= 0 or not (w[x > 0] > 0).any() or not (w[t_x < n] > 0).any():
            raise CRMError("BG/BB needs customers with repeat purchases and some without a purchase "
                           "at the last opportunity to fit")
        for k, v in _weighted_mle(_bgbb_ll, [x, t_x, n], w, [1.0, 1.0, 1.0, 1.0], self._names, self.tol).items():
            setattr(self, k, v)
        return self

    def log_likelihood(self, data: pd.DataFrame) -> float:
        """Weighted log-likelihood of ``data`` under the fitted parameters."""
        x, t_x, n, w = self._data(data)
        return float(np.dot(w, _bgbb_ll(*self._p(), x, t_x, n)))

    def _conditional(self, data):
        """Parameters, x, n and the log-likelihood of each row of ``data``."""
        a, b, g, d = self._p()
        x, t_x, n, _ = self._data(data, "data")
        return a, b, g, d, x, n, _bgbb_ll(a, b, g, d, x, t_x, n)

    def p_alive(self, data: pd.DataFrame, future: int = 1) -> pd.Series:
        """P(alive at opportunity ``n + future`` | x, t_x, n), per customer (``future = 1``:
        alive for the next opportunity): a Series named ``p_alive`` indexed by ``customer_col``
        (by ``data``'s index without it)."""
        from scipy import special

        a, b, g, d, x, n, ll = self._conditional(data)
        m = int(future)
        if m < 0:
            raise ParameterError(f"future must be >= 0 opportunities, got {future}")
        return self._per_customer(data, np.exp(special.betaln(a + x, b + n - x) - special.betaln(a, b)
                                               + special.betaln(g, d + n + m) - special.betaln(g, d) - ll),
                                  "p_alive")

    def expected_purchases(self, data: pd.DataFrame, n_future: int) -> pd.Series:
        """Expected purchases in the next ``n_future`` opportunities, per customer (a Series
        named ``expected_purchases``, indexed as :meth:`p_alive`).

        Written as ``sum_{k=1}^{n*} E[p 1{alive at n+k} | x, t_x, n]``
        ``= sum_k B(a+x+1, b+n-x)/B(a,b) * B(g, d+n+k)/B(g,d) / L``, which equals the paper's
        closed form and has no singularity at ``gamma = 1``.
        """
        from scipy import special

        if int(n_future) < 0:
            raise ParameterError(f"n_future must be >= 0 opportunities, got {n_future}")
        a, b, g, d, x, n, ll = self._conditional(data)
        k = np.arange(1, int(n_future) + 1)[:, None]
        lp = special.betaln(a + x + 1, b + n - x) - special.betaln(a, b) - ll
        return self._per_customer(data, np.exp(lp + special.betaln(g, d + n + k) - special.betaln(g, d)).sum(axis=0),
                                  "expected_purchases")

    def expected_purchases_new(self, n_future) -> np.ndarray:
        """Expected repeat purchases of a new customer in their first ``n_future`` opportunities:
        ``alpha / (alpha + beta) * sum_{t=1}^{n} B(gamma, delta + t) / B(gamma, delta)``."""
        from scipy import special

        a, b, g, d = self._p()
        n = np.atleast_1d(np.asarray(n_future, dtype=int))
        t = np.arange(1, max(int(n.max()), 0) + 1)
        cum = np.r_[0.0, np.cumsum(np.exp(special.betaln(g, d + t) - special.betaln(g, d)))]
        out = a / (a + b) * cum[np.maximum(n, 0)]
        return out if np.ndim(n_future) else out[0]

    def dert(self, data: pd.DataFrame, discount_rate: float) -> pd.Series:
        """Discounted expected residual transactions per customer, in purchases (FHS 2010); indexed
        as :meth:`p_alive`.

        ``DERT = B(a+x+1, b+n-x)/B(a,b) * B(g, d+n+1)/(B(g,d)(1+d)) *
        2F1(1, d+n+1; g+d+n+1; 1/(1+d)) / L``: the purchase at opportunity ``n + 1`` is discounted
        by one period. ``discount_rate`` is per opportunity (``d > 0``).
        """
        from scipy import special

        r = float(discount_rate)
        if not r > 0:
            raise ParameterError(f"discount_rate must be > 0 per opportunity, got {discount_rate}")
        a, b, g, d, x, n, ll = self._conditional(data)
        log = (special.betaln(a + x + 1, b + n - x) - special.betaln(a, b) + special.betaln(g, d + n + 1)
               - special.betaln(g, d) - np.log1p(r) - ll)
        out = np.exp(log) * special.hyp2f1(1.0, d + n + 1, g + d + n + 1, 1.0 / (1.0 + r))
        return self._per_customer(data, out, "dert")


# --------------------------------------------------------------------------------------------
# builders on the engine layer
# --------------------------------------------------------------------------------------------

_PER_YEAR = {"Y": 1, "Q": 4, "M": 12}


def _period_index(col: ir.Value, period: str) -> ir.IntegerValue:
    day = col.date() if col.type().is_timestamp() else col
    if period == "Y":
        return day.year().cast("int64")
    if period == "Q":
        return (day.year() * 4 + day.quarter() - 1).cast("int64")
    return (day.year() * 12 + day.month() - 1).cast("int64")


def _period_literal(value, period: str, name: str = "as_of") -> int:
    ts = exprs.parse_as_of(value, name)
    return {"Y": ts.year, "Q": ts.year * 4 + ts.quarter - 1, "M": ts.year * 12 + ts.month - 1}[period]


def _purchase_periods(orders, customer_col, date_col, status_col, statuses, period, as_of, last):
    if period not in _PER_YEAR:
        raise ParameterError(f"period must be one of {list(_PER_YEAR)}, got {period!r}")
    exprs.require_columns(orders, "orders", {"customer_col": customer_col, "date_col": date_col})
    t = exprs.completed_orders(orders, as_of, date_col=date_col, status_col=status_col, statuses=statuses)
    t = t.select(customer_id=t[customer_col], p=_period_index(t[date_col], period))
    return t.filter(t.customer_id.notnull() & t.p.notnull() & (t.p <= last)).distinct()


def _period_start(p: ir.IntegerValue, period: str) -> ir.DateValue:
    k = _PER_YEAR[period]
    return ibis.date(p // k, (p % k) * (12 // k) + 1, 1)


def _summarise(pp: ir.Table, last: int, period: str) -> ir.Table:
    g = pp.group_by("customer_id").aggregate(first=pp.p.min(), last_p=pp.p.max(), k=pp.count())
    return g.select(customer_id=g.customer_id, first_period_start=_period_start(g.first, period),
                    frequency=(g.k - 1).cast("int64"), recency=(g.last_p - g.first).cast("int64"),
                    periods=(ibis.literal(last) - g.first).cast("int64"), _first=g.first)


@engine_function("orders")
def discrete_summary(orders, as_of, period: str = "Y", first_period=None, *, customer_col: str = "customer_id",
                     date_col: str = "ordered_at", status_col: str | None = "status",
                     statuses: tuple[str, ...] = ("completed",)):
    """Frequency, recency and opportunities per customer for the BG/BB model.

    Orders are grouped into calendar periods (UTC). The customer's first purchase period is
    opportunity 0; every complete period after it up to ``as_of`` is an opportunity
    ``1 .. periods`` (the period containing ``as_of`` is incomplete and left out, its orders too).

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        The ``orders`` table; with ``status_col`` present only ``statuses`` count.
    as_of : date-like
        Analysis instant (UTC, exclusive).
    period : {"Y", "Q", "M"}
        Opportunity length: calendar year, quarter or month.
    first_period : date-like, optional
        Keep only the cohort whose first purchase falls in the period containing this date (the
        paper's 1995 donors); default every customer, each with their own ``periods``.

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``first_period_start`` (date), ``frequency`` (opportunities with a
        purchase), ``recency`` (index of the last one, 0 if none), ``periods`` (opportunities, >= 0);
        sorted by customer.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> occasions = discrete_summary(tables["orders"], "2026-01-01", period="Q")  # quarters
    >>> occasions.drop(columns="first_period_start").head(3)
      customer_id  frequency  recency  periods
    0    C0000001          0        0        7
    1    C0000004          5        6        6
    2    C0000007          1        1        1
    """
    last = _period_literal(as_of, period) - 1
    pp = _purchase_periods(orders, customer_col, date_col, status_col, statuses, period, as_of, last)
    s = _summarise(pp, last, period)
    if first_period is not None:
        s = s.filter(s._first == _period_literal(first_period, period, "first_period"))
    return s.drop("_first").order_by("customer_id")


@engine_function("orders")
def discrete_calibration_holdout(orders, calibration_as_of, as_of, period: str = "Y", first_period=None, *,
                                 customer_col: str = "customer_id", date_col: str = "ordered_at",
                                 status_col: str | None = "status", statuses: tuple[str, ...] = ("completed",)):
    """:func:`discrete_summary` at ``calibration_as_of`` plus the opportunities after it.

    Returns the calibration columns and ``frequency_holdout`` (holdout opportunities with a
    purchase) and ``periods_holdout`` (complete periods from ``calibration_as_of`` to ``as_of``),
    for the customers of the calibration summary.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> check = discrete_calibration_holdout(tables["orders"], "2025-07-01", "2026-01-01", period="Q")
    >>> check[["customer_id", "frequency", "periods", "frequency_holdout", "periods_holdout"]].head(3)
      customer_id  frequency  periods  frequency_holdout  periods_holdout
    0    C0000001          0        5                  0                2
    1    C0000004          3        4                  2                2
    2    C0000008          0        1                  0                2
    """
    cal_last = _period_literal(calibration_as_of, period, "calibration_as_of") - 1
    last = _period_literal(as_of, period) - 1
    if last <= cal_last:
        raise ParameterError(f"as_of ({as_of}) must leave at least one complete {period} period after "
                             f"calibration_as_of ({calibration_as_of})")
    pp = _purchase_periods(orders, customer_col, date_col, status_col, statuses, period, as_of, last)
    cal = _summarise(pp.filter(pp.p <= cal_last), cal_last, period)
    if first_period is not None:
        cal = cal.filter(cal._first == _period_literal(first_period, period, "first_period"))
    hold = pp.filter(pp.p > cal_last)
    h = hold.group_by("customer_id").aggregate(frequency_holdout=hold.count().cast("int64"))
    h = h.rename(hid="customer_id")
    j = cal.left_join(h, cal.customer_id == h.hid)
    out = {c: j[c] for c in cal.columns if c != "_first"}
    out["frequency_holdout"] = j.frequency_holdout.fill_null(0)
    out["periods_holdout"] = ibis.literal(last - cal_last).cast("int64")
    return j.select(**out).order_by("customer_id")


def discrete_holdout_table(cal_holdout: pd.DataFrame, model: BetaGeoBetaBinomModel,
                           max_frequency: int | None = None) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency, actual and expected (BG/BB check).

    Parameters
    ----------
    cal_holdout : DataFrame
        :func:`discrete_calibration_holdout` output (``frequency_holdout``, ``periods_holdout``).
    model : BetaGeoBetaBinomModel
        Fitted on the calibration columns of ``cal_holdout``.
    max_frequency : int, optional
        Frequencies above it are pooled into one ``max_frequency`` row.

    Returns
    -------
    DataFrame
        ``frequency``, ``customers`` (weighted), ``actual`` and ``expected`` mean purchases per
        customer in the holdout opportunities.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> check = discrete_calibration_holdout(tables["orders"], "2025-07-01", "2026-01-01", period="Q")
    >>> discrete_holdout_table(check, BetaGeoBetaBinomModel().fit(check), max_frequency=4).round(3)
       frequency  customers  actual  expected
    0          0       52.0   0.577     0.590
    1          1       29.0   0.828     0.846
    2          2       18.0   0.944     0.842
    3          3       16.0   1.188     1.127
    4          4        8.0   1.875     1.462
    """
    exprs.require_columns(cal_holdout, "cal_holdout", ("frequency_holdout", "periods_holdout"),
                          hint="pass discrete_calibration_holdout output")
    x, _, _, w = model._data(cal_holdout, "cal_holdout")
    hp = cal_holdout["periods_holdout"].to_numpy(dtype=int)
    exp = np.empty(len(x))
    for k in np.unique(hp):
        sel = hp == k
        exp[sel] = model.expected_purchases(cal_holdout.loc[sel], int(k)).to_numpy()
    f = x if max_frequency is None else np.minimum(x, max_frequency)
    d = pd.DataFrame({"frequency": f.astype(np.int64), "w": w,
                      "a": w * cal_holdout["frequency_holdout"].to_numpy(dtype=float), "e": w * exp})
    g = d.groupby("frequency", sort=True)[["w", "a", "e"]].sum()
    return pd.DataFrame({"frequency": g.index.to_numpy(), "customers": g["w"].to_numpy(),
                         "actual": (g["a"] / g["w"]).to_numpy(), "expected": (g["e"] / g["w"]).to_numpy()})


@engine_function("orders")
def purchase_days_by_date(orders, as_of, *, customer_col: str = "customer_id", date_col: str = "ordered_at",
                          status_col: str | None = "status", statuses: tuple[str, ...] = ("completed",)):
    """Customers who bought on each calendar day (UTC) before ``as_of``, busiest day first.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        The ``orders`` table; with ``status_col`` present only ``statuses`` count.
    as_of : date-like
        Analysis instant (UTC, exclusive).

    Returns
    -------
    DataFrame or ibis.Table
        ``day`` (date) and ``buyers`` (distinct customers that day), sorted by ``buyers``
        descending then ``day``: one row per calendar day with a purchase.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> purchase_days_by_date(tables["orders"], "2026-01-01").head(3)
                            day  buyers
    0 2025-07-11 00:00:00+00:00       9
    1 2025-12-22 00:00:00+00:00       8
    2 2025-11-27 00:00:00+00:00       7
    """
    t = exprs.completed_orders(orders, as_of, date_col=date_col, status_col=status_col, statuses=statuses)
    days = t.select(customer_id=t[customer_col], day=t[date_col].date()).distinct()
    per = days.group_by("day").aggregate(buyers=days.count())
    return per.order_by([ibis.desc("buyers"), "day"])


def occasion_pattern(days: pd.DataFrame, *, max_per_year: int = 12, cover: float = 0.9) -> dict:
    """Whether purchases fall on a few fixed occasions, and the BG/BB period that fits them.

    Parameters
    ----------
    days : DataFrame
        :func:`purchase_days_by_date` (``day``, ``buyers``).
    max_per_year : int
        Most occasions a year that still count as discrete (12: a monthly box).
    cover : float
        Share of the purchase days the occasions must hold to choose the period (0-1).

    Returns
    -------
    dict
        ``share`` — percent of purchase days (customer x day) on the busiest
        ``max_per_year`` days a year of history (near 100 for a yearly appeal, a few percent for
        a shop open every day); ``occasions_per_year`` — 365.25 / the median gap (days) between
        the busiest days that hold ``cover`` of the purchase days; ``period`` — the calendar period
        with about one occasion each: "Y" (up to 1.5 occasions a year), "Q" (3 to 5), "M" (10 to
        14), None otherwise (no calendar period fits, e.g. two appeals a year) or without purchases.

    Examples
    --------
    >>> d = pd.DataFrame({"day": pd.to_datetime(["2020-11-15", "2021-11-15", "2021-03-02"]).date,
    ...                   "buyers": [500, 420, 3]})
    >>> occasion_pattern(d)["period"]
    'Y'
    """
    n = np.asarray(days["buyers"], dtype=float)
    total = n.sum()
    if total <= 0:
        return {"share": 0.0, "occasions_per_year": 0.0, "period": None}
    order = np.argsort(-n, kind="stable")
    n = n[order]
    when = pd.to_datetime(pd.Series(days["day"])).to_numpy()[order]
    years = max((when.max() - when.min()) / np.timedelta64(1, "D") + 1, 365.25) / 365.25
    top = int(np.ceil(max_per_year * years))
    needed = int(np.searchsorted(np.cumsum(n), cover * total - 1e-9) + 1)
    gaps = np.diff(np.sort(when[:needed])) / np.timedelta64(1, "D")
    gap = float(np.median(gaps)) if len(gaps) else 365.25  # days between consecutive occasions
    per_year = 365.25 / max(gap, 1.0)
    # a calendar period with one occasion each: yearly, quarterly or monthly (two appeals a year
    # fit none: half the quarters would count as opportunities missed)
    period = "Y" if per_year <= 1.5 else "Q" if 3.0 <= per_year <= 5.0 else "M" if 10.0 <= per_year <= 14.0 else None
    return {"share": float(100.0 * n[:top].sum() / total), "occasions_per_year": per_year, "period": period}


def occasion_scores(summary: pd.DataFrame, model: BetaGeoBetaBinomModel, n_future: int,
                    discount_rate: float) -> pd.DataFrame:
    """Per customer: probability still active, purchases expected, discounted purchases to come.

    Parameters
    ----------
    summary : DataFrame
        :func:`discrete_summary` output (``customer_id``, ``frequency``, ``recency``, ``periods``).
    model : BetaGeoBetaBinomModel
        Fitted.
    n_future : int
        Opportunities ahead for ``expected_purchases``.
    discount_rate : float
        Discount rate per opportunity (> 0) of ``dert``.

    Returns
    -------
    DataFrame
        ``customer_id``, ``frequency``, ``recency``, ``periods``, ``p_alive`` (0-1, alive for
        the next opportunity), ``expected_purchases`` (purchases in the next ``n_future``
        opportunities), ``dert`` (discounted expected residual purchases, all future
        opportunities); in the order of ``summary``.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> occasions = discrete_summary(tables["orders"], "2026-01-01", period="Q")  # quarters
    >>> model = BetaGeoBetaBinomModel().fit(occasions)
    >>> occasion_scores(occasions, model, n_future=4, discount_rate=0.024).drop(columns=["frequency", "recency"]).head(3).round(3)
      customer_id  periods  p_alive  expected_purchases   dert
    0    C0000001        7    0.112               0.046  0.153
    1    C0000004        6    0.905               2.534  8.281
    2    C0000007        1    0.875               2.355  6.685
    """
    cols = ["customer_id", model.frequency_col, model.recency_col, model.periods_col]
    out = summary[cols].copy()
    out["p_alive"] = model.p_alive(summary).to_numpy()
    out["expected_purchases"] = model.expected_purchases(summary, n_future).to_numpy()
    out["dert"] = model.dert(summary, discount_rate).to_numpy()
    return out.reset_index(drop=True)
