"""The marketing mix model's results in a client's words: the channel table, the fit paragraph,
the budget recommendation and the check against a planted truth.

Re-exported by :mod:`crm_research.mmm` (``mmm.fit_words``, ...).

Every function takes the fitted :class:`~crm_research.mmm.MarketingMixModel` (or its tables) and
``settings`` (:class:`crm_research.settings.ReportSettings`, ``run.settings`` in a notebook: the
engagement's currency, number formats and channel labels) and returns Markdown whose data values
are escaped (:func:`crm_research.notebook.text`), or a table of texts for ``run.show``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_research.settings import and_list

__all__ = ["OUTCOME_WORDS", "channel_view", "channel_view_columns", "fit_words", "budget_words", "BudgetWords",
           "truth_check", "appendix_words"]

OUTCOME_WORDS = {"new_customers": ("new customer", "new customers"), "orders": ("order", "orders"),
                 "revenue": ("unit of revenue", "revenue"), "signups": ("sign-up", "sign-ups")}
"""What the model explains, singular and plural, in a client's words."""


def _text(value) -> str:
    from crm_research.notebook import text

    return text(value)


def _channel(settings, c) -> str:
    return _text(settings.label("channels", c))


def _amount(settings, outcome: str, x: float) -> str:
    """An outcome amount: money for revenue, a whole count otherwise."""
    return settings.money(x, 0) if outcome == "revenue" else settings.count(x)


def channel_view(summary: pd.DataFrame, outcome: str, settings) -> pd.DataFrame:
    """The per-channel table as a client reads it: spend, what the channel brought and what one
    unit of outcome cost, each with its range.

    Parameters
    ----------
    summary : DataFrame
        ``MarketingMixModel.summary``.
    outcome : {"new_customers", "orders", "revenue"}
    settings : ReportSettings

    Returns
    -------
    DataFrame
        ``channel``, ``spend`` (currency), ``brought``, ``cost`` and ``next_cost`` (texts).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> s = pd.DataFrame({"channel": ["search", "social"], "spend": [5000.0, 2000.0], "contribution": [100.0, 0.0],
    ...                   "contribution_low": [60.0, 0.0], "contribution_high": [140.0, 10.0], "roas": [0.02, 0.0],
    ...                   "roas_low": [0.012, 0.0], "roas_high": [0.028, 0.005], "mroas": [0.01, 0.0]})
    >>> channel_view(s, "new_customers", ReportSettings())[["channel", "brought", "cost", "next_cost"]]
      channel          brought                  cost              next_cost
    0  search  100 (60 to 140)         50 (36 to 83)                    100
    1  social      0 (0 to 10)  no measurable effect  no more at this level
    """
    def span(x, lo, hi, f):
        if pd.isna(lo) or pd.isna(hi):
            return f(x)
        a, b = f(lo), f(hi)
        return f"{f(x)} ({a} to {b})" if a != b else f(x)

    def money(x):
        return settings.money(x, 2 if abs(x) < 10 else 0)

    def cost(r):
        if not r["roas"] > 0:
            return "no measurable effect"
        point = money(1.0 / r["roas"])
        if pd.isna(r["roas_low"]) or pd.isna(r["roas_high"]):
            return point
        lo = money(1.0 / r["roas_high"])
        return f"{point} ({lo} or more)" if not r["roas_low"] > 0 else f"{point} ({lo} to {money(1.0 / r['roas_low'])})"

    rows = []
    for _, r in summary.iterrows():
        rows.append({
            "channel": r["channel"], "spend": r["spend"],
            "brought": span(r["contribution"], r["contribution_low"], r["contribution_high"],
                            lambda x: _amount(settings, outcome, x)),
            "cost": cost(r),
            "next_cost": "no more at this level" if not r["mroas"] > 0 else money(1.0 / r["mroas"]),
        })
    return pd.DataFrame(rows)


def channel_view_columns(outcome: str) -> dict[str, str]:
    """Client headers of :func:`channel_view` for ``outcome``.

    Examples
    --------
    >>> channel_view_columns("new_customers")["cost"]
    'Spend per new customer (90% range)'
    """
    one, many = OUTCOME_WORDS[outcome]
    return {"channel": "Channel", "spend": "Spend", "brought": f"{many.capitalize()} brought (90% range)",
            "cost": f"Spend per {one} (90% range)", "next_cost": f"Spend for one more {one}"}


