"""Shifted-beta-geometric (sBG) model of contract renewals (Fader & Hardie 2007, 2010).

A customer cancels at the end of each period with probability ``theta`` ~ Beta(``alpha``,
``beta``); the lifetime ``T >= 1`` (periods paid for) has ``P(T = t) = B(alpha + 1, beta + t - 1) /
B(alpha, beta)``, ``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)`` and retention rate
``r_t = (beta + t - 1) / (alpha + beta + t - 1)``, rising with ``t`` as low-``theta`` customers stay.

Data are *renewal histories*, one row per customer (or group, with ``weights``): ``periods`` =
renewals seen (alive at the start of period ``periods + 1``), ``churned`` = 1 when they cancelled
at its end, 0 when still active (right-censored). Log-likelihood: ``sum(churned * log P(T =
periods + 1) + (1 - churned) * log S(periods))`` (Fader & Hardie 2007). Survivor counts
convert with :func:`survivors_to_histories`, a ``subscriptions`` table with
:func:`subscription_histories`. Time is in contract periods (a month, a year). The optimiser and
Hessian standard errors are those of :mod:`crm_research.churn.btyd` (deterministic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research import exprs
from crm_research.churn.btyd import _Fitted, _mle
from crm_research.engine import collect, is_lazy
from crm_research.errors import CRMError, ParameterError

__all__ = ["ShiftedBetaGeoModel", "survivors_to_histories", "subscription_histories", "sbg_holdout", "holdout_periods",
           "project_subscriptions", "projection_error"]

PERIOD_MONTHS = {"M": 1, "Q": 3, "Y": 12}  # months per contract period ("W" = 7 days)


def _numeric(df: pd.DataFrame, table: str, col: str, arg: str, *, integer: bool = True) -> np.ndarray:
    exprs.require_columns(df, table, {arg: col})
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(v) | (v < 0) | ((v != np.round(v)) if integer else False)
    if bad.any():
        kind = "whole numbers >= 0" if integer else "finite and >= 0"
        raise CRMError(f"table {table!r} column {col!r} ({arg}) must be {kind}; {int(bad.sum())} row(s) "
                       f"are not, e.g. index {df.index[bad][:5].tolist()}: fix or drop them")
    return v


def _weights(df: pd.DataFrame, table: str, col: str | None) -> np.ndarray:
    return np.ones(len(df)) if col not in df.columns else _numeric(df, table, col, "weights_col", integer=False)


def _weighted_mle(loglik, cols: list[np.ndarray], w: np.ndarray, start, names, tol) -> dict:
    """:func:`crm_research.churn.btyd._mle` of ``sum(w * loglik(*params, *cols))``: the weight is
    one more column, so each distinct (row, weight) is evaluated once."""
    out = _mle(lambda *args: args[-1] * loglik(*args[:-1]), [*cols, w], start, names, tol)
    out["n_customers_"] = float(w.sum())
    # a parameter at the optimiser's bound (exp(+-10)) is no optimum: e.g. no heterogeneity
    out["converged_"] = bool(out["converged_"] and all(abs(np.log(v)) < 9.99 for v in out["params_"].values()))
    return out


def _sbg_ll(alpha, beta, n, churned):
    """Per-row log-likelihood: log P(T = n + 1) if churned else log S(n)."""
    from scipy import special

    return np.where(churned > 0, special.betaln(alpha + 1, beta + n), special.betaln(alpha, beta + n)) \
        - special.betaln(alpha, beta)


class ShiftedBetaGeoModel(_Fitted):
    """Shifted-beta-geometric model of contract renewals (Fader & Hardie 2007).

    Parameters
    ----------
    periods_col : str
        Renewals seen per row (whole periods, >= 0).
    churned_col : str
        1 when the customer cancelled at the end of period ``periods + 1``, 0 when still active.
    weights_col : str or None
        Customers per row; rows count once when the column is absent or ``None``.
    tol : float
        Relative tolerance of the optimiser on the log-likelihood.

    Attributes
    ----------
    params_, standard_errors_ : dict
        ``alpha``, ``beta`` (dimensionless) of the Beta churn probability, and their standard errors.
    log_likelihood_ : float
        Maximised log-likelihood (natural log, weighted).
    n_customers_ : float
        Total weight of the histories.
    observed_periods_ : int
        Last period the fit data cover (``max(periods + churned)``): the end of the calibration.
    converged_ : bool
        False also when a parameter ran to the optimiser's bound (``exp(10)``): customers do not
        differ, and every one churns with probability about ``alpha / (alpha + beta)``.

    See Also
    --------
    survivors_to_histories, subscription_histories, sbg_holdout

    Examples
    --------
    >>> h = survivors_to_histories(pd.DataFrame({"year": range(8),
    ...     "n": [1000, 631, 468, 382, 326, 289, 262, 241]}), "year", "n")
    >>> m = ShiftedBetaGeoModel().fit(h)
    >>> round(m.params_["alpha"], 3), round(m.params_["beta"], 3)
    (0.704, 1.182)
    """

    _names = ("alpha", "beta")
    _units = ("1", "1")

    def __init__(self, periods_col: str = "periods", churned_col: str = "churned",
                 weights_col: str | None = "weights", tol: float = 1e-11):
        self.periods_col = periods_col
        self.churned_col = churned_col
        self.weights_col = weights_col
        self.tol = tol

    def _data(self, histories: pd.DataFrame, table: str = "histories"):
        if not isinstance(histories, pd.DataFrame):
            raise CRMError(f"{table} must be a pandas DataFrame, got {type(histories).__name__}")
        n = _numeric(histories, table, self.periods_col, "periods_col")
        c = _numeric(histories, table, self.churned_col, "churned_col")
        if (c > 1).any():
            raise CRMError(f"table {table!r} column {self.churned_col!r} must be 0 (active) or 1 "
                           f"(churned); e.g. index {histories.index[c > 1][:5].tolist()} are not")
        return n, c, _weights(histories, table, self.weights_col)

    def fit(self, histories: pd.DataFrame) -> ShiftedBetaGeoModel:
        """Fit by maximum likelihood on renewal histories (``periods``, ``churned``, ``weights``)."""
        n, c, w = self._data(histories)
        if w.sum() <= 0 or not (w[c > 0] > 0).any() or not (w[n > 0] > 0).any():
            raise CRMError("sBG needs histories with some churned customers and some renewals to fit")
        for k, v in _weighted_mle(_sbg_ll, [n, c], w, [1.0, 1.0], self._names, self.tol).items():
            setattr(self, k, v)
        self.observed_periods_ = int(np.max((n + c)[w > 0]))
        return self

    def log_likelihood(self, histories: pd.DataFrame) -> float:
        """Weighted log-likelihood of ``histories`` under the fitted parameters."""
        n, c, w = self._data(histories)
        return float(np.dot(w, _sbg_ll(*self._p(), n, c)))

    def _t(self, t, low: int) -> tuple[float, float, np.ndarray]:
        t = np.asarray(t, dtype=float)
        if np.any((t < low) | (t != np.round(t))):
            raise ParameterError(f"t must be whole periods >= {low}, got {t.tolist()}")
        return *self._p(), t

    def churn_probability(self, t) -> np.ndarray:
        """P(T = t): probability that a new customer cancels at the end of period ``t >= 1``."""
        from scipy import special

        a, b, t = self._t(t, 1)
        return np.exp(special.betaln(a + 1, b + t - 1) - special.betaln(a, b))

    def survival(self, t) -> np.ndarray:
        """S(t) = P(T > t): share of a new cohort still active after ``t >= 0`` periods."""
        from scipy import special

        a, b, t = self._t(t, 0)
        return np.exp(special.betaln(a, b + t) - special.betaln(a, b))

    def retention_rate(self, t) -> np.ndarray:
        """r_t = S(t) / S(t-1) = (beta + t - 1) / (alpha + beta + t - 1), for ``t >= 1``."""
        a, b, t = self._t(t, 1)
        return (b + t - 1) / (a + b + t - 1)

    def projected_survivors(self, periods: int, start: float = 1000) -> pd.Series:
        """Expected survivors of a cohort of ``start`` customers at periods ``0 .. periods``."""
        t = np.arange(int(periods) + 1)
        return pd.Series(start * self.survival(t), index=pd.Index(t, name="period"), name="survivors")

    def derl(self, data: pd.DataFrame, discount_rate: float) -> pd.Series:
        """Discounted expected residual lifetime per row (Fader & Hardie 2010), in periods.

        For an active customer with ``n`` renewals so far (alive in period ``n + 1``, standing just
        before the next renewal decision)::

            DERL = sum_{k>=0} S(n + 1 + k) / S(n) / (1 + d)^k
                 = (beta + n) / (alpha + beta + n) * 2F1(1, beta + n + 1; alpha + beta + n + 1; 1/(1 + d))

        (the paper's ``n - 1`` renewals is our ``n``): the next renewal counts undiscounted, each
        later one ``1/(1+d)`` less; times the margin per period it is the residual value.

        Parameters
        ----------
        data : DataFrame
            Histories (``periods_col``, ``churned_col``); churned rows get 0.
        discount_rate : float
            Discount rate per period ``d > 0`` (e.g. 0.1 a year).

        Returns
        -------
        Series
            DERL in periods, indexed like ``data``.
        """
        from scipy import special

        d = float(discount_rate)
        if not d > 0:
            raise ParameterError(f"discount_rate must be > 0 per period, got {discount_rate}")
        a, b = self._p()
        n, c, _ = self._data(data, "data")
        out = (b + n) / (a + b + n) * special.hyp2f1(1.0, b + n + 1, a + b + n + 1, 1.0 / (1.0 + d))
        return pd.Series(np.where(c > 0, 0.0, out), index=data.index, name="derl")

    def expected_remaining_lifetime(self, data: pd.DataFrame, horizon: int | None = None) -> pd.Series:
        """Expected further renewals per row (periods), capped at ``horizon`` periods if given.

        Without a cap this is ``(beta + n) / (alpha - 1)`` (DERL at ``d = 0``), infinite when
        ``alpha <= 1``: the heavy tail of loyal customers never runs out; pass ``horizon``.
        """
        from scipy import special

        a, b = self._p()
        n, c, _ = self._data(data, "data")
        if horizon is None:
            out = (b + n) / (a - 1) if a > 1 else np.full(len(n), np.inf)
        else:
            k = np.arange(1, int(horizon) + 1)[:, None]
            out = np.exp(special.betaln(a, b + n + k) - special.betaln(a, b + n)).sum(axis=0)
        return pd.Series(np.where(c > 0, 0.0, out), index=data.index, name="expected_remaining_periods")


def survivors_to_histories(survivors: pd.DataFrame, period_col: str, count_col: str) -> pd.DataFrame:
    """Renewal histories of a cohort from its survivor counts at periods ``0, 1, ..., K``.

    The ``s_{t-1} - s_t`` customers lost between periods ``t - 1`` and ``t`` churned after
    ``t - 1`` renewals; the ``s_K`` still there are active after ``K`` renewals.

    Returns a DataFrame of ``periods``, ``churned`` and ``weights`` (customers).

    Examples
    --------
    >>> survivors_to_histories(pd.DataFrame({"year": [0, 1, 2], "n": [1000, 631, 468]}), "year", "n")
       periods  churned  weights
    0        0        1    369.0
    1        1        1    163.0
    2        2        0    468.0
    """
    s = survivors.sort_values(period_col) if period_col in survivors.columns else survivors
    t = _numeric(s, "survivors", period_col, "period_col")
    n = _numeric(s, "survivors", count_col, "count_col", integer=False)
    if len(t) < 2 or (t != np.arange(len(t))).any():
        raise CRMError(f"table 'survivors' column {period_col!r} must be 0, 1, 2, ... without gaps; "
                       f"got {t.astype(int).tolist()}")
    if (np.diff(n) > 0).any():
        raise CRMError(f"table 'survivors' column {count_col!r} must not increase from one period to "
                       f"the next (a cohort only loses customers); got {n.tolist()}")
    k = len(n) - 1
    return pd.DataFrame({"periods": np.r_[np.arange(k), k].astype(np.int64),
                         "churned": np.r_[np.ones(k), 0].astype(np.int64),
                         "weights": np.r_[-np.diff(n), n[-1]]})


def _renewals(start: pd.Series, stop: pd.Series, period: str) -> np.ndarray:
    """Number of ``k >= 1`` with ``start + k periods < stop`` (calendar months, clipped days)."""
    if period == "W":
        days = (stop - start) / pd.Timedelta(days=7)
        return np.maximum(np.ceil(days.to_numpy(dtype=float)) - 1, 0).astype(np.int64)
    step = PERIOD_MONTHS[period]
    months = ((stop.dt.year - start.dt.year) * 12 + stop.dt.month - start.dt.month).to_numpy()
    k = np.maximum(months // step, 0)
    out = [kk - int(s + pd.DateOffset(months=int(kk) * step) >= e) if kk > 0 else 0
           for s, e, kk in zip(start, stop, k, strict=True)]
    return np.maximum(np.asarray(out, dtype=np.int64), 0)


def subscription_histories(subscriptions, as_of, period: str = "M", *, customer_col: str = "customer_id",
                           started_col: str = "started_at", ended_col: str = "ended_at",
                           group_col: str | None = None, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Renewal histories of the subscriptions started before ``as_of`` (input of the sBG model).

    A subscription started at ``s`` renews at ``s + k`` periods (``k >= 1``; calendar months, day
    clipped to the month's end); ``periods`` counts renewals strictly before its end, or before
    ``as_of`` while active (an end on or after ``as_of`` is active). Later starts are left out.

    Parameters
    ----------
    subscriptions : DataFrame or ibis.Table
        The ``subscriptions`` table (``customer_id, started_at, ended_at, plan, mrr``).
    as_of : date-like
        Analysis instant (UTC, exclusive).
    period : {"W", "M", "Q", "Y"}
        Contract period: 7 days, one, three or twelve calendar months.
    customer_col, started_col, ended_col, group_col : str
        Column names (``ended_col`` empty while active); ``group_col`` (e.g. ``plan``) is carried over.
    keep : tuple of str
        Further columns carried over (e.g. ``("mrr",)`` to value the subscriptions).

    Returns
    -------
    DataFrame
        ``customer_id``, ``started_at``, ``periods`` (renewals seen), ``churned`` (0/1), then
        ``group_col`` and ``keep``; sorted by customer and start.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> histories = subscription_histories(tables["subscriptions"], "2026-01-01", period="M", group_col="plan", keep=("mrr",))
    >>> histories[["periods", "churned", "plan"]].head(3)
       periods  churned   plan
    0       18        1   plus
    1       18        0  basic
    2        3        0  basic
    >>> len(histories), int(histories["churned"].sum())
    (45, 19)
    """
    if period != "W" and period not in PERIOD_MONTHS:
        raise ParameterError(f"period must be one of ['W', 'M', 'Q', 'Y'], got {period!r}")
    df = collect(subscriptions) if is_lazy(subscriptions) else subscriptions
    extra = ([group_col] if group_col else []) + [c for c in keep if c != group_col]
    cols = [customer_col, started_col, ended_col] + extra
    exprs.require_columns(df, "subscriptions", cols)
    cut = exprs.parse_as_of(as_of)
    start = pd.to_datetime(df[started_col], utc=True)
    end = pd.to_datetime(df[ended_col], utc=True)
    bad = start.isna() | (end.notna() & (end < start))
    if bad.any():
        raise CRMError(f"table 'subscriptions': {int(bad.sum())} row(s) have no {started_col} or end "
                       f"before they start (customers {df.loc[bad, customer_col].head(5).tolist()}); "
                       "fix or drop them")
    started = (start < cut).to_numpy()
    start, end = start[started], end[started]
    churned = (end.notna() & (end < cut)).to_numpy()
    out = pd.DataFrame({"customer_id": df.loc[started, customer_col].to_numpy(), "started_at": start.to_numpy(),
                        "periods": _renewals(start, end.where(churned, cut), period),
                        "churned": churned.astype(np.int64)})
    for col in extra:
        out[col] = df.loc[started, col].to_numpy()
    return out.sort_values(["customer_id", "started_at"], kind="stable").reset_index(drop=True)


def holdout_periods(histories: pd.DataFrame, *, periods_col: str = "periods",
                    churned_col: str = "churned") -> int | None:
    """Renewal periods to fit :func:`sbg_holdout` on: about half of the longest history (at least 2).

    Returns None when the cut leaves nothing to check: no subscription ended within those
    periods, none renewed, or no history runs past them.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> histories = subscription_histories(tables["subscriptions"], "2026-01-01", period="M", group_col="plan", keep=("mrr",))
    >>> holdout_periods(histories)
    9
    """
    n = histories[periods_col].to_numpy(dtype=float)
    c = histories[churned_col].to_numpy(dtype=float)
    if not len(n):
        return None
    k = max(2, int(n.max()) // 2)
    ended_before = ((c > 0) & (n + 1 <= k)).any()
    return k if ended_before and (n > 0).any() and (n + c > k).any() else None


def sbg_holdout(histories: pd.DataFrame, calibration_periods: int, *, periods_col: str = "periods",
                churned_col: str = "churned", weights_col: str | None = "weights",
                tol: float = 1e-11) -> tuple[ShiftedBetaGeoModel, pd.DataFrame]:
    """Fit sBG on the first ``calibration_periods`` periods and compare with what happened after.

    Each history is cut at ``calibration_periods``: a customer who churned later is active there.
    The actual survival is the discrete Kaplan-Meier estimate of all histories (for one cohort
    observed to the end, the survivor counts divided by the start).

    Returns
    -------
    model : ShiftedBetaGeoModel
        Fitted on the calibration periods.
    table : DataFrame
        One row per period ``0 .. last observed``: ``period``, ``at_risk`` (customers who could
        churn in it), ``churned``, ``actual_survival``, ``model_survival``,
        ``actual_survivors`` and ``projected_survivors`` (scaled to the histories' total weight),
        ``calibration`` (True up to ``calibration_periods``).

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> histories = subscription_histories(tables["subscriptions"], "2026-01-01", period="M", group_col="plan", keep=("mrr",))
    >>> model, check = sbg_holdout(histories, holdout_periods(histories), weights_col=None)
    >>> model    # 45 customers who churn alike: beta at its bound, the geometric limit
    ShiftedBetaGeoModel(weights_col=None); fitted on 45 customers: alpha=1049, beta=2.203e+04; log-likelihood -48.82
    >>> model.converged_
    False
    >>> check[["period", "calibration", "at_risk", "actual_survival", "model_survival"]].tail(2).round(3)
        period  calibration  at_risk  actual_survival  model_survival
    18      18        False      3.0            0.283           0.433
    19      19        False      1.0            0.000           0.413
    """
    k, model = int(calibration_periods), ShiftedBetaGeoModel(periods_col, churned_col, weights_col, tol)
    n, c, w = model._data(histories)
    if k < 1:
        raise ParameterError(f"calibration_periods must be >= 1, got {calibration_periods}")
    seen = (c > 0) & (n + 1 <= k)
    cal = pd.DataFrame({periods_col: np.where(seen, n, np.minimum(n, k)), churned_col: seen.astype(int),
                        **({weights_col: w} if weights_col else {})})
    model.fit(cal)
    last = int(np.max(n + c))
    t = np.arange(1, last + 1)
    at_risk = np.array([w[((c > 0) & (n >= tt - 1)) | ((c == 0) & (n >= tt))].sum() for tt in t])
    lost = np.array([w[(c > 0) & (n == tt - 1)].sum() for tt in t])
    with np.errstate(invalid="ignore", divide="ignore"):
        km = np.r_[1.0, np.cumprod(1 - np.where(at_risk > 0, lost / at_risk, 0.0))]
    periods = np.arange(last + 1)
    fit = model.survival(periods)
    return model, pd.DataFrame({
        "period": periods, "at_risk": np.r_[np.nan, at_risk], "churned": np.r_[np.nan, lost],
        "actual_survival": km, "model_survival": fit, "actual_survivors": w.sum() * km,
        "projected_survivors": w.sum() * fit, "calibration": periods <= k})


def project_subscriptions(histories: pd.DataFrame, *, group_col: str | None = None, horizon: int = 12,
                          discount_rate: float = 0.0, value_col: str | None = None, value_scale: float = 1.0,
                          min_ended: int = 10, total_label: str = "(all)") -> tuple[pd.DataFrame, dict]:
    """The running subscriptions' future by group: renewals to come, share still running, value.

    One sBG model per group (e.g. plan) with at least ``min_ended`` ended subscriptions and some
    renewals; the other groups use the model of all subscriptions together (column ``model``).

    Parameters
    ----------
    histories : DataFrame
        :func:`subscription_histories` output (``periods``, ``churned``, ``group_col``,
        ``value_col``).
    group_col : str, optional
        Column whose groups get a model and a row each.
    horizon : int
        Periods ahead for ``running_after`` (e.g. 12 monthly periods: one year).
    discount_rate : float
        Discount rate per period (> 0 to value the subscriptions; 0 leaves ``value`` empty).
    value_col : str, optional
        Revenue per period of each subscription (e.g. ``mrr`` for monthly periods); ``value``
        is the sum over running subscriptions of revenue x DERL, in that currency.
    value_scale : float
        Multiplies ``value_col`` into revenue per period (3 for a monthly revenue and quarterly
        periods).
    min_ended : int
        Ended subscriptions a group needs for a model of its own.
    total_label : str
        ``group`` of the last row, all subscriptions together (and key of its model).

    Returns
    -------
    table : DataFrame
        One row per group and a last row ``total_label``: ``group``, ``model`` ("own" / "all
        subscriptions"), ``subscriptions``, ``running``, ``ended``, ``alpha``, ``beta``,
        ``polarization`` (1 / (alpha + beta + 1), 0-1: near 0 when the group's subscribers all
        churn with about the same probability, near 1 when some leave at once and others stay),
        ``churn_next`` (expected share of the running ones that end at their next renewal),
        ``running_after`` (expected number still running after ``horizon`` periods),
        ``running_after_share``, ``renewals_to_come`` (expected renewals within ``horizon``),
        ``value`` (discounted expected revenue of the running subscriptions, NaN without
        ``value_col`` or with ``discount_rate`` 0).
    models : dict
        Fitted :class:`ShiftedBetaGeoModel` by group, and ``total_label``.

    See Also
    --------
    ShiftedBetaGeoModel.derl, ShiftedBetaGeoModel.expected_remaining_lifetime

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> histories = subscription_histories(tables["subscriptions"], "2026-01-01", period="M", group_col="plan", keep=("mrr",))
    >>> table, models = project_subscriptions(histories, group_col="plan", horizon=12, discount_rate=0.008,
    ...                                       value_col="mrr", total_label="All plans")
    >>> table[["group", "running", "churn_next", "running_after", "value"]].round(2)
           group  running  churn_next  running_after    value
    0      basic       14        0.06           6.63  1936.75
    1       plus        4        0.06           1.94  1142.46
    2    premium        8        0.06           3.88  4571.25
    3  All plans       26        0.06          12.45  7650.47
    """
    from scipy import special

    h = int(horizon)
    if h < 1:
        raise ParameterError(f"horizon must be >= 1 period, got {horizon}")
    pooled = ShiftedBetaGeoModel(weights_col=None).fit(histories)
    models: dict = {total_label: pooled}
    groups = [] if group_col is None else list(histories.groupby(group_col, sort=True, dropna=False))
    groups.append((None, histories))  # the last row: all subscriptions
    rows = []
    for name, part in groups:
        # a group of its own needs enough ended subscriptions and some renewals (a trial plan whose
        # subscriptions all end in their first period has none: it takes the model of all)
        own = name is None or (int(part["churned"].sum()) >= min_ended and bool((part["periods"] > 0).any()))
        model = (pooled if name is None else ShiftedBetaGeoModel(weights_col=None).fit(part)) if own else pooled
        name = total_label if name is None else name
        models[name] = model
        running = part[part["churned"] == 0]
        a, b = model._p()
        n = running["periods"].to_numpy(dtype=float)
        still = np.exp(special.betaln(a, b + n + h) - special.betaln(a, b + n))
        value = np.nan
        if value_col is not None and discount_rate > 0:
            value = float((value_scale * running[value_col].to_numpy(dtype=float) * model.derl(running, discount_rate)).sum())
        rows.append({
            "group": name, "model": "own" if own else "all subscriptions", "subscriptions": len(part),
            "running": len(running), "ended": int(part["churned"].sum()), "alpha": a, "beta": b,
            "polarization": 1.0 / (a + b + 1.0),
            "churn_next": float(np.mean(1 - (b + n) / (a + b + n))) if len(n) else np.nan,
            "running_after": float(still.sum()), "running_after_share": float(still.mean()) if len(n) else np.nan,
            "renewals_to_come": float(model.expected_remaining_lifetime(running, horizon=h).sum()), "value": value})
    if group_col is not None:  # the total of the groups, each by its own model
        total = pd.DataFrame(rows[:-1])
        rows[-1].update(running_after=float(total["running_after"].sum()),
                        renewals_to_come=float(total["renewals_to_come"].sum()),
                        value=float(total["value"].sum()) if total["value"].notna().all() else np.nan)
        rows[-1]["running_after_share"] = rows[-1]["running_after"] / max(rows[-1]["running"], 1)
    return pd.DataFrame(rows), models


def projection_error(renewal_check: pd.DataFrame | None, *, min_at_risk: int = 30,
                     optimism: float = 0.02) -> tuple[float | None, bool]:
    """How far the :func:`sbg_holdout` projection strayed from the real share still running, after the fit.

    Parameters
    ----------
    renewal_check : DataFrame or None
        :func:`sbg_holdout`'s table (``calibration``, ``at_risk``, ``model_survival``,
        ``actual_survival``); None when there was no check.
    min_at_risk : int
        Only periods with at least this many subscriptions that could still end count.
    optimism : float
        Mean gap (share, 0-1) above which the projection counts as running above the real share.

    Returns
    -------
    (float or None, bool)
        The largest absolute gap (share, 0-1) between projected and real share in the counted
        periods after the calibration (None when there are none), and whether the projection ran
        above the real share on average (by more than ``optimism``).

    Examples
    --------
    >>> check = pd.DataFrame({"calibration": [True, False, False], "at_risk": [100, 80, 10],
    ...                       "model_survival": [0.9, 0.7, 0.5], "actual_survival": [0.9, 0.65, 0.2]})
    >>> error, optimistic = projection_error(check)
    >>> round(error, 2), optimistic
    (0.05, True)
    """
    if renewal_check is None:
        return None, False
    late = renewal_check[~renewal_check["calibration"] & (renewal_check["at_risk"] >= min_at_risk)]
    gap = late["model_survival"] - late["actual_survival"]  # projected minus real share still running
    error = float(gap.abs().max()) if len(late) else None
    return error, bool(len(late) and gap.mean() > optimism)
