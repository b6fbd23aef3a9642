"""The baseline report's sentences: what notebook 01 says about the latest period, goals and cohorts.

Each function turns a baseline table (or a table derived from it) into the Markdown a reader
sees, in the engagement's units and words (:class:`crm_research.settings.ReportSettings`), or
into the small numbers behind a finding. Names of metrics, channels and other labels come
through a ``label(kind, value)`` callable that returns Markdown-safe text (the notebook's
``run.label``); numbers are formatted by the settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.exprs import parse_as_of
from crm_research.kpi import present, scans
from crm_research.kpi.definitions import METRICS
from crm_research.kpi.tables import latest
from crm_research.stats import wilson

__all__ = ["PER_YEAR", "PERIOD_WORDS", "as_of_inside", "latest_paragraph", "latest_full_period", "activity_finding",
           "retention_finding", "nps_finding", "step_text", "goal_now", "goal_worth", "furthest_goal_finding",
           "goal_action", "scorecard_table", "scorecard_columns", "cohort_sentence", "cohort_finding", "pooled_retention", "cohort_table",
           "weakest_group", "BREAKDOWN_METRICS", "breakdown_wide", "breakdown_table", "channel_finding",
           "channel_action", "KEY_METRICS", "client_order", "in_order", "recent_wide", "review_view", "review_paragraph",
           "review_table"]

KEY_METRICS = ("active_customers", "new_customers", "orders", "revenue", "average_order_value", "revenue_per_customer",
               "retention_rate", "repeat_purchase_rate", "historical_customer_value", "new_contacts",
               "lead_conversion_rate", "cart_abandonment_rate", "first_response_hours_median", "csat_share_4_5", "nps")
"""The KPIs a client reads first (:func:`client_order`)."""

BREAKDOWN_METRICS = ("active_customers", "retention_rate", "repeat_purchase_rate", "purchase_frequency",
                     "average_order_value", "revenue_per_customer", "lead_conversion_rate", "nps")
"""The KPIs :func:`breakdown_wide` shows per group (those the breakdown measures)."""

CLIENT_BREAKDOWN_METRICS = ("active_customers", "retention_rate", "repeat_purchase_rate", "average_order_value",
                            "revenue_per_customer")
"""The KPIs of :func:`breakdown_table` (a client's narrower view)."""

PER_YEAR = {"W": 52, "M": 12, "Q": 4, "Y": 1}
"""Periods in a year, by period code."""

PERIOD_WORDS = {"M": "month", "W": "week", "Q": "quarter", "Y": "year"}
"""The period in words, by period code."""


def as_of_inside(as_of, period: str) -> bool:
    """Whether the analysis date falls inside a period (the latest period is then partial).

    Examples
    --------
    >>> as_of_inside("2026-01-01", "M"), as_of_inside("2026-01-15", "M"), as_of_inside("2026-01-01", "W")
    (False, True, True)
    """
    cut = parse_as_of(as_of)
    return bool(cut != scans.period_start(scans.period_index(cut, period), period)[0])


def latest_paragraph(now: pd.DataFrame, as_of, period: str, settings, *, audience: str = "analyst") -> str:
    """The latest period in a paragraph: customers, orders, revenue, retention, repeat buyers.

    Parameters
    ----------
    now : DataFrame
        The latest period of a baseline (:func:`crm_research.kpi.latest`).
    as_of : date-like
        The analysis date (exclusive).
    period : str
        The baseline's period code.
    settings : ReportSettings
        Number formats.
    audience : {"analyst", "client"}
        The analyst also reads how to avoid a partial period.

    Returns
    -------
    str
        Markdown; a warning paragraph follows when ``as_of`` falls inside the period.

    Examples
    --------
    >>> from crm_research import kpi, synthetic
    >>> from crm_research.settings import ReportSettings
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> now = kpi.latest(kpi.baseline(tables, "2026-01-01", "M", periods=2))
    >>> print(latest_paragraph(now, "2026-01-01", "M", ReportSettings()))
    **Latest period: 01 Dec 2025 to 31 Dec 2025.** 47 customers placed 87 orders worth 13,854 (an average order of 159.24). Of the 52 customers active in the period before, **53.8%** ordered again (95% range 40.5% to 66.7%). Since the start of the data, 173 customers have ordered, 72.8% of them more than once.
    """
    inside = as_of_inside(as_of, period)
    v = now.set_index("metric")["value"]
    start, end = now["period"].max(), now["period_end"].max()
    ret = now.set_index("metric").loc["retention_rate"]
    retained = ret["denominator"] > 0  # no customer active in the period before: no retention rate
    s = settings
    return (
        f"**Latest period: {s.day(start)} to {s.day(end - pd.Timedelta(days=1))}"
        + (" (partial)" if inside else "") + ".** "
        f"{s.count(v['active_customers'])} customers placed {s.count(v['orders'])} orders"
        # without order amounts (orders from an event log) there is no revenue to tell
        + (f" worth {s.money(v['revenue'], 0)}" if "revenue" in v.index else "")
        + (f" (an average order of {s.money(v['average_order_value'])}). "
           if v["orders"] > 0 and "average_order_value" in v.index else ". ")
        + (f"Of the {s.count(ret['denominator'])} customers active in the period before, **{s.pct(ret['value'])}** "
           f"ordered again (95% range {s.pct(ret['ci_low'])} to {s.pct(ret['ci_high'])}). " if retained else
           "No customer ordered in the period before, so there is no retention rate for this one. ")
        + f"Since the start of the data, {s.count(v['customers'])} customers have ordered, "
        f"{s.pct(v['repeat_purchase_rate'])} of them more than once."
        + ("\n\n**Warning: this period is incomplete.** The analysis date falls inside it, so its counts, sums and "
           "per-period figures are lower than a full period's and cannot be compared with earlier periods; shares "
           "and averages can, with wider ranges."
           + (" Set `as_of` to the first day of a month (or a Monday for weeks) for a clean baseline."
              if audience == "analyst" else "") if inside else ""))


def latest_full_period(kpis: pd.DataFrame, partial) -> pd.Timestamp:
    """The start of the latest full period: the one before the latest when that is partial.

    ``partial`` is :func:`crm_research.kpi.partial_latest`'s output (the ``active_customers``
    entry decides). With a single, partial period, that period.

    Examples
    --------
    >>> kpis = pd.DataFrame({"period": pd.to_datetime(["2025-11-01", "2025-12-01"], utc=True)})
    >>> latest_full_period(kpis, {"active_customers": "the analysis date falls inside it"})
    Timestamp('2025-11-01 00:00:00+0000', tz='UTC')
    """
    periods_all = sorted(kpis["period"].drop_duplicates())
    return periods_all[-2] if "active_customers" in partial and len(periods_all) > 1 else periods_all[-1]


def activity_finding(kpis: pd.DataFrame, partial, period: str, settings) -> str | None:
    """Customers and revenue of the latest full period, against a year earlier (or the period before).

    Parameters
    ----------
    kpis : DataFrame
        A baseline table.
    partial : mapping
        :func:`crm_research.kpi.partial_latest` output.
    period : str
        The baseline's period code.
    settings : ReportSettings

    Returns
    -------
    str or None
        One sentence (Markdown); None when the only period is partial.

    Examples
    --------
    >>> from crm_research import kpi, synthetic
    >>> from crm_research.settings import ReportSettings
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> kpis = kpi.baseline(tables, "2026-01-01", "M", periods=13)
    >>> activity_finding(kpis, {}, "M", ReportSettings())
    'In Dec 2025, **47** customers bought (+62.1% on Dec 2024, a year earlier), for **13,854** of revenue (+87.9% on Dec 2024, a year earlier).'
    """
    periods_all = sorted(kpis["period"].drop_duplicates())
    if "active_customers" in partial and len(periods_all) == 1:
        return None
    latest_full = latest_full_period(kpis, partial)
    per_year = PER_YEAR[period]
    i = periods_all.index(latest_full)
    ref = periods_all[i - per_year] if i >= per_year else (periods_all[i - 1] if i >= 1 else None)
    ref_words = "a year earlier" if i >= per_year else "the period before"
    val = kpis.set_index(["metric", "period"])["value"]

    def change(m) -> str:
        if ref is None or (m, ref) not in val.index:
            return ""
        c = present.change_text(m, val[(m, ref)], val[(m, latest_full)], settings)
        return f" ({c} on {present.period_text(ref, period, settings)}, {ref_words})" if c else ""

    text = (f"In {present.period_text(latest_full, period, settings)}, "
            f"**{settings.count(val[('active_customers', latest_full)])}** customers bought{change('active_customers')}")
    if ("revenue", latest_full) in val.index:
        text += f", for **{settings.money(val[('revenue', latest_full)], 0)}** of revenue{change('revenue')}"
    return text + "."


def retention_finding(kpis: pd.DataFrame, partial, period: str, settings) -> str | None:
    """Retention and repeat purchase of the latest full period (a partial one holds too few orders).

    Returns
    -------
    str or None
        One sentence (Markdown) with the 95% ranges; None without retention (no customer active
        in the period before) or without the two KPIs.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> kpis = pd.DataFrame({"metric": ["retention_rate", "repeat_purchase_rate"],
    ...                      "period": pd.Timestamp("2025-12-01", tz="UTC"), "value": [0.3, 0.4],
    ...                      "denominator": [50, 200], "ci_low": [0.2, 0.35], "ci_high": [0.4, 0.45]})
    >>> retention_finding(kpis, {}, "M", ReportSettings())
    "In Dec 2025, **30.0%** of the previous period's buyers bought again (95% range 20.0% to 40.0%); **40.0%** of all 200 customers so far have ordered more than once (35.0% to 45.0%)."
    """
    latest_full = latest_full_period(kpis, partial)
    full_rows = kpis[kpis["period"] == latest_full].set_index("metric")
    if not ({"retention_rate", "repeat_purchase_rate"} <= set(full_rows.index)
            and full_rows.loc["retention_rate", "denominator"] > 0):
        return None
    ret_f, rep = full_rows.loc["retention_rate"], full_rows.loc["repeat_purchase_rate"]
    s = settings
    return (f"In {present.period_text(latest_full, period, s)}, **{s.pct(ret_f['value'])}** of the "
            f"previous period's buyers bought again (95% range "
            f"{s.pct(ret_f['ci_low'])} to {s.pct(ret_f['ci_high'])}); **{s.pct(rep['value'])}** of all "
            f"{s.count(rep['denominator'])} customers so far have ordered more than once "
            f"({s.pct(rep['ci_low'])} to {s.pct(rep['ci_high'])}).")


def nps_finding(now: pd.DataFrame, settings) -> str | None:
    """The latest NPS with its range, and which side it leans to (None without an NPS range).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> now = pd.DataFrame({"metric": ["nps"], "value": [-12.0], "ci_low": [-20.5], "ci_high": [-3.1]})
    >>> nps_finding(now, ReportSettings())
    'Net Promoter Score **−12** (95% range −20 to −3): clearly more detractors than promoters.'
    """
    rows = now.set_index("metric")
    if "nps" not in rows.index or pd.isna(rows.loc["nps", "value"]) or pd.isna(rows.loc["nps", "ci_low"]):
        return None
    n = rows.loc["nps"]
    lean = ("clearly more detractors than promoters" if n["ci_high"] < 0 else
            "clearly more promoters than detractors" if n["ci_low"] > 0 else "about as many promoters as detractors")
    return (f"Net Promoter Score **{present.value_text('nps', n['value'], settings)}** "
            f"(95% range {present.range_text('nps', n['ci_low'], n['ci_high'], settings)}): {lean}.")


def step_text(metric: str, x: float, settings) -> str:
    """A gap or a change per month in the KPI's unit: '+2.0 pts', '+5 points', '+€3.20'.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> s = ReportSettings()
    >>> step_text("retention_rate", 0.02, s), step_text("nps", 5.0, s)
    ('+2.0 pts', '+5.0 points')
    """
    unit = METRICS[metric].unit
    if unit == "share":
        return settings.pts(x)
    if unit.startswith("points"):
        return f"{'+' if x > 0 else ''}{settings.number(x, 1)} points"
    return ("+" if x > 0 else "") + present.value_text(metric, x, settings)


def goal_now(card: pd.DataFrame) -> pd.Series:
    """Each goal's value now: the current snapshot's at a review, else the baseline's.

    Examples
    --------
    >>> goal_now(pd.DataFrame({"baseline": [0.3, 40.0], "current": [0.35, np.nan]})).tolist()
    [0.35, 40.0]
    """
    return card["current"].where(card["current"].notna(), card["baseline"]) if "current" in card else card["baseline"]


def furthest_goal_finding(card: pd.DataFrame, settings, label, *, example: bool = False) -> str | None:
    """The goal furthest from its target, relative to the target, in one sentence.

    Parameters
    ----------
    card : DataFrame
        :func:`crm_research.kpi.scorecard` output.
    settings : ReportSettings
    label : callable
        ``label(kind, value)`` -> Markdown-safe readable name (``run.label``).
    example : bool
        The goals are the packaged examples (said as "example target").

    Returns
    -------
    str or None
        None when every goal has reached its target.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> card = pd.DataFrame({"metric": ["retention_rate", "nps"], "direction": "increase", "target": [0.5, 20.0],
    ...                      "baseline": [0.4, 25.0], "deadline": pd.Timestamp("2026-07-01", tz="UTC"),
    ...                      "needed_per_month": [0.02, 0.0]})
    >>> furthest_goal_finding(card, ReportSettings(), lambda kind, v: v, example=True)
    'Furthest from its example target: **retention_rate**, at 40.0% against 50.0% by 01 Jul 2026 (+2.0 pts a month needed).'
    """
    sign = np.where(card["direction"] == "increase", 1.0, -1.0)
    now_val = goal_now(card)
    short = sign * (card["target"] - now_val)
    rel = (short / card["target"].abs().where(card["target"] != 0)).where(short > 0)
    if not rel.notna().any():
        return None
    i = rel.idxmax()
    g = card.loc[i]
    return (f"Furthest from its {'example ' if example else ''}target: **{label('metrics', g['metric'])}**, at "
            f"{present.value_text(g['metric'], now_val[i], settings)} against "
            f"{present.value_text(g['metric'], g['target'], settings)} by {settings.day(g['deadline'])} "
            f"({step_text(g['metric'], g['needed_per_month'], settings)} a month needed).")


def goal_action(card: pd.DataFrame, worth: pd.Series, settings, label) -> tuple[str, float] | None:
    """The goal worth most (:func:`goal_worth`) as an action: its text and value (currency a year).

    Returns None when no goal has a value.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> card = pd.DataFrame({"metric": ["average_order_value"], "baseline": [40.0], "target": [45.0],
    ...                      "deadline": pd.Timestamp("2026-07-01", tz="UTC")})
    >>> goal_action(card, pd.Series([6000.0]), ReportSettings(), lambda kind, v: v)
    ("Raise **average_order_value** from 40.00 to the target of 45.00 by 01 Jul 2026: at the last year's volumes that is about 6,000 more revenue a year.", 6000.0)
    """
    if worth.empty:
        return None
    i = worth.idxmax()
    g = card.loc[i]
    value = float(worth[i])
    return (f"Raise **{label('metrics', g['metric'])}** from "
            f"{present.value_text(g['metric'], goal_now(card)[i], settings)} to the target of "
            f"{present.value_text(g['metric'], g['target'], settings)} by {settings.day(g['deadline'])}: at the last "
            f"year's volumes that is about {settings.money(worth[i], 0)} more revenue a year.", value)


def scorecard_columns(review: bool = False) -> tuple[list[str], list[str]]:
    """The analyst's scorecard columns and, among them, those in the KPI's unit.

    Examples
    --------
    >>> cols, values = scorecard_columns()
    >>> cols[-3:], values[-2:]
    (['gap', 'needed_per_month', 'status'], ['gap', 'needed_per_month'])
    """
    values = ["baseline", "baseline_ci_low", "baseline_ci_high", "target", "gap", "needed_per_month"]
    cols = ["metric", "owner", "unit", "direction", "baseline", "baseline_ci_low", "baseline_ci_high", "target",
            "deadline", "gap", "needed_per_month"]
    if review:
        cols += ["current", "current_ci_low", "current_ci_high", "expected_now"]
        values += ["current", "current_ci_low", "current_ci_high", "expected_now"]
    return cols + ["status"], values


def scorecard_table(card: pd.DataFrame, settings, *, review: bool = False) -> pd.DataFrame:
    """The scorecard in a client's words: KPI, value now, target, deadline, improvement needed a month.

    Parameters
    ----------
    card : DataFrame
        :func:`crm_research.kpi.scorecard` output.
    settings : ReportSettings
    review : bool
        A review (a current snapshot): "now" is the current value and the status is shown;
        without one every status is "baseline" or "met" and is left out.

    Returns
    -------
    DataFrame
        ``kpi``, ``now``, ``target``, ``deadline``, ``needed`` (text; "none" when met) and, at a
        review, ``status``.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> card = pd.DataFrame({"metric": ["retention_rate"], "baseline": [0.3], "target": [0.35], "needed_per_month": [0.01],
    ...                      "deadline": pd.Timestamp("2026-07-01", tz="UTC")})
    >>> scorecard_table(card, ReportSettings()).values.tolist()
    [['Retention rate', '30.0%', '35.0%', '01 Jul 2026', '+1.0 pts']]
    """
    now_col = "current" if review else "baseline"
    out = pd.DataFrame({
        "kpi": [settings.label("metrics", m) for m in card["metric"]],
        "now": [present.value_text(m, x, settings) for m, x in zip(card["metric"], card[now_col], strict=True)],
        "target": [present.value_text(m, x, settings) for m, x in zip(card["metric"], card["target"], strict=True)],
        "deadline": [settings.day(d) for d in card["deadline"]],
        "needed": [step_text(m, x, settings) if x else "none"
                   for m, x in zip(card["metric"], card["needed_per_month"], strict=True)]})
    if review:
        out["status"] = [s.replace("-", " ") for s in card["status"]]
    return out


def cohort_sentence(at: pd.DataFrame, period: str, settings) -> str:
    """The pooled retention at a few ages in one sentence (:func:`pooled_retention`'s table).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> at = pd.DataFrame({"active": [4, 2], "customers": [10, 10], "rate": [0.4, 0.2]}, index=[1, 3])
    >>> cohort_sentence(at, "M", ReportSettings())
    'Over all cohorts shown, **40.0%** ordered again 1 month after their first order, **20.0%** ordered again 3 months after their first order.'
    """
    if at.empty:
        return "Too few periods for a cohort view."
    unit = PERIOD_WORDS[period]
    return "Over all cohorts shown, " + ", ".join(
        f"**{settings.pct(r)}** ordered again {a} {unit}{'s' if a > 1 else ''} after their first order"
        for a, r in at["rate"].items()) + "."


def cohort_finding(at: pd.DataFrame, period: str, settings) -> str | None:
    """Retention one period after the first order (with its Wilson range) and at the furthest age.

    Returns None when age 1 is not in ``at`` (:func:`pooled_retention`).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> at = pd.DataFrame({"active": [28, 20], "customers": [100, 100], "rate": [0.28, 0.2]}, index=[1, 2])
    >>> cohort_finding(at, "M", ReportSettings())
    'Of new customers, **28.0%** order again one month after their first order (95% range 20.1% to 37.5%) and **20.0%** 2 months after.'
    """
    if 1 not in at.index:
        return None
    unit = PERIOD_WORDS[period]
    far = max(at.index)
    lo1, hi1 = wilson(np.array([at.loc[1, "active"]]), np.array([at.loc[1, "customers"]]))
    return (f"Of new customers, **{settings.pct(at.loc[1, 'rate'])}** order again one {unit} after their first order "
            f"(95% range {settings.pct(lo1[0])} to {settings.pct(hi1[0])})"
            + (f" and **{settings.pct(at.loc[far, 'rate'])}** {far} {unit}s after" if far > 1 else "") + ".")


def goal_worth(card: pd.DataFrame, kpis: pd.DataFrame, period: str) -> pd.Series:
    """Extra revenue a year if each goal's target were reached, at the last year's volumes.

    Retention: the extra returning customers (gap x customers active in the period before,
    summed over the last year's periods) times the revenue per active customer; average order
    value: the gap times the last year's orders. Other goals have no value.

    Parameters
    ----------
    card : DataFrame
        :func:`crm_research.kpi.scorecard` output.
    kpis : DataFrame
        The baseline table (its last ``PER_YEAR[period]`` periods are the last year).
    period : str
        The baseline's period code.

    Returns
    -------
    Series
        Currency a year, indexed like ``card``; only goals short of their target with a
        finite, positive value.

    Examples
    --------
    >>> card = pd.DataFrame({"metric": ["average_order_value"], "direction": ["increase"], "target": [55.0],
    ...                      "baseline": [50.0]})
    >>> kpis = pd.DataFrame({"metric": "average_order_value", "period": pd.date_range("2025-01-01", periods=12,
    ...                      freq="MS", tz="UTC"), "numerator": 5000.0, "denominator": 100.0})
    >>> goal_worth(card, kpis, "M").tolist()  # 5 more per order on 1,200 orders
    [6000.0]
    """
    sign = np.where(card["direction"] == "increase", 1.0, -1.0)
    short = sign * (card["target"] - goal_now(card))
    per_year = PER_YEAR[period]
    year = (kpis[kpis["period"].isin(sorted(kpis["period"].unique())[-per_year:])]
            .groupby("metric")[["numerator", "denominator"]].sum())
    worth = pd.Series(np.nan, index=card.index)
    if {"retention_rate", "revenue_per_customer"} <= set(year.index):
        rpc = year.loc["revenue_per_customer", "numerator"] / year.loc["revenue_per_customer", "denominator"]
        mask = card["metric"] == "retention_rate"
        worth[mask] = short[mask] * year.loc["retention_rate", "denominator"] * rpc
    if "average_order_value" in year.index:
        mask = card["metric"] == "average_order_value"
        worth[mask] = short[mask] * year.loc["average_order_value", "denominator"]
    keep = (short > 0) & np.isfinite(worth) & (worth > 0)
    return worth[keep]


def pooled_retention(cohorts: pd.DataFrame, ages=(1, 3, 6, 12)) -> pd.DataFrame:
    """Retention at a few ages, pooled over the full cells of every cohort.

    Parameters
    ----------
    cohorts : DataFrame
        :func:`crm_research.kpi.cohort_retention` output.
    ages : sequence of int
        Periods since the first order.

    Returns
    -------
    DataFrame
        Indexed by ``age`` (those present): ``active``, ``customers`` (summed over the cohorts'
        full cells) and ``rate`` (active / customers).

    Examples
    --------
    >>> c = pd.DataFrame({"cohort": [1, 1, 2, 2], "age": [0, 1, 0, 1], "customers": [10, 10, 30, 30],
    ...                   "active": [10, 4, 30, 6], "partial": [False, False, False, True]})
    >>> pooled_retention(c)
         active  customers  rate
    age
    1         4         10   0.4
    """
    full = cohorts[~cohorts["partial"]].groupby("age")[["active", "customers"]].sum()
    out = full.loc[[a for a in ages if a in full.index]]
    return out.assign(rate=out["active"] / out["customers"])


def cohort_table(cohorts: pd.DataFrame, period: str, settings, ages=(1, 2, 3, 6, 12)) -> pd.DataFrame:
    """A readable subset of the cohort matrix for a client: size and a few ages, newest cohort first.

    Returns
    -------
    DataFrame
        ``cohort`` (the period in words), ``customers`` (text), ``after <age>`` (percentage
        text, "(partial)" where the cell is cut by the analysis date; empty where the cohort
        is too young) for the ``ages`` present.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> c = pd.DataFrame({"cohort": pd.to_datetime(["2025-11-01", "2025-11-01", "2025-12-01"], utc=True),
    ...                   "age": [0, 1, 0], "customers": [60, 60, 10], "rate": [1.0, 0.3, 1.0], "partial": False})
    >>> cohort_table(c, "M", ReportSettings()).values.tolist()
    [['Dec 2025', '10', ''], ['Nov 2025', '60', '30.0%']]
    """
    present_ages = [a for a in ages if a in set(cohorts["age"])]
    names = sorted(cohorts["cohort"].unique())
    size = cohorts[cohorts["age"] == 0].set_index("cohort")["customers"]
    sub = pd.DataFrame({"cohort": [present.period_text(c, period, settings) for c in names],
                        "customers": [settings.count(size.get(c)) for c in names]})
    for a in present_ages:
        col = cohorts[cohorts["age"] == a].set_index("cohort")
        sub[f"after {a}"] = [("" if c not in col.index else settings.pct(col.loc[c, "rate"])
                              + (" (partial)" if bool(col.loc[c, "partial"]) else "")) for c in names]
    return sub.iloc[::-1].reset_index(drop=True)


def weakest_group(bd: pd.DataFrame, metric: str = "retention_rate",
                  dimension: str = "acquisition_channel") -> tuple[pd.Series, pd.Series] | None:
    """The groups with the lowest and highest value of a metric, among those large enough to trust.

    Parameters
    ----------
    bd : DataFrame
        :func:`crm_research.kpi.breakdowns` output.
    metric, dimension : str
        What to rank.

    Returns
    -------
    (lowest, highest) rows of ``bd``, or None
        None with fewer than two groups not flagged ``too_small``.

    Examples
    --------
    >>> bd = pd.DataFrame({"metric": "retention_rate", "dimension": "acquisition_channel", "group": ["a", "b", "c"],
    ...                    "value": [0.2, 0.1, 0.4], "too_small": [False, True, False]})
    >>> low, high = weakest_group(bd)
    >>> low["group"], high["group"]  # b is lower but rests on too few customers
    ('a', 'c')
    """
    r = bd[(bd["metric"] == metric) & (bd["dimension"] == dimension) & ~bd["too_small"].astype(bool)]
    if len(r) < 2:
        return None
    return r.loc[r["value"].idxmin()], r.loc[r["value"].idxmax()]


def breakdown_wide(bd: pd.DataFrame, metrics=BREAKDOWN_METRICS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few key KPIs per group of a breakdown, one row per (dimension, group), and which are too small.

    Parameters
    ----------
    bd : DataFrame
        :func:`crm_research.kpi.breakdowns` output (one period).
    metrics : sequence of str
        The KPIs wanted; those the breakdown measures are kept, in this order.

    Returns
    -------
    values : DataFrame
        ``dimension``, ``group`` and one column per KPI (its unit; NaN where the group has no
        value); groups in the breakdown's order.
    small : DataFrame
        The KPI columns only, same rows: True where the value rests on too few observations
        (``too_small``).

    Examples
    --------
    >>> bd = pd.DataFrame({"dimension": "region", "group": ["north", "north", "south"],
    ...                    "metric": ["active_customers", "nps", "active_customers"], "value": [120.0, 12.0, 8.0],
    ...                    "too_small": [False, False, True]})
    >>> values, small = breakdown_wide(bd)
    >>> values
      dimension  group  active_customers   nps
    0    region  north             120.0  12.0
    1    region  south               8.0   NaN
    >>> small
       active_customers    nps
    0             False  False
    1              True  False
    """
    key = [m for m in metrics if m in set(bd["metric"])]
    part = bd[bd["metric"].isin(key)]
    groups = pd.MultiIndex.from_frame(part[["dimension", "group"]].drop_duplicates())
    values = part.pivot(index=["dimension", "group"], columns="metric", values="value").reindex(groups)[key].reset_index()
    small = (part.pivot(index=["dimension", "group"], columns="metric", values="too_small").reindex(groups)[key]
             .astype("boolean").fillna(False).astype(bool).reset_index(drop=True))
    small.columns.name = None
    values.columns.name = None
    return values, small


def breakdown_table(values: pd.DataFrame, small: pd.DataFrame, settings,
                    metrics=CLIENT_BREAKDOWN_METRICS) -> pd.DataFrame:
    """:func:`breakdown_wide` in a client's words: readable dimension and group, values as text, * when small.

    Returns
    -------
    DataFrame
        ``dimension``, ``group`` and one text column per KPI of ``metrics`` present.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> values = pd.DataFrame({"dimension": ["region"], "group": ["north"], "retention_rate": [0.1]})
    >>> breakdown_table(values, pd.DataFrame({"retention_rate": [True]}), ReportSettings()).values.tolist()
    [['Region', 'North', '10.0% *']]
    """
    kinds = {"acquisition_channel": "channels", "purchase_type": "channels", "platform": "channels"}
    picked = [m for m in metrics if m in small.columns]
    return pd.DataFrame({
        "dimension": [settings.label("columns", d) for d in values["dimension"]],
        "group": [settings.label(kinds.get(d, "columns"), g) for d, g in zip(values["dimension"], values["group"], strict=True)],
        **{m: [present.value_text(m, x, settings) + (" *" if s_ else "") for x, s_ in zip(values[m], small[m], strict=True)]
           for m in picked}})


def channel_finding(bd: pd.DataFrame, kpis: pd.DataFrame, settings, label) -> str | None:
    """The acquisition channels with the weakest and strongest retention, against the whole.

    Only groups large enough to trust count (:func:`weakest_group`). None with fewer than two
    or without the overall retention.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> bd = pd.DataFrame({"metric": "retention_rate", "dimension": "acquisition_channel", "group": ["ads", "seo"],
    ...                    "value": [0.4, 0.6], "ci_low": [0.35, 0.5], "ci_high": [0.45, 0.7], "too_small": False})
    >>> kpis = pd.DataFrame({"metric": ["retention_rate"], "value": [0.5], "period": pd.Timestamp("2025-12-01", tz="UTC")})
    >>> channel_finding(bd, kpis, ReportSettings(), lambda kind, v: v)
    'Retention is lowest among customers won through **ads** (40.0%, 95% range 35.0% to 45.0%) and highest for **seo** (60.0%), against 50.0% overall.'
    """
    pair = weakest_group(bd)
    overall = latest(kpis).set_index("metric")
    if pair is None or "retention_rate" not in overall.index:
        return None
    lo_, hi_ = pair
    return (f"Retention is lowest among customers won through **{label('channels', lo_['group'])}** "
            f"({settings.pct(lo_['value'])}, 95% range {settings.pct(lo_['ci_low'])} to {settings.pct(lo_['ci_high'])}) "
            f"and highest for **{label('channels', hi_['group'])}** ({settings.pct(hi_['value'])}), against "
            f"{settings.pct(overall.loc['retention_rate', 'value'])} overall.")


def channel_action(bd: pd.DataFrame, kpis: pd.DataFrame, period: str, settings, label) -> tuple[str, float] | None:
    """What lifting the weakest channel's retention to the overall rate is worth a year.

    The extra returning customers a period (the gap x the channel's customers active in the
    period before) times the channel's revenue per customer, times the periods in a year.

    Returns
    -------
    (text, value) or None
        The action in words and its value (currency a year); None when there is no gap or no
        revenue per customer for the channel.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> bd = pd.DataFrame({"metric": ["retention_rate", "retention_rate", "revenue_per_customer"],
    ...                    "dimension": "acquisition_channel", "group": ["ads", "seo", "ads"], "value": [0.4, 0.6, 60.0],
    ...                    "denominator": [100, 80, 200], "too_small": False})
    >>> kpis = pd.DataFrame({"metric": ["retention_rate"], "value": [0.5], "period": pd.Timestamp("2025-12-01", tz="UTC")})
    >>> text, value = channel_action(bd, kpis, "M", ReportSettings(), lambda kind, v: v)
    >>> round(value, 2)  # (0.5 - 0.4) x 100 customers x 60 a customer x 12 months
    7200.0
    """
    pair = weakest_group(bd)
    overall = latest(kpis).set_index("metric")
    if pair is None or "retention_rate" not in overall.index:
        return None
    lo_ = pair[0]
    rpc = bd[(bd["metric"] == "revenue_per_customer") & (bd["dimension"] == "acquisition_channel")
             & (bd["group"] == lo_["group"])]["value"]
    lift = (overall.loc["retention_rate", "value"] - lo_["value"]) * lo_["denominator"]
    if not (len(rpc) and np.isfinite(rpc.iloc[0]) and lift > 0):
        return None
    worth = float(lift * rpc.iloc[0] * PER_YEAR[period])
    return (f"Find out why customers won through **{label('channels', lo_['group'])}** come "
            f"back less often: bringing their retention up to the average ({settings.count(lift)} more returning "
            f"customers a {PERIOD_WORDS[period]}) is worth about {settings.money(worth, 0)} a year "
            "at the latest period's revenue per customer.", worth)


def client_order(kpis: pd.DataFrame) -> list[str]:
    """The baseline's KPIs in a client's reading order: :data:`KEY_METRICS` first, the others after.

    Examples
    --------
    >>> client_order(pd.DataFrame({"metric": ["customers", "orders", "nps", "orders"]}))
    ['orders', 'nps', 'customers']
    """
    have = set(kpis["metric"])
    key = [m for m in KEY_METRICS if m in have]
    return key + [m for m in dict.fromkeys(kpis["metric"]) if m not in key]


def in_order(kpis: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """The baseline's rows sorted by KPI in ``order``, each KPI's periods in time order.

    Examples
    --------
    >>> k = pd.DataFrame({"metric": ["nps", "orders", "nps"], "period": [2, 1, 1]})
    >>> in_order(k, ["orders", "nps"]).values.tolist()
    [['orders', 1], ['nps', 1], ['nps', 2]]
    """
    rank = kpis["metric"].map({m: i for i, m in enumerate(order)})
    return kpis.assign(_o=rank).sort_values(["_o", "period"]).drop(columns="_o")


def recent_wide(kpis: pd.DataFrame, n: int = 6) -> pd.DataFrame:
    """The last ``n`` periods of every KPI side by side: ``metric``, ``unit``, one column per period start.

    Examples
    --------
    >>> k = pd.DataFrame({"metric": ["orders"] * 3, "unit": "orders", "value": [5.0, 7.0, 9.0],
    ...                   "period": pd.date_range("2025-10-01", periods=3, freq="MS", tz="UTC")})
    >>> recent_wide(k, 2)
       metric    unit  2025-11-01  2025-12-01
    0  orders  orders         7.0         9.0
    """
    recent = kpis[kpis["period"] >= kpis["period"].drop_duplicates().nlargest(n).min()]
    wide = recent.pivot(index="metric", columns="period", values="value").reindex(kpis["metric"].unique())
    wide.columns = [c.strftime("%Y-%m-%d") for c in wide.columns]
    wide.insert(0, "unit", recent.groupby("metric")["unit"].first())
    return wide.reset_index()


def review_view(comparison: pd.DataFrame) -> pd.DataFrame:
    """The snapshot comparison's columns a reader needs, with a verdict in words.

    Parameters
    ----------
    comparison : DataFrame
        :func:`crm_research.kpi.compare_snapshots` output.

    Returns
    -------
    DataFrame
        ``metric``, ``unit``, ``period_a``, ``value_a``, ``period_b``, ``value_b``, ``change``,
        ``change_rel``, ``p_value``, ``verdict`` ("beyond noise", "within noise" or "no test
        (count, sum or median)").

    Examples
    --------
    >>> c = pd.DataFrame({"metric": ["retention_rate", "orders"], "unit": ["share", "orders"], "period_a": 1,
    ...                   "value_a": [0.3, 100.0], "period_b": 2, "value_b": [0.4, 120.0], "change": [0.1, 20.0],
    ...                   "change_rel": [1 / 3, 0.2], "p_value": [0.01, np.nan],
    ...                   "beyond_noise": pd.array([True, None], dtype="boolean")})
    >>> review_view(c)["verdict"].tolist()
    ['beyond noise', 'no test (count, sum or median)']
    """
    tested = comparison["beyond_noise"].notna()
    moved = comparison["beyond_noise"].fillna(False).astype(bool)
    verdict = np.where(~tested, "no test (count, sum or median)", np.where(moved, "beyond noise", "within noise"))
    return comparison.assign(verdict=verdict)[["metric", "unit", "period_a", "value_a", "period_b", "value_b",
                                               "change", "change_rel", "p_value", "verdict"]]


def review_paragraph(previous: pd.DataFrame, comparison: pd.DataFrame, as_of, settings, label, *,
                     same_data: bool) -> str:
    """What changed since the previous snapshot, in one paragraph.

    Parameters
    ----------
    previous : DataFrame
        The previous snapshot (its ``attrs["as_of"]``).
    comparison : DataFrame
        :func:`crm_research.kpi.compare_snapshots` output.
    as_of : date-like
        This run's analysis date.
    settings : ReportSettings
    label : callable
        ``label(kind, value)`` -> Markdown-safe readable name (``run.label``).
    same_data : bool
        Both snapshots were computed from the same data export (same fingerprint).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> c = pd.DataFrame({"metric": ["retention_rate", "orders"], "beyond_noise": pd.array([True, None], dtype="boolean")})
    >>> previous = pd.DataFrame()
    >>> previous.attrs["as_of"] = "2025-07-01"
    >>> review_paragraph(previous, c, "2026-01-01", ReportSettings(), lambda kind, v: v, same_data=False)
    'Previous snapshot: as of **01 Jul 2025**, computed from another data export. **1** of the 1 KPIs with a test changed beyond noise: retention_rate.'
    """
    tested = comparison["beyond_noise"].notna()
    moved = comparison["beyond_noise"].fillna(False).astype(bool)
    return (f"Previous snapshot: as of **{settings.day(previous.attrs['as_of'])}**, "
            f"{'computed from the same data export as this run' if same_data else 'computed from another data export'}. "
            f"**{int(moved.sum())}** of the {int(tested.sum())} KPIs with a test changed beyond noise"
            + (": " + ", ".join(label("metrics", m) for m in comparison.loc[moved, "metric"]) if moved.any() else "") + "."
            + (" **Both snapshots have the same analysis date**: no time has passed, so neither the changes nor the "
               "goal statuses say anything about progress."
               if pd.Timestamp(previous.attrs["as_of"]) == parse_as_of(as_of) else ""))


def review_table(view: pd.DataFrame, settings) -> pd.DataFrame:
    """:func:`review_view` in a client's words: KPI, before, now, change and verdict as text.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> view = pd.DataFrame({"metric": ["retention_rate"], "value_a": [0.3], "value_b": [0.4],
    ...                      "verdict": ["no test (count, sum or median)"]})
    >>> review_table(view, ReportSettings()).values.tolist()
    [['Retention rate', '30.0%', '40.0%', '+10.0 pts', 'no test']]
    """
    return pd.DataFrame({
        "kpi": [settings.label("metrics", m) for m in view["metric"]],
        "before": [present.value_text(m, x, settings) for m, x in zip(view["metric"], view["value_a"], strict=True)],
        "now": [present.value_text(m, x, settings) for m, x in zip(view["metric"], view["value_b"], strict=True)],
        "change": [present.change_text(m, a, b, settings) for m, a, b in
                   zip(view["metric"], view["value_a"], view["value_b"], strict=True)],
        "verdict": ["no test" if v.startswith("no test") else v for v in view["verdict"]]})