def appendix_words(n_bootstrap: int) -> str:
    """Markdown: the appendix on the marketing mix model (form, ranges, checks, budget).

    Examples
    --------
    >>> print(appendix_words(100))
    ### The marketing mix model
    ...(blocks of 6 consecutive weeks, 100 times) and the range holds 90% of the refits...
    """
    return (
        "### The marketing mix model\n\n"
        "Each week's outcome is modelled as a baseline, a linear trend, a yearly season (two pairs of sine and "
        "cosine terms), the share of orders with a promotion code, and one term per channel. A channel's term "
        "carries its spend over the following weeks (each week keeps a fixed share of the previous week's effect, "
        "up to 8 weeks) and saturates (the same extra spend brings less in a week when more is already spent). "
        "The parameters are the ones that make the modelled weeks closest to the real ones; no channel may lower "
        "the outcome. **Ranges:** the model is refitted on resampled weeks (blocks of 6 consecutive weeks, "
        f"{n_bootstrap} times) and the range holds 90% of the refits. It shows how much the week-to-week noise "
        "leaves open, not whether the model's form is right: on test data with a known answer it held the true "
        "value for only about half the channels, so read it as the least uncertainty there is. "
        "**Out-of-time check:** the last 8 weeks are "
        "predicted by a model fitted without them. **Spend per new customer:** spend divided by what the "
        "channel brought; **for one more:** the spend that brings one more at today's level. **Budget:** the "
        "split of the same total that the model expects to bring most, within the stated limits per channel.")


def fit_words(model, settings) -> str:
    """What the model found over the fitted weeks, how well it predicts and what it cannot tell,
    as one Markdown paragraph for a client.

    Parameters
    ----------
    model : MarketingMixModel
        Fitted.
    settings : ReportSettings
        Currency, number formats, channel labels.

    Returns
    -------
    str
        Markdown (data values escaped).

    Examples
    --------
    >>> from crm_research import mmm, synthetic
    >>> from crm_research.settings import ReportSettings
    >>> t, truth, _ = synthetic.generate(n_customers=300, seed=7)
    >>> weekly = mmm.weekly_data(t["orders"], t["ad_spend"], t["campaigns"], customers=t["customers"],
    ...                          outcome="signups", as_of="2026-01-01")
    >>> model = mmm.MarketingMixModel(n_bootstrap=0, holdout_weeks=0).fit(weekly)
    >>> print(fit_words(model, ReportSettings()))
    Over the 95 weeks from 05 Feb 2024 to 30 Nov 2025, 7,937 of ad spend brought about 93 of the 486 sign-ups (19%);
    the rest would have come without ads. Email brought them most cheaply, about 1.85 of spend per sign-up; Social cost
    most, about 15. No measurable effect of Affiliate, Display and Paid search on sign-ups.
    """
    outcome = model.outcome_
    one, many = OUTCOME_WORDS[outcome]
    w = model.contributions_
    s = model.summary
    media, total = float(w[list(model.channels_)].to_numpy().sum()), float(w["actual"].sum())
    first, last = w["week"].min(), w["week"].max() + pd.Timedelta(days=6)
    out = [f"Over the {len(w)} weeks from {settings.day(first)} to {settings.day(last)}, "
           f"{settings.money(s['spend'].sum(), 0)} of ad spend brought about {_amount(settings, outcome, media)} of the "
           f"{_amount(settings, outcome, total)} {many}"
           + (f" ({settings.pct(media / total, 0)}); the rest would have come without ads." if total > 0 else ".")]
    paying = s[s["roas"] > 0].assign(cost=lambda d: 1.0 / d["roas"]).sort_values("cost", kind="stable")
    if len(paying) >= 2:
        b, z = paying.iloc[0], paying.iloc[-1]
        def money(x):
            return settings.money(x, 2 if abs(x) < 10 else 0)

        out.append(f"{_channel(settings, b['channel'])} brought them most cheaply, about "
                   f"{money(b['cost'])} of spend per {one}; {_channel(settings, z['channel'])} "
                   f"cost most, about {money(z['cost'])}.")
    none = s[~(s["roas"] > 0)]
    if len(none):
        out.append(f"No measurable effect of {and_list([_channel(settings, c) for c in none['channel']])} on {many}.")
    if model.holdout_ is not None and np.isfinite(model.holdout_mape_):
        k = len(model.holdout_)
        out.append(f"Checked on the last {k} weeks, which the model had not seen, its weekly {many} were off by "
                   f"{settings.pct(model.holdout_mape_, 0)} on average"
                   + (": too far off to plan on, so read its figures as rough." if model.holdout_mape_ > 0.25
                      else "."))
    for issue in model.issues_:
        names = [_channel(settings, c) for c in issue["channels"]]
        if issue["kind"] == "few_weeks":
            out.append(f"With {issue['weeks']} weeks for {len(s)} channels, the split between the channels and the "
                       "season is rough.")
        elif issue["kind"] == "flat_spend":
            out.append(f"Spend on {names[0]} hardly changed from week to week, so its effect cannot be told apart "
                       "from what would come anyway: pause or raise it in some weeks to measure it.")
        elif issue["kind"] == "negative_baseline":
            out.append(f"In {settings.pct(issue['value'], 0)} of the weeks the model's {many} without ads fall below "
                       "zero: it credits the ads with part of the trend or the season, so read its figures as an "
                       "upper estimate.")
        elif issue["kind"] == "collinear":
            out.append(f"Spend on {names[0]} and {names[1]} rose and fell together, so the model cannot tell their "
                       "effects apart: read them together, or vary one without the other for a few weeks.")
    return " ".join(out)


