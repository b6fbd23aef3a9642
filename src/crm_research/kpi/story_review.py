"""The baseline report's sentences, sections 4-6: the SMART goals, the review against a snapshot, the breakdowns.

As :mod:`crm_research.kpi.story`: each function turns a scorecard, a snapshot comparison or a
breakdown into the Markdown or the small table a reader sees, in the engagement's units and
words; labels come through a Markdown-safe ``label(kind, value)`` callable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.exprs import parse_as_of
from crm_research.kpi import present
from crm_research.kpi.definitions import METRICS
from crm_research.kpi.story import PER_YEAR, PERIOD_WORDS
from crm_research.kpi.tables import latest

__all__ = ["BREAKDOWN_METRICS", "CLIENT_BREAKDOWN_METRICS", "step_text", "goal_now", "furthest_goal_finding",
           "goal_action", "scorecard_columns", "scorecard_table", "goal_worth", "weakest_group",
           "breakdown_wide", "breakdown_table", "channel_finding", "channel_action", "review_view",
           "review_paragraph", "review_table"]


BREAKDOWN_METRICS = ("active_customers", "retention_rate", "repeat_purchase_rate", "purchase_frequency",
                     "average_order_value", "revenue_per_customer", "lead_conversion_rate", "nps")
"""The KPIs :func:`breakdown_wide` shows per group (those the breakdown measures)."""


CLIENT_BREAKDOWN_METRICS = ("active_customers", "retention_rate", "repeat_purchase_rate", "average_order_value",
                            "revenue_per_customer")
"""The KPIs of :func:`breakdown_table` (a client's narrower view)."""


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
