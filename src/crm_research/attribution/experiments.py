"""A/B and A/B/n tests on conversion: estimates, intervals, tests, power and plain-words warnings.

``ab_assignments`` builds the per-customer table of a test from the event log (who was exposed
to which arm, and whether they converted within the window); :class:`ABTest` analyses it (or
per-arm counts): conversion per arm with Wilson intervals, the difference to control with a
Newcombe interval, the relative lift with a log interval, the pooled two-proportion z-test
(statsmodels), p-values corrected for several variants, the power to detect a target lift,
the sample size it needs, and warnings when the test is underpowered, was stopped before its
planned size, has a sample-ratio mismatch, or has exposures whose window is not over yet.

Power and sample sizes use the normal approximation with Cohen's arcsine effect size ``h``
(statsmodels ``NormalIndPower``), two-sided, at the per-comparison level ``alpha / m`` for
``m`` variant-vs-control comparisons when a correction is applied (Bonferroni; conservative for
Holm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ibis
import numpy as np
import pandas as pd

from crm_research.engine import collect, engine_function, first_by, is_lazy
from crm_research.errors import CRMError
from crm_research.exprs import (
    DAY_SECONDS,
    completed_orders,
    parse_as_of,
    require_columns,
    ts_literal,
)
from crm_research.stats import wilson

__all__ = ["ab_assignments", "ABTest", "required_sample_size", "test_power", "minimum_detectable_lift"]

_CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")


@engine_function("events", "orders")
def ab_assignments(
    events,
    orders,
    *,
    arms: Mapping[str, str],
    window_days: float,
    promo_code: str | None = None,
    exposure_event: str | None = "email_sent",
    statuses: Sequence[str] | None = None,
    as_of,
    customer_col: str = "customer_id",
    time_col: str = "occurred_at",
    event_col: str = "event",
    campaign_col: str = "campaign_id",
    order_time_col: str = "ordered_at",
    promo_col: str = "promo_code",
    status_col: str = "status",
    value_col: str = "amount",
):
    """One row per exposed customer: arm, exposure time and conversion within the window.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log; a customer is in arm ``a`` when they have an event of campaign ``arms[a]``
        (of name ``exposure_event`` unless None). The first such event is the exposure.
    orders : DataFrame or ibis.Table
        Order log.
    arms : mapping of str to str
        Arm name → campaign id, e.g. ``{"control": "ab_subject_control", "variant": ...}``.
    window_days : float
        A conversion is an order within this many days after the exposure (days).
    promo_code : str, optional
        Only orders with this promotion code count (the test's own code).
    statuses : sequence of str, optional
        Only orders with these statuses count (default every order placed: the test asks
        whether the message triggered an order, whatever happened to it later).
    as_of : date-like
        Analysis date (exclusive, UTC; required): data at or after it is ignored, and exposures
        less than ``window_days`` before it get ``complete_window = False``.

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``arm``, ``exposed_at`` (UTC), ``n_arms`` (distinct arms the customer
        was exposed to; more than 1 is a broken assignment), ``converted`` (bool),
        ``converted_at`` (UTC, first qualifying order), ``conversion_value`` (currency, that
        order's value, 0 when not converted), ``complete_window`` (bool). Sorted by customer.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> t, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> a = ab_assignments(t["events"], t["orders"], arms={"control": "ab_subject_control",
    ...                    "variant": "ab_subject_variant"}, window_days=14, promo_code="AB-SEPT", as_of="2026-01-01")
    >>> a.groupby("arm")["converted"].agg(["size", "sum"])
             size  sum
    arm
    control    16    2
    variant    12    0
    """
    if not arms:
        raise CRMError("arms must map at least two arm names to campaign ids")
    if not window_days > 0:
        raise CRMError(f"window_days={window_days!r} must be a positive number of days")
    as_of = parse_as_of(as_of)
    require_columns(events, "events", {"customer_col": customer_col, "time_col": time_col,
                                       "campaign_col": campaign_col,
                                       "event_col": event_col if exposure_event is not None else None})
    require_columns(orders, "orders", {"customer_col": customer_col, "order_time_col": order_time_col})
    e = events.filter(events[campaign_col].isin(list(arms.values())))
    if exposure_event is not None:
        e = e.filter(e[event_col] == exposure_event)
    e = e.filter(e[time_col] < ts_literal(as_of))
    arm = ibis.cases(*[(e[campaign_col] == camp, name) for name, camp in arms.items()])
    e = e.select(customer_id=e[customer_col].cast("string"), at=e[time_col], arm=arm)
    ex = e.group_by("customer_id").aggregate(
        exposed_at=e.at.min(),
        arm=first_by(e, e.arm, [e.at, e.arm]),
        n_arms=e.arm.nunique(),
    )
    o = orders
    if promo_code is not None:
        require_columns(o, "orders", {"promo_col": promo_col},
                        hint=f"it finds the test's orders with promo code {promo_code!r}: pass promo_col, or "
                             "promo_code=None to count every order")
        o = o.filter(o[promo_col] == promo_code)
    o = completed_orders(o, as_of, date_col=order_time_col, status_col=status_col if statuses is not None else None,
                         statuses=statuses or ())
    o = o.select(customer_id=o[customer_col].cast("string"), ordered_at=o[order_time_col],
                 value=o[value_col].cast("float64") if value_col in o.columns else ibis.literal(0.0))
    window = ibis.interval(seconds=int(round(float(window_days) * DAY_SECONDS)))
    j = ex.inner_join(o, "customer_id")
    j = j.filter((j.ordered_at >= j.exposed_at) & (j.ordered_at < j.exposed_at + window))
    first = j.group_by("customer_id").aggregate(
        converted_at=j.ordered_at.min(),
        conversion_value=first_by(j, j.value, [j.ordered_at, j.value]),
    )
    out = ex.left_join(first, "customer_id")
    complete = (out.exposed_at + window) <= ts_literal(as_of)
    out = out.select(
        "customer_id", "arm", "exposed_at", out.n_arms.cast("int64"),
        converted=out.converted_at.notnull(), converted_at="converted_at",
        conversion_value=out.conversion_value.fill_null(0.0), complete_window=complete,
    )
    return out.order_by("customer_id")


def _alpha_per_comparison(alpha: float, n_comparisons: int, correction: str) -> float:
    return alpha / max(int(n_comparisons), 1) if correction != "none" else alpha


def _p2(p_control: float, lift: float, relative: bool) -> float:
    p2 = p_control * (1 + lift) if relative else p_control + lift
    if not 0 < p_control < 1 or not 0 < p2 < 1:
        raise CRMError(f"control rate {p_control!r} and target rate {p2!r} must lie strictly between 0 and 1")
    return p2


def required_sample_size(p_control: float, lift: float, *, relative: bool = False, alpha: float = 0.05,
                         power: float = 0.8, ratio: float = 1.0, n_comparisons: int = 1,
                         correction: str = "bonferroni") -> int:
    """Units needed in the control arm to detect a lift (the variant needs ``ratio`` times as many).

    Parameters
    ----------
    p_control : float
        Expected control conversion rate (share, 0..1).
    lift : float
        Lift to detect: absolute (share points, 0.02 = two points) or relative (0.25 = +25 %).
    relative : bool
        Whether ``lift`` is relative.
    alpha : float
        Two-sided family-wise significance level.
    power : float
        Probability of detecting the lift when it is real.
    ratio : float
        Variant size / control size.
    n_comparisons : int
        Variant-vs-control comparisons (A/B/n: n - 1); alpha is split Bonferroni-style.
    correction : str
        ``"none"`` keeps alpha per comparison.

    Returns
    -------
    int
        Units (e.g. customers) in the control arm, rounded up.

    Examples
    --------
    >>> required_sample_size(0.08, 0.02)  # 8% to 10%, 80% power at the 5% level
    3205
    """
    from statsmodels.stats.power import NormalIndPower  # imported here: statsmodels costs ~0.5 s
    from statsmodels.stats.proportion import proportion_effectsize

    h = proportion_effectsize(_p2(p_control, lift, relative), p_control)
    a = _alpha_per_comparison(alpha, n_comparisons, correction)
    n = NormalIndPower().solve_power(effect_size=abs(h), alpha=a, power=power, ratio=ratio)
    return int(np.ceil(float(n)))


def test_power(p_control: float, lift: float, n_control: float, *, n_variant: float | None = None,
               relative: bool = False, alpha: float = 0.05, n_comparisons: int = 1,
               correction: str = "bonferroni") -> float:
    """Probability (0..1) that a test of this size detects ``lift`` (see :func:`required_sample_size`)."""
    if n_control <= 0:
        return float("nan")
    n_variant = n_control if n_variant is None else n_variant
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    h = proportion_effectsize(_p2(p_control, lift, relative), p_control)
    a = _alpha_per_comparison(alpha, n_comparisons, correction)
    return float(NormalIndPower().power(effect_size=abs(h), nobs1=n_control, alpha=a, ratio=n_variant / n_control))


test_power.__test__ = False  # not a pytest test


def minimum_detectable_lift(p_control: float, n_control: float, *, n_variant: float | None = None,
                            alpha: float = 0.05, power: float = 0.8, n_comparisons: int = 1,
                            correction: str = "bonferroni") -> float:
    """Smallest absolute upward lift (share points) detected with probability ``power`` at this size."""
    if n_control <= 0 or not 0 < p_control < 1:
        return float("nan")
    n_variant = n_control if n_variant is None else n_variant
    a = _alpha_per_comparison(alpha, n_comparisons, correction)
    from statsmodels.stats.power import NormalIndPower

    h = NormalIndPower().solve_power(nobs1=n_control, alpha=a, power=power, ratio=n_variant / n_control)
    target = 2 * np.arcsin(np.sqrt(p_control)) + float(h)
    if target >= np.pi:
        return float(1 - p_control)
    return float(np.sin(target / 2) ** 2 - p_control)


class ABTest:
    """Analyse an A/B or A/B/n conversion test against one control arm.

    Parameters
    ----------
    control : str
        Name of the control arm.
    conf : float
        Confidence level of every interval; ``alpha = 1 - conf`` for the tests.
    correction : {"holm", "bonferroni", "fdr_bh", "none"}
        Correction of the p-values for several variants (statsmodels ``multipletests``).
        Intervals are per comparison (not simultaneous).
    target_lift : float, optional
        Lift the test was designed to detect (absolute share points, or relative with
        ``relative_target``); gives ``power`` and ``required_n`` and the underpowered warning.
    relative_target : bool
        Whether ``target_lift`` is relative.
    power : float
        Wanted power (0..1).
    planned_n_per_arm : int, optional
        Planned units per arm; fewer in any arm triggers the stopped-early warning.
    srm_alpha : float
        Level of the chi-square sample-ratio-mismatch check (equal allocation assumed).

    Fitted attributes
    -----------------
    summary_ : DataFrame
        One row per arm, control first: ``arm``, ``n``, ``conversions``, ``rate`` with
        ``rate_low``/``rate_high`` (Wilson); for variants ``diff`` (rate - control rate, share
        points) with ``diff_low``/``diff_high`` (Newcombe), ``lift`` (relative, rate / control
        - 1) with ``lift_low``/``lift_high`` (log-adjusted ratio interval), ``z``, ``p_value``
        (pooled two-proportion z-test, two-sided), ``p_adjusted``, ``significant``, ``power``
        (to detect the target), ``required_n`` (per arm, for the target), ``mde`` (minimum
        detectable absolute lift at this size).
    warnings_ : list of str
        Plain-words warnings (empty when none applies).

    See Also
    --------
    ab_assignments : the per-customer table of a test from the event log.
    required_sample_size : units per arm a planned test needs.

    Examples
    --------
    >>> counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    >>> ab = ABTest(control="control").fit(counts)
    >>> ab
    ABTest(control='control', conf=0.95, correction='holm', target_lift=None, relative_target=False, power=0.8, planned_n_per_arm=None, srm_alpha=0.001)
    >>> ab.summary_[["arm", "rate", "diff", "p_value", "significant"]].round(4)
           arm  rate  diff  p_value  significant
    0  control  0.08   NaN      NaN        False
    1  variant  0.11  0.03   0.0012         True
    """

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_"))
        return f"{type(self).__name__}({params})"

    def __init__(self, control: str = "control", conf: float = 0.95, correction: str = "holm",
                 target_lift: float | None = None, relative_target: bool = False, power: float = 0.8,
                 planned_n_per_arm: int | None = None, srm_alpha: float = 0.001):
        self.control = control
        self.conf = conf
        self.correction = correction
        self.target_lift = target_lift
        self.relative_target = relative_target
        self.power = power
        self.planned_n_per_arm = planned_n_per_arm
        self.srm_alpha = srm_alpha

    def fit(self, table: pd.DataFrame, *, arm_col: str = "arm", converted_col: str = "converted",
            n_col: str = "n", conversions_col: str = "conversions") -> ABTest:
        """Analyse per-unit rows (``arm``, ``converted``) or per-arm counts (``arm``, ``n``, ``conversions``).

        ``table`` may be an engine table (e.g. :func:`ab_assignments` on engine tables): only the
        columns read here are collected.

        Returns
        -------
        self
        """
        if not 0 < self.conf < 1:
            raise CRMError(f"conf={self.conf!r} must be strictly between 0 and 1, e.g. 0.95")
        if self.correction not in _CORRECTIONS:
            raise CRMError(f"correction={self.correction!r}: use one of {_CORRECTIONS}")
        counts, extra = self._counts(table, arm_col, converted_col, n_col, conversions_col)
        if self.control not in counts.index:
            raise CRMError(f"control arm {self.control!r} not found; arms are {list(counts.index)}")
        arms = [self.control] + sorted(a for a in counts.index if a != self.control)
        if len(arms) < 2:
            raise CRMError("an A/B test needs at least two arms")
        from statsmodels.stats.multitest import multipletests  # here: statsmodels costs ~0.5 s
        from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

        alpha = 1 - self.conf
        n = counts["n"].reindex(arms).to_numpy(float)
        k = counts["conversions"].reindex(arms).to_numpy(float)
        rate = np.divide(k, n, out=np.full(len(n), np.nan), where=n > 0)
        lo, hi = wilson(k, n, self.conf)
        out = pd.DataFrame({"arm": arms, "n": n.astype(np.int64), "conversions": k.astype(np.int64), "rate": rate,
                            "rate_low": lo, "rate_high": hi})
        cols = ["diff", "diff_low", "diff_high", "lift", "lift_low", "lift_high", "z", "p_value", "power",
                "required_n", "mde"]
        for c in cols:
            out[c] = np.nan
        m = len(arms) - 1
        n0, k0, p0 = n[0], k[0], rate[0]
        for i in range(1, len(arms)):
            ni, ki = n[i], k[i]
            if n0 <= 0 or ni <= 0:
                continue
            out.loc[i, "diff"] = rate[i] - p0
            d_lo, d_hi = confint_proportions_2indep(ki, ni, k0, n0, method="newcomb", compare="diff", alpha=alpha)
            out.loc[i, ["diff_low", "diff_high"]] = [d_lo, d_hi]
            if k0 > 0:
                out.loc[i, "lift"] = rate[i] / p0 - 1
                if ki > 0:
                    r_lo, r_hi = confint_proportions_2indep(ki, ni, k0, n0, method="log-adjusted", compare="ratio",
                                                            alpha=alpha)
                    out.loc[i, ["lift_low", "lift_high"]] = [r_lo - 1, r_hi - 1]
            if 0 < k0 + ki < n0 + ni:
                z, p = proportions_ztest([ki, k0], [ni, n0], alternative="two-sided")
                out.loc[i, ["z", "p_value"]] = [z, p]
            if 0 < p0 < 1:
                corr = self.correction if m > 1 else "none"
                out.loc[i, "mde"] = minimum_detectable_lift(p0, n0, n_variant=ni, alpha=alpha, power=self.power,
                                                            n_comparisons=m, correction=corr)
                if self.target_lift is not None:
                    out.loc[i, "power"] = test_power(p0, self.target_lift, n0, n_variant=ni,
                                                     relative=self.relative_target, alpha=alpha, n_comparisons=m,
                                                     correction=corr)
                    out.loc[i, "required_n"] = required_sample_size(
                        p0, self.target_lift, relative=self.relative_target, alpha=alpha, power=self.power,
                        n_comparisons=m, correction=corr)
        pv = out["p_value"].to_numpy(float)
        ok = ~np.isnan(pv)
        adj = np.full(len(pv), np.nan)
        if ok.any():
            adj[ok] = pv[ok] if self.correction == "none" else multipletests(pv[ok], alpha=alpha,
                                                                            method=self.correction)[1]
        out["p_adjusted"] = adj
        out["significant"] = np.where(ok, adj < alpha, False)
        self.summary_ = out[["arm", "n", "conversions", "rate", "rate_low", "rate_high", "diff", "diff_low",
                             "diff_high", "lift", "lift_low", "lift_high", "z", "p_value", "p_adjusted",
                             "significant", "power", "required_n", "mde"]]
        self.warnings_ = self._warnings(out, extra)
        return self

    def summary(self) -> pd.DataFrame:
        """The fitted ``summary_`` (a copy)."""
        if not hasattr(self, "summary_"):
            raise CRMError("ABTest is not fitted: call .fit(table) first")
        return self.summary_.copy()

    # --- helpers ------------------------------------------------------------------------------
    def _counts(self, table, arm_col, converted_col, n_col, conversions_col):
        if is_lazy(table):
            keep = [arm_col, n_col, conversions_col, converted_col, "n_arms", "customer_id", "complete_window"]
            table = collect(table.select(*[c for c in dict.fromkeys(keep) if c in table.columns]))
        if not isinstance(table, pd.DataFrame):
            raise CRMError(f"the A/B table must be a pandas DataFrame, got {type(table).__name__}")
        if arm_col not in table.columns:
            raise CRMError(f"table 'ab_test' has no arm column {arm_col!r}; it has {list(table.columns)}")
        extra = {}
        if n_col in table.columns and conversions_col in table.columns:
            g = table.groupby(arm_col, sort=True)[[n_col, conversions_col]].sum()
            g.columns = ["n", "conversions"]
            if (g["conversions"] > g["n"]).any() or (g < 0).any().any():
                raise CRMError(f"table 'ab_test': conversions must lie between 0 and n in every arm; got\n{g}")
            return g, extra
        if converted_col not in table.columns:
            raise CRMError(f"table 'ab_test' needs {arm_col!r} and {converted_col!r} (one row per unit) or "
                           f"{n_col!r} and {conversions_col!r} (one row per arm); it has {list(table.columns)}")
        if table[arm_col].isna().any():
            rows = table.index[table[arm_col].isna()][:5].tolist()
            raise CRMError(f"table 'ab_test' column {arm_col!r} is missing in rows {rows}")
        if "n_arms" in table.columns and (table["n_arms"] > 1).any():
            bad = table.loc[table["n_arms"] > 1]
            ids = bad["customer_id"].head(5).tolist() if "customer_id" in bad else bad.index[:5].tolist()
            raise CRMError(f"table 'ab_test': {len(bad)} units were exposed to more than one arm (e.g. {ids}); "
                           "the assignment is broken -- drop them or fix the assignment before analysing")
        conv = table[converted_col].astype(float)
        g = pd.DataFrame({"n": table.groupby(arm_col, sort=True).size(),
                          "conversions": conv.groupby(table[arm_col], sort=True).sum()})
        if "complete_window" in table.columns:
            extra["incomplete"] = int((~table["complete_window"].astype(bool)).sum())
        return g, extra

    def _warnings(self, out: pd.DataFrame, extra: dict) -> list[str]:
        w = []
        if self.planned_n_per_arm is not None:
            short = out[out["n"] < self.planned_n_per_arm]
            if len(short):
                parts = ", ".join(f"{a!r} {int(x):,} ({x / self.planned_n_per_arm:.0%})" for a, x in
                                  zip(short["arm"], short["n"], strict=True))
                w.append(
                    f"Stopped early: the plan was {int(self.planned_n_per_arm):,} units per arm, but {parts} "
                    "were reached. Reading a test before its planned size (and stopping because the result "
                    "looked good) makes false winners far more likely than the stated error rate; treat the "
                    "result as provisional or finish the test.")
        if self.target_lift is not None:
            weak = out[out["power"] < self.power]
            for _, r in weak.iterrows():
                tgt = (f"{self.target_lift:+.0%} relative" if self.relative_target
                       else f"{self.target_lift * 100:+.1f} percentage points")
                w.append(
                    f"Underpowered: with {int(out['n'].iloc[0]):,} (control) and {int(r['n']):,} ({r['arm']}) units "
                    f"the test had only a {r['power']:.0%} chance of detecting a lift of {tgt} "
                    f"(wanted {self.power:.0%}; it needs about {int(r['required_n']):,} units per arm). A "
                    "non-significant result is not evidence that the arms perform the same.")
        for _, r in out.iterrows():
            if r["conversions"] < 5 or r["n"] - r["conversions"] < 5:
                w.append(f"Arm {r['arm']!r} has fewer than 5 conversions or non-conversions: the normal "
                         "approximations behind the z-test and intervals are unreliable; use an exact test.")
        if out["n"].min() > 0 and len(out) > 1:
            from scipy import stats

            chi = stats.chisquare(out["n"].to_numpy(float))
            if chi.pvalue < self.srm_alpha:
                w.append(
                    f"Sample ratio mismatch: arm sizes {', '.join(f'{int(x):,}' for x in out['n'])} are unlikely "
                    f"under equal allocation (chi-square p = {chi.pvalue:.1e}); check the assignment before "
                    "trusting any difference.")
        if extra.get("incomplete"):
            w.append(f"{extra['incomplete']:,} units were exposed less than the conversion window before the "
                     "data ends: some of their conversions are not observed yet, so rates are understated.")
        return w
