"""Survival analysis of churn with lifelines: Kaplan-Meier, log-rank tests and Cox regression.

Inputs are the duration/event tables of :mod:`crm_research.churn.definitions` (one row per
subscription or customer, ``duration_days`` and ``event``, right-censored at ``as_of``) joined
with covariates (:func:`customer_covariates`). Durations and times are in **days**.

Nothing here prints: lifelines' ``check_assumptions`` (which prints advice) is replaced by
:meth:`CoxModel.ph_check`, which returns the Schoenfeld-residual test as a table.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence

import ibis
import numpy as np
import pandas as pd

from crm_research import exprs
from crm_research.engine import collect, engine_function, is_lazy
from crm_research.errors import CRMError, ParameterError

__all__ = [
    "customer_covariates",
    "first_order_promo",
    "split_by_customer",
    "kaplan_meier",
    "km_summary",
    "logrank_tests",
    "CoxModel",
    "cox_with_holdout",
    "covariate_label",
]


# --------------------------------------------------------------------------------------------
# covariates and splits
# --------------------------------------------------------------------------------------------


@engine_function("orders")
def first_order_promo(orders, as_of, *, customer_col: str = "customer_id",
                      date_col: str = "ordered_at", promo_col: str = "promo_code",
                      status_col: str | None = "status", statuses: tuple[str, ...] = ("completed",)):
    """Whether each customer's first order (before ``as_of``) used a promotion code.

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``first_order_promo`` (bool). Sorted by ``customer_id``. Ties on the
        first timestamp are broken by the promo flag (a promo wins), deterministically.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> promo = first_order_promo(tables["orders"], "2026-01-01")
    >>> len(promo), int(promo["first_order_promo"].sum())
    (173, 8)
    """
    exprs.require_columns(orders, "orders", {"customer_col": customer_col, "date_col": date_col,
                                             "promo_col": promo_col})
    t = exprs.completed_orders(orders, as_of, date_col=date_col, status_col=status_col, statuses=statuses)
    promo = exprs.flag(t[promo_col].notnull() & (t[promo_col] != ""))
    first = t.group_by(customer_id=t[customer_col]).aggregate(first_at=t[date_col].min())
    j = t.select(cid=t[customer_col], at=t[date_col], promo=promo)
    j = j.inner_join(first, (j.cid == first.customer_id) & (j.at == first.first_at))
    g = j.group_by("customer_id").aggregate(first_order_promo=j.promo.max() > ibis.literal(0))
    return g.order_by("customer_id")


@engine_function("orders")
def _buyers(orders, as_of, *, status_col: str = "status", statuses: tuple[str, ...] = ("completed",)):
    """Distinct ``customer_id`` of the purchases before ``as_of``."""
    t = exprs.completed_orders(orders, as_of, date_col="ordered_at", status_col=status_col, statuses=statuses)
    return t.select("customer_id").distinct().order_by("customer_id")


def customer_covariates(tables: Mapping[str, object], as_of) -> pd.DataFrame:
    """Per-customer covariates known at ``as_of`` for survival models.

    Parameters
    ----------
    tables : mapping of str to DataFrame or ibis.Table
        ``orders`` (required) and, when the data has it, ``customers`` (``customer_id`` and
        any of ``age``, ``region``, ``acquisition_channel``).
    as_of : date-like
        Cut-off (UTC, exclusive).

    Returns
    -------
    DataFrame
        ``customer_id``, the customer columns present among ``age`` (years), ``region``,
        ``acquisition_channel``, and ``first_order_promo`` (bool; False for contacts without an
        order before ``as_of``; absent when the orders have no ``promo_code`` column, which the
        data model makes optional). Without a ``customers`` table (absent or ``None``) the rows
        are the buyers before ``as_of``, with no customer columns. Sorted by ``customer_id``.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> cov = customer_covariates(tables, "2026-01-01")
    >>> cov.columns.tolist()
    ['customer_id', 'age', 'region', 'acquisition_channel', 'first_order_promo']
    >>> len(cov)
    496
    """
    if tables.get("orders") is None:
        raise CRMError(f"customer_covariates needs the 'orders' table; got {sorted(tables)}")
    if tables.get("customers") is not None:
        cust = tables["customers"]
        exprs.require_columns(cust, "customers", ["customer_id"])
        cols = ["customer_id"] + [c for c in ("age", "region", "acquisition_channel") if c in cust.columns]
        if is_lazy(cust):  # the engine sends these columns only; ages as the pandas loader types them
            out = collect(cust.select(*cols))
            if "age" in out.columns:
                out["age"] = out["age"].astype("Int64")
        else:
            out = cust[cols].copy()
    else:
        out = collect(_buyers(tables["orders"], as_of))
    if "promo_code" in tables["orders"].columns:
        promo = collect(first_order_promo(tables["orders"], as_of))
        out = out.merge(promo, on="customer_id", how="left")
        out["first_order_promo"] = out["first_order_promo"].astype("boolean").fillna(False).astype(bool)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def split_by_customer(df: pd.DataFrame, test_share: float = 0.3, seed: int = 0,
                      customer_col: str = "customer_id") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into train and test by customer: every row of a customer lands on one side.

    Parameters
    ----------
    test_share : float
        Share of customers in the test part (0 < share < 1).
    seed : int
        Seed of the random assignment (same seed and customers, same split).

    Returns
    -------
    train, test : DataFrame

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": [1, 1, 2, 3, 4, 5, 6, 7, 8, 9], "x": range(10)})
    >>> train, test = split_by_customer(df, test_share=0.3, seed=1)
    >>> len(train), len(test), set(train["customer_id"]) & set(test["customer_id"])
    (6, 4, set())
    """
    if not 0 < test_share < 1:
        raise ParameterError(f"test_share must be in (0, 1), got {test_share!r}")
    exprs.require_columns(df, "durations", {"customer_col": customer_col})
    ids = np.sort(df[customer_col].astype(str).unique())
    rng = np.random.default_rng(seed)
    n_test = int(round(test_share * len(ids)))
    test_ids = set(ids[rng.permutation(len(ids))[:n_test]])
    is_test = df[customer_col].astype(str).isin(test_ids).to_numpy()
    return df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank
# --------------------------------------------------------------------------------------------


def _check_surv(df: pd.DataFrame, duration_col: str, event_col: str, group_col: str | None = None,
                table: str = "durations") -> None:
    need = [duration_col, event_col] + ([group_col] if group_col else [])
    exprs.require_columns(df, table, need)
    d = pd.to_numeric(df[duration_col], errors="coerce")
    bad = d.isna() | (d < 0)
    if bad.any():
        raise CRMError(f"table {table!r} column {duration_col!r} must be >= 0 days; "
                       f"{int(bad.sum())} row(s) are not, e.g. index {df.index[bad][:5].tolist()}")
    e = df[event_col]
    if not e.isin([0, 1, True, False]).all():
        raise CRMError(f"table {table!r} column {event_col!r} must be 0/1")
    if len(df) == 0:
        raise CRMError(f"table {table!r} is empty")


def _groups(df: pd.DataFrame, group_col: str | None):
    if group_col is None:
        yield "all", df
    else:
        for g in sorted(df[group_col].dropna().unique(), key=str):
            yield g, df[df[group_col] == g]


def kaplan_meier(df: pd.DataFrame, duration_col: str = "duration_days", event_col: str = "event",
                 group_col: str | None = None, times: Sequence[float] | None = None,
                 alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier survival curves, one per group, as a long table.

    Parameters
    ----------
    df : DataFrame
        Duration (days) and event (0/1) per subject, optionally a group column.
    group_col : str, optional
        One curve per value (sorted); ``None`` gives one curve labelled ``"all"``.
    times : sequence of float, optional
        Days at which to read the curves (step function); default every distinct duration.
    alpha : float
        1 - confidence level of the (exponential Greenwood) band.

    Returns
    -------
    DataFrame
        ``group``, ``time_days``, ``survival`` (probability), ``ci_lower``, ``ci_upper``,
        ``at_risk`` (subjects still at risk just before ``time_days``).

    Examples
    --------
    >>> df = pd.DataFrame({"duration_days": [10, 20, 20, 30, 40], "event": [1, 1, 0, 1, 0]})
    >>> kaplan_meier(df, times=[0, 15, 25, 35])[["group", "time_days", "survival", "at_risk"]]
      group  time_days  survival  at_risk
    0   all        0.0       1.0        5
    1   all       15.0       0.8        4
    2   all       25.0       0.6        2
    3   all       35.0       0.3        1
    """
    from lifelines import KaplanMeierFitter

    _check_surv(df, duration_col, event_col, group_col)
    parts = []
    for g, sub in _groups(df, group_col):
        kmf = KaplanMeierFitter(alpha=alpha).fit(sub[duration_col].astype(float),
                                                 sub[event_col].astype(int))
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        at_risk = kmf.event_table["at_risk"].reindex(sf.index)
        tl = sf.index.to_numpy(dtype=float)
        if times is None:
            pos = np.arange(len(tl))
            t_out = tl
        else:
            t_out = np.asarray(times, dtype=float)
            pos = np.searchsorted(tl, t_out, side="right") - 1
        pos_c = np.clip(pos, 0, len(tl) - 1)
        before = pos < 0
        n_risk = at_risk.to_numpy(dtype=float)
        if times is None:
            risk_out = n_risk
        else:
            # at risk just before t: subjects with duration >= t
            durs = np.sort(sub[duration_col].to_numpy(dtype=float))
            risk_out = len(durs) - np.searchsorted(durs, t_out, side="left")
        parts.append(pd.DataFrame({
            "group": g,
            "time_days": t_out,
            "survival": np.where(before, 1.0, sf.to_numpy()[pos_c]),
            "ci_lower": np.where(before, 1.0, ci.iloc[:, 0].to_numpy()[pos_c]),
            "ci_upper": np.where(before, 1.0, ci.iloc[:, 1].to_numpy()[pos_c]),
            "at_risk": risk_out.astype(np.int64),
        }))
    return pd.concat(parts, ignore_index=True)


def km_summary(df: pd.DataFrame, duration_col: str = "duration_days", event_col: str = "event",
               group_col: str | None = None, at: Sequence[float] = (90, 180, 365)) -> pd.DataFrame:
    """Per group: subjects, events, median survival and survival at chosen days.

    Returns
    -------
    DataFrame
        ``group``, ``n``, ``events``, ``median_days`` (NaN when the curve stays above 0.5),
        ``survival_<d>d`` for each ``d`` in ``at`` (probability).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"customer_id": range(400), "plan": rng.choice(["basic", "plus"], 400),
    ...                    "age": rng.normal(40, 10, 400)})
    >>> life = rng.exponential(np.where(df["plan"] == "plus", 150.0, 300.0))  # plus customers leave twice as fast
    >>> df["event"], df["duration_days"] = (life < 365).astype(int), np.minimum(life, 365)  # days, censored at 365
    >>> km_summary(df, group_col="plan", at=(90, 180)).round(2)
       group    n  events  median_days  survival_90d  survival_180d
    0  basic  179     131       220.37          0.76           0.60
    1   plus  221     202        93.66          0.53           0.29
    """
    from lifelines import KaplanMeierFitter

    _check_surv(df, duration_col, event_col, group_col)
    rows = []
    for g, sub in _groups(df, group_col):
        kmf = KaplanMeierFitter().fit(sub[duration_col].astype(float), sub[event_col].astype(int))
        med = float(kmf.median_survival_time_)
        row = {"group": g, "n": int(len(sub)), "events": int(sub[event_col].sum()),
               "median_days": med if np.isfinite(med) else np.nan}
        sf = kmf.survival_function_.iloc[:, 0]
        tl = sf.index.to_numpy(dtype=float)
        for d in at:
            pos = np.searchsorted(tl, float(d), side="right") - 1
            row[f"survival_{d:g}d"] = 1.0 if pos < 0 else float(sf.iloc[pos])
        rows.append(row)
    return pd.DataFrame(rows)


def logrank_tests(df: pd.DataFrame, duration_col: str = "duration_days", event_col: str = "event",
                  group_col: str = "group") -> pd.DataFrame:
    """Log-rank tests: all groups at once, then every pair (with Holm-adjusted p-values).

    Returns
    -------
    DataFrame
        ``test`` (``"all groups"`` or ``"pair"``), ``group_a``, ``group_b``, ``test_statistic``
        (chi-squared), ``degrees_of_freedom``, ``p_value``, ``p_value_holm`` (pairs: Holm
        correction over the pairs; the overall test: its own p-value).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"customer_id": range(400), "plan": rng.choice(["basic", "plus"], 400),
    ...                    "age": rng.normal(40, 10, 400)})
    >>> life = rng.exponential(np.where(df["plan"] == "plus", 150.0, 300.0))  # plus customers leave twice as fast
    >>> df["event"], df["duration_days"] = (life < 365).astype(int), np.minimum(life, 365)  # days, censored at 365
    >>> tests = logrank_tests(df, group_col="plan")
    >>> tests[["test", "group_a", "group_b"]].assign(below_1_in_1000=tests["p_value"] < 0.001)
             test group_a group_b  below_1_in_1000
    0  all groups     all     all             True
    1        pair   basic    plus             True
    """
    from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test

    _check_surv(df, duration_col, event_col, group_col)
    d = df.dropna(subset=[group_col])
    groups = sorted(d[group_col].unique(), key=str)
    if len(groups) < 2:
        raise CRMError(f"log-rank needs at least two groups in {group_col!r}, found {groups}")
    g = d[group_col].map({v: i for i, v in enumerate(groups)}).to_numpy()
    dur = d[duration_col].astype(float).to_numpy()
    ev = d[event_col].astype(int).to_numpy()
    overall = multivariate_logrank_test(dur, g, ev)
    rows = [{"test": "all groups", "group_a": "all", "group_b": "all",
             "test_statistic": float(overall.test_statistic),
             "degrees_of_freedom": int(len(groups) - 1), "p_value": float(overall.p_value)}]
    pw = pairwise_logrank_test(dur, g, ev).summary
    for (i, j), r in pw.iterrows():
        rows.append({"test": "pair", "group_a": groups[int(i)], "group_b": groups[int(j)],
                     "test_statistic": float(r["test_statistic"]), "degrees_of_freedom": 1,
                     "p_value": float(r["p"])})
    out = pd.DataFrame(rows)
    out["p_value_holm"] = out["p_value"]
    pair = out["test"] == "pair"
    out.loc[pair, "p_value_holm"] = _holm(out.loc[pair, "p_value"].to_numpy())
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


# --------------------------------------------------------------------------------------------
# Cox proportional hazards
# --------------------------------------------------------------------------------------------


class CoxModel:
    """Cox proportional-hazards model of churn (lifelines ``CoxPHFitter``, Breslow baseline).

    Parameters
    ----------
    covariates : sequence of str
        Covariate columns. Booleans become 0/1; columns in ``categorical`` become indicators.
    categorical : mapping of str to str, optional
        Categorical covariate -> reference level. The other levels become indicator columns
        named ``<col>_<level>`` (hazard ratios versus the reference).
    per : mapping of str to float, optional
        Numeric covariate -> unit of its hazard ratio: ``{"age": 10}`` models ``age / 10`` as
        ``age_per_10`` (hazard ratio per 10 years).
    duration_col, event_col : str
        Duration (days) and event (0/1) columns.
    penalizer : float
        L2 penalty of lifelines (0 = plain partial likelihood).
    alpha : float
        1 - confidence level of the intervals, and the PH-check significance level.

    Attributes
    ----------
    fitter_ : lifelines.CoxPHFitter
    design_columns_ : list of str
        Model columns after encoding.
    n_subjects_, n_events_, n_dropped_ : int
        Rows used, events among them, rows dropped for missing covariates.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"customer_id": range(400), "plan": rng.choice(["basic", "plus"], 400),
    ...                    "age": rng.normal(40, 10, 400)})
    >>> life = rng.exponential(np.where(df["plan"] == "plus", 150.0, 300.0))  # plus customers leave twice as fast
    >>> df["event"], df["duration_days"] = (life < 365).astype(int), np.minimum(life, 365)  # days, censored at 365
    >>> cox = CoxModel(["plan", "age"], categorical={"plan": "basic"}, per={"age": 10}).fit(df)
    >>> cox
    CoxModel(['plan', 'age'], categorical={'plan': 'basic'}, per={'age': 10}); fitted on 400 subjects, 333 events
    >>> cox.summary().set_index("covariate")["hazard_ratio"].round(2)
    covariate
    plan_plus     2.07
    age_per_10    1.01
    Name: hazard_ratio, dtype: float64
    """

    def __init__(self, covariates: Sequence[str], categorical: Mapping[str, str] | None = None,
                 per: Mapping[str, float] | None = None, duration_col: str = "duration_days",
                 event_col: str = "event", penalizer: float = 0.0, alpha: float = 0.05):
        self.covariates = list(covariates)
        self.categorical = dict(categorical or {})
        self.per = dict(per or {})
        self.duration_col = duration_col
        self.event_col = event_col
        self.penalizer = penalizer
        self.alpha = alpha

    def __repr__(self) -> str:
        """Constructor parameters that differ from their defaults, then the fit's size."""
        args = [f"{self.covariates!r}"] + [f"{k}={v!r}" for k, v, default in (
            ("categorical", self.categorical, {}), ("per", self.per, {}), ("duration_col", self.duration_col, "duration_days"),
            ("event_col", self.event_col, "event"), ("penalizer", self.penalizer, 0.0), ("alpha", self.alpha, 0.05))
            if v != default]
        fitted = (f"; fitted on {self.n_subjects_:,} subjects, {self.n_events_:,} events"
                  if hasattr(self, "fitter_") else "")
        return f"{type(self).__name__}({', '.join(args)}){fitted}"

    # -- design ---------------------------------------------------------------------------------
    def _design(self, df: pd.DataFrame, fitting: bool) -> tuple[pd.DataFrame, np.ndarray]:
        exprs.require_columns(df, "durations", self.covariates, hint="pass the covariates the model was built with")
        cols = {}
        for c in self.covariates:
            s = df[c]
            if c in self.categorical:
                ref = self.categorical[c]
                if fitting:
                    levels = sorted(str(v) for v in s.dropna().unique())
                    if ref not in levels:
                        raise CRMError(f"reference level {ref!r} of {c!r} not found; levels: {levels}")
                    self._levels[c] = [v for v in levels if v != ref]
                sv = s.astype("string")
                for lev in self._levels[c]:
                    cols[f"{c}_{lev}"] = (sv == lev).astype(float).where(sv.notna())
            elif pd.api.types.is_bool_dtype(s):
                cols[c] = s.astype(float)
            elif c in self.per:
                cols[f"{c}_per_{self.per[c]:g}"] = pd.to_numeric(s, errors="coerce") / float(self.per[c])
            else:
                v = pd.to_numeric(s, errors="coerce")
                if v.isna().all() and s.notna().any():
                    raise CRMError(f"covariate {c!r} is not numeric: list it in categorical=")
                cols[c] = v.astype(float)
        X = pd.DataFrame(cols, index=df.index)
        ok = X.notna().all(axis=1).to_numpy()
        return X, ok

    def fit(self, df: pd.DataFrame) -> CoxModel:
        """Fit on one row per subject (duration, event, covariates); rows with a missing
        covariate are dropped (counted in ``n_dropped_``)."""
        from lifelines import CoxPHFitter

        _check_surv(df, self.duration_col, self.event_col)
        self._levels: dict[str, list[str]] = {}
        X, ok = self._design(df, fitting=True)
        const = [c for c in X.columns if X.loc[ok, c].nunique() < 2]
        if const:
            raise CRMError(f"covariate column(s) {const} are constant in the data: drop them")
        data = X[ok].copy()
        data["_duration"] = df.loc[ok, self.duration_col].astype(float).to_numpy()
        data["_event"] = df.loc[ok, self.event_col].astype(int).to_numpy()
        if data["_event"].sum() == 0:
            raise CRMError("no events in the data: the Cox model cannot be fitted")
        self.fitter_ = CoxPHFitter(penalizer=self.penalizer, alpha=self.alpha)
        self.fitter_.fit(data, duration_col="_duration", event_col="_event")
        self._train = data
        self.design_columns_ = list(X.columns)
        self.n_subjects_ = int(len(data))
        self.n_events_ = int(data["_event"].sum())
        self.n_dropped_ = int((~ok).sum())
        return self

    def _require_fit(self):
        if not hasattr(self, "fitter_"):
            raise CRMError("CoxModel is not fitted: call fit(df) first")

    def summary(self) -> pd.DataFrame:
        """Hazard ratios: ``covariate``, ``coef`` (log hazard ratio), ``se``, ``hazard_ratio``,
        ``hr_lower``, ``hr_upper`` (confidence interval at 1 - alpha), ``z``, ``p_value``."""
        self._require_fit()
        s = self.fitter_.summary
        lo, hi = [c for c in s.columns if c.startswith("exp(coef) lower")][0], \
            [c for c in s.columns if c.startswith("exp(coef) upper")][0]
        return pd.DataFrame({
            "covariate": list(s.index),
            "coef": s["coef"].to_numpy(),
            "se": s["se(coef)"].to_numpy(),
            "hazard_ratio": s["exp(coef)"].to_numpy(),
            "hr_lower": s[lo].to_numpy(),
            "hr_upper": s[hi].to_numpy(),
            "z": s["z"].to_numpy(),
            "p_value": s["p"].to_numpy(),
        })

    def ph_check(self, time_transform: str = "rank") -> pd.DataFrame:
        """Proportional-hazards check on the training data (scaled Schoenfeld residuals).

        Returns
        -------
        DataFrame
            ``covariate``, ``test_statistic`` (chi-squared, 1 df), ``p_value``, ``ph_violated``
            (``p_value < alpha``). With tens of thousands of subjects the test flags deviations
            too small to matter: read it with the Kaplan-Meier curves (log-log plot).
        """
        from lifelines.statistics import proportional_hazard_test

        self._require_fit()
        # lifelines 0.30 grows the residuals with np.append, row by row: quadratic in the subjects
        # (132 s for 167k customers); the same arithmetic gathered once is linear (the same bits).
        # CoxPHFitter hands the work to its semi-parametric model (``_model``): patch that one.
        inner = vars(self.fitter_).get("_model", self.fitter_)
        inner._compute_schoenfeld_within_strata = types.MethodType(_schoenfeld_within_strata, inner)
        try:
            res = proportional_hazard_test(self.fitter_, self._train, time_transform=time_transform)
        finally:
            del inner._compute_schoenfeld_within_strata
        s = res.summary
        names = [i[0] if isinstance(i, tuple) else i for i in s.index]
        return pd.DataFrame({
            "covariate": names,
            "test_statistic": s["test_statistic"].to_numpy(dtype=float),
            "p_value": s["p"].to_numpy(dtype=float),
            "ph_violated": s["p"].to_numpy(dtype=float) < self.alpha,
        })

    def _X(self, df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        self._require_fit()
        X, ok = self._design(df, fitting=False)
        return X, ok

    def partial_hazard(self, df: pd.DataFrame) -> np.ndarray:
        """Relative hazard ``exp((x - mean) beta)`` per row (NaN where a covariate is missing)."""
        X, ok = self._X(df)
        out = np.full(len(df), np.nan)
        if ok.any():
            out[ok] = self.fitter_.predict_partial_hazard(X[ok]).to_numpy()
        return out

    def concordance(self, df: pd.DataFrame) -> float:
        """Harrell's concordance index on ``df`` (e.g. held-out customers): the probability
        that, of two comparable subjects, the one with the higher hazard churns first."""
        from lifelines.utils import concordance_index

        _check_surv(df, self.duration_col, self.event_col)
        h = self.partial_hazard(df)
        ok = np.isfinite(h)
        return float(concordance_index(df.loc[ok, self.duration_col].astype(float), -h[ok],
                                       df.loc[ok, self.event_col].astype(int)))

    def survival_curves(self, df: pd.DataFrame, times: Sequence[float],
                        conditional: bool = True) -> pd.DataFrame:
        """Survival curve per row at ``times`` days from now.

        Parameters
        ----------
        times : sequence of float
            Days ahead.
        conditional : bool
            True: conditional on having survived ``duration_col`` days already (for active
            subjects: P(still active ``t`` days after ``as_of``)). False: from the start.

        Returns
        -------
        DataFrame
            One row per row of ``df`` (same index), one column per time (``t`` days).
            Beyond the longest observed duration the baseline is held flat (lifelines).
        """
        X, ok = self._X(df)
        t = np.asarray(times, dtype=float)
        out = pd.DataFrame(np.nan, index=df.index, columns=t)
        if ok.any():
            cond = df.loc[ok, self.duration_col].astype(float).to_numpy() if conditional else None
            sf = self.fitter_.predict_survival_function(X[ok].reset_index(drop=True), times=t,
                                                        conditional_after=cond)
            out.loc[ok] = sf.to_numpy().T
        return out

    def expected_remaining_lifetime(self, df: pd.DataFrame, horizon_days: float = 365.0,
                                    chunk: int = 5000) -> np.ndarray:
        """Restricted mean remaining lifetime (days) within ``horizon_days``, per row.

        ``E[min(T - d, tau) | T > d] = integral_0^tau S(d + u) / S(d) du`` where ``d`` is the
        duration already survived (``duration_col``), integrated on a one-day grid (right
        Riemann sum of the step function: exact to within a day). A finite ``tau`` keeps the
        figure inside the observed follow-up, where the Breslow baseline is estimated.
        """
        if not horizon_days > 0:
            raise ParameterError(f"horizon_days must be > 0, got {horizon_days!r}")
        grid = np.arange(1.0, float(np.floor(horizon_days)) + 1.0)
        out = np.empty(len(df))
        for start in range(0, len(df), chunk):
            part = df.iloc[start:start + chunk]
            s = self.survival_curves(part, grid, conditional=True).to_numpy()
            out[start:start + chunk] = s.sum(axis=1)
        return out


def _schoenfeld_within_strata(self, X, T, E, weights, entries) -> np.ndarray:
    """lifelines' ``CoxPHFitter._compute_schoenfeld_within_strata`` (0.30, Efron ties), its rows
    gathered in a list and stacked once instead of ``np.append``-ed one by one (quadratic).

    The arithmetic of every row is lifelines' own, in its order, so the residuals are the same
    bits. Rows come back in the order of ``X`` (sorted by duration, as lifelines passes them).
    """
    X, E, T, weights = X.values, E.values, T.values, weights.values
    n, d = X.shape
    if not np.any(E):
        return np.zeros((n, d))
    risk_phi, tie_phi = 0, 0
    risk_phi_x, tie_phi_x = np.zeros((1, d)), np.zeros((1, d))
    tie_count = 0
    scores = weights * np.exp(np.dot(X, self.params_))
    diff_against = []
    rows = []  # residuals from the last row backwards, as lifelines appends them
    zero = np.zeros((1, d))
    for i in range(n - 1, -1, -1):
        ti, ei, xi = T[i], E[i], X[i:i + 1]
        phi_i = scores[i:i + 1]
        phi_x_i = phi_i * xi
        risk_phi = risk_phi + phi_i
        risk_phi_x = risk_phi_x + phi_x_i
        diff_against.append((xi, ei))
        if ei:
            tie_phi = tie_phi + phi_i
            tie_phi_x = tie_phi_x + phi_x_i
            tie_count += 1
        if i > 0 and T[i - 1] == ti:
            continue
        if tie_count == 0:
            rows.extend(zero for _ in diff_against)
            diff_against = []
            continue
        weighted_mean = np.zeros((1, d))
        for k in range(tie_count):
            numer = risk_phi_x - k * tie_phi_x / tie_count
            denom = risk_phi - k * tie_phi / tie_count
            weighted_mean += numer / (denom * tie_count)
        rows.extend(ej * (xj - weighted_mean) for xj, ej in diff_against)
        tie_count = 0
        tie_phi = 0
        tie_phi_x = np.zeros((1, d))
        diff_against = []
    return np.concatenate(rows, axis=0)[::-1] if rows else np.empty((0, d))


def cox_with_holdout(df: pd.DataFrame, covariates: Sequence[str], categorical: Mapping[str, str] | None = None,
                     *, per: Mapping[str, float] | None = None, test_share: float = 0.3,
                     seed: int = 0) -> tuple[CoxModel, pd.DataFrame, dict]:
    """Fit a Cox model for reporting: hazard ratios with the PH check, and held-out concordance.

    The concordance comes from a model fitted on ``1 - test_share`` of the customers and scored
    on the rest (:func:`split_by_customer`); the hazard ratios and PH check come from a model
    fitted on everyone.

    Parameters
    ----------
    df : DataFrame
        One row per subject with ``duration_days`` (days), ``event`` (0/1) and the covariates.
    covariates, categorical, per
        As in :class:`CoxModel`.
    test_share : float
        Share of customers held out for the concordance (0-1).
    seed : int
        Seed of the split.

    Returns
    -------
    model : CoxModel
        Fitted on all rows.
    table : DataFrame
        :meth:`CoxModel.summary` with the PH check per covariate (``ph_statistic``,
        ``ph_p_value`` and the check's other columns).
    fit : dict
        ``subjects``, ``events``, ``dropped_missing_covariates`` and ``held_out_concordance``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"customer_id": range(400), "plan": rng.choice(["basic", "plus"], 400),
    ...                    "age": rng.normal(40, 10, 400)})
    >>> life = rng.exponential(np.where(df["plan"] == "plus", 150.0, 300.0))  # plus customers leave twice as fast
    >>> df["event"], df["duration_days"] = (life < 365).astype(int), np.minimum(life, 365)  # days, censored at 365
    >>> model, table, fit = cox_with_holdout(df, ["plan"], {"plan": "basic"}, seed=1)
    >>> table[["covariate", "hazard_ratio", "ph_p_value"]].round(3)
       covariate  hazard_ratio  ph_p_value
    0  plan_plus         2.076       0.194
    >>> {k: round(v, 3) for k, v in fit.items()}
    {'subjects': 400, 'events': 333, 'dropped_missing_covariates': 0, 'held_out_concordance': 0.587}
    """
    spec = {"covariates": covariates, "categorical": categorical, "per": per}
    train, test = split_by_customer(df, test_share=test_share, seed=seed)
    # on few subjects a fact can be shared by every training subject (all without a first-order
    # promotion): the held-out model leaves it out, as the model on everyone could not take it either
    varying = [c for c in covariates if c in train.columns and train[c].nunique() > 1]
    held_out = (CoxModel(**{**spec, "covariates": varying}).fit(train).concordance(test) if varying
                else float("nan"))
    model = CoxModel(**spec).fit(df)
    ph = model.ph_check().rename(columns={"test_statistic": "ph_statistic", "p_value": "ph_p_value"})
    table = model.summary().merge(ph, on="covariate")
    fit = {"subjects": model.n_subjects_, "events": model.n_events_,
           "dropped_missing_covariates": model.n_dropped_, "held_out_concordance": held_out}
    return model, table, fit


def covariate_label(name: str, categorical: Mapping[str, str] | None = None, per: Mapping[str, float] | None = None,
                    *, column: Callable[[str], str] | None = None,
                    level: Callable[[str, str], str] | None = None, reference: bool = True) -> str:
    """Plain words for a covariate of :meth:`CoxModel.summary` (a chart's tick label, a table row).

    An indicator ``<col>_<level>`` of a categorical covariate reads "<column>: <level> (against
    <reference>)" (without the part in brackets when ``reference`` is False); a scaled one
    ``<col>_per_<unit>`` "<column>, per <unit>"; any other its column's name.

    Parameters
    ----------
    name : str
        The covariate as the model names it (``acquisition_channel_email``, ``age_per_10``).
    categorical : mapping of str to str, optional
        Categorical covariate -> reference level, as given to :class:`CoxModel`.
    per : mapping of str to float, optional
        Numeric covariate -> unit, as given to :class:`CoxModel`.
    column : callable, optional
        Readable name of a column (default: :func:`crm_research.settings.humanize`).
    level : callable, optional
        ``level(column, value)``: readable name of a categorical value (default: humanized).
    reference : bool
        Name the reference level of a categorical covariate (False: a short label for a chart
        whose title or text names it).

    Returns
    -------
    str

    Examples
    --------
    >>> covariate_label("plan_plus", {"plan": "basic"})
    'Plan: Plus (against Basic)'
    >>> covariate_label("age_per_10", per={"age": 10})
    'Age, per 10'
    """
    from crm_research.settings import humanize

    column = column or humanize
    level = level or (lambda _col, value: humanize(value))
    for col in sorted(categorical or {}, key=len, reverse=True):  # the longest prefix wins
        if name.startswith(f"{col}_"):
            ref = (categorical or {})[col]
            against = f" (against {level(col, ref)})" if reference else ""
            return f"{column(col)}: {level(col, name[len(col) + 1:])}{against}"
    for col, unit in (per or {}).items():
        if name == f"{col}_per_{unit:g}":
            return f"{column(col)}, per {unit:g}"
    return column(name)