@dataclass(frozen=True)
class BudgetWords:
    """The budget recommendation in words: the paragraph, and the summary's finding and action."""

    text: str
    finding: str
    action: str | None
    value: float | None
    value_text: str | None


def budget_words(model, plan: pd.DataFrame, settings, value_per_unit: float | None = None) -> BudgetWords:
    """The recommended split of next period's budget in a client's words.

    Parameters
    ----------
    model : MarketingMixModel
        Fitted.
    plan : DataFrame
        ``model.optimise_budget(...)``.
    settings : ReportSettings
    value_per_unit : float, optional
        Currency one unit of outcome is worth (e.g. the average first order for new customers,
        :func:`crm_research.mmm.value_per_outcome`); the action's value is the gain times this, per year.

    Returns
    -------
    BudgetWords

    Examples
    --------
    >>> from crm_research import mmm, synthetic
    >>> from crm_research.settings import ReportSettings
    >>> t, truth, _ = synthetic.generate(n_customers=300, seed=7)
    >>> weekly = mmm.weekly_data(t["orders"], t["ad_spend"], t["campaigns"], customers=t["customers"],
    ...                          outcome="signups", as_of="2026-01-01")
    >>> model = mmm.MarketingMixModel(n_bootstrap=0, holdout_weeks=0).fit(weekly)
    >>> words = budget_words(model, model.optimise_budget(weeks=13), ReportSettings(),
    ...                      value_per_unit=mmm.value_per_outcome(t["orders"], weekly, t["customers"]))
    >>> print(words.finding)
    The same ad budget, split differently, is expected to bring about 4 more sign-ups in the next 13 weeks.
    >>> words.value_text
    'about 4 more sign-ups in 13 weeks, worth about 199'
    """
    outcome = model.outcome_
    one, many = OUTCOME_WORDS[outcome]
    weeks = int(plan.attrs.get("weeks", 13))
    tot = plan[plan["channel"] == "total"].iloc[0]
    rows = plan[plan["channel"] != "total"]
    total = float(tot["current_spend"])
    gain, lo, hi = float(tot["gain"]), float(tot["gain_low"]), float(tot["gain_high"])
    amount = lambda x: _amount(settings, outcome, x)  # noqa: E731
    ranged = "" if not (np.isfinite(lo) and np.isfinite(hi)) else f" (90% range {amount(lo)} to {amount(hi)})"
    moved = float(rows["change"].clip(lower=0).sum())
    ups = [_channel(settings, c) for c in rows.loc[rows["change"] > 0.01 * total, "channel"]]
    downs = [_channel(settings, c) for c in rows.loc[rows["change"] < -0.01 * total, "channel"]]
    base = (f"At today's split, the next {weeks} weeks' ad spend of {settings.money(total, 0)} is expected to bring "
            f"about {amount(tot['current_outcome'])} {many} through the ads.")
    worth = value_per_unit is not None and np.isfinite(value_per_unit) and value_per_unit > 0
    if not ups or not downs or gain < (1.0 if outcome != "revenue" else 0.005 * total):
        text = base + " Today's split is already close to the best the model can find: keep it, and vary spend " \
                      "on purpose in some weeks so the next analysis can measure each channel better."
        finding = (f"The ad budget is already split close to the best the model can find for the next {weeks} "
                   "weeks.")
        return BudgetWords(text, finding, None, None, None)
    text = (base + f" Moving about {settings.money(moved, 0)} from {and_list(downs)} to {and_list(ups)} is expected to bring "
            f"about {amount(tot['expected_outcome'])}: about {amount(gain)} more{ranged}, for the same money.")
    if not lo > 0:
        text += " The range includes no gain at all: treat the move as a test, not a certainty."
    capped = rows[(rows["current_spend"] > 0) & (rows["recommended_spend"] >= 1.5 * rows["current_spend"] * 0.999)
                  & (rows["change"] > 0)]
    if len(capped) and not plan.attrs.get("bounds_given"):
        names = and_list([_channel(settings, c) for c in capped["channel"]])
        text += (f" {names} {'reaches' if len(capped) == 1 else 'reach'} the limit of one and a half times today's "
                 "spend and would take more: try a larger increase on part of the market (some regions or weeks) "
                 "before moving more money.")
    action = (f"Over the next {weeks} weeks, move about {settings.money(moved, 0)} of ad spend from {and_list(downs)} to "
              f"{and_list(ups)}, in steps, and watch the weekly {many}: the model expects about {amount(gain)} more "
              f"{many} for the same total spend{ranged}.")
    value = gain * value_per_unit * 52.0 / weeks if worth else None
    value_text = (f"about {amount(gain)} more {many} in {weeks} weeks{ranged}"
                  + (f", worth about {settings.money(gain * value_per_unit, 0)}" if worth and outcome != "revenue"
                     else ""))
    finding = (f"The same ad budget, split differently, is expected to bring about {amount(gain)} more {many} in the "
               f"next {weeks} weeks{ranged}.")
    return BudgetWords(text, finding, action, value, value_text)


def truth_check(summary: pd.DataFrame, planted: dict, outcome: str) -> pd.DataFrame:
    """The model's ROAS per channel against a synthetic company's planted one (``truth["mmm"]``).

    Parameters
    ----------
    summary : DataFrame
        ``MarketingMixModel.summary``.
    planted : dict
        ``truth.json``'s ``mmm`` entry: per channel ``roas_<outcome>`` (outcome per currency unit).
    outcome : str
        The outcome the model explained.

    Returns
    -------
    DataFrame
        ``channel``, ``planted_roas``, ``roas``, ``roas_low``, ``roas_high``, ``inside_range``,
        ``relative_error`` ((estimate − planted) / planted), ``planted_rank``, ``rank`` (1 = most
        outcome per unit of spend).

    Examples
    --------
    >>> from crm_research import mmm, synthetic
    >>> from crm_research.settings import ReportSettings
    >>> t, truth, _ = synthetic.generate(n_customers=300, seed=7)
    >>> weekly = mmm.weekly_data(t["orders"], t["ad_spend"], t["campaigns"], customers=t["customers"],
    ...                          outcome="signups", as_of="2026-01-01")
    >>> model = mmm.MarketingMixModel(n_bootstrap=0, holdout_weeks=0).fit(weekly)
    >>> truth_check(model.summary, truth["mmm"], "signups")[["channel", "planted_rank", "rank"]]
           channel  planted_rank  rank
    0    affiliate             4     3
    1      display             5     3
    2        email             1     1
    3  paid_search             3     3
    4       social             2     2
    """
    key = f"roas_{outcome}"
    chans = planted.get("channels", {})
    out = summary[["channel", "roas", "roas_low", "roas_high"]].copy()
    out.insert(1, "planted_roas", [chans.get(c, {}).get(key, np.nan) for c in out["channel"]])
    out["inside_range"] = (out["roas_low"] <= out["planted_roas"]) & (out["planted_roas"] <= out["roas_high"])
    out["relative_error"] = (out["roas"] - out["planted_roas"]) / out["planted_roas"]
    out["planted_rank"] = out["planted_roas"].rank(ascending=False, method="min").astype("Int64")
    out["rank"] = out["roas"].rank(ascending=False, method="min").astype("Int64")
    return out.reset_index(drop=True)
