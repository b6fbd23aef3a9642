"""The attribution report's tables, sentences, findings and actions, in a client's words.

The notebook ``04_attribution`` calls these instead of computing in its cells. Every function
takes the results of the analysis functions (a comparison table, a fitted model, an
:class:`~crm_research.attribution.ABTest`, ...) and ``settings``
(:class:`crm_research.settings.ReportSettings`, ``run.settings`` in a notebook: the engagement's
currency, number formats and labels), and returns a table, or Markdown whose data values are
escaped (:func:`crm_research.notebook.text`). Functions named ``*_finding`` or ``*_action``
return the text (and value) that ``run.finding`` / ``run.action`` record, or None when there is
nothing to say. Nothing here prints or reads a global.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_research.exprs import parse_as_of

__all__ = [
    "MODEL_NAMES", "CLIENT_MODELS", "planted_table", "planted_credits", "per_unit", "journey_words",
    "path_table_note", "journeys_words", "top_journeys", "journeys_view", "JOURNEY_COLUMNS", "model_table",
    "model_share_columns", "models_appendix", "top_channel", "shapley_words", "SHAPLEY_COLUMNS",
    "shapley_gap_finding", "shapley_baseline_finding", "spend_before", "return_headline", "campaign_view",
    "low_spend_note", "channel_return_finding", "added_value", "added_value_view", "ADDED_VALUE_COLUMNS",
    "added_value_note", "BudgetMove", "budget_move", "budget_move_action", "period_table", "period_view",
    "ab_view", "ab_columns", "AB_COLUMNS", "AB_PERCENT", "ab_note", "ab_warnings", "ab_finding", "ABAction",
    "ab_action", "sample_size_table", "ab_truth_check",
]

MODEL_NAMES = {"first_touch": "First touch", "last_touch": "Last touch (last click)", "linear": "Linear",
               "position_based": "Position-based", "time_decay": "Time decay", "markov_1": "Markov chain",
               "markov_2": "Markov chain, 2 steps", "shapley_conversions": "Shapley, presence",
               "shapley_incremental": "Shapley, what it adds"}
"""Model names (:func:`~crm_research.attribution.default_models`) in the client's words."""

CLIENT_MODELS = ("last_touch", "linear", "markov_1", "shapley_incremental")
"""The four models whose channel shares the client's table shows."""

JOURNEY_COLUMNS = {"path": "Journey (channels in time order)", "journeys": "Contacts", "total_conversions": "Bought",
                   "conversion_rate": "Conversion rate", "total_conversion_value": "Value of first orders"}
"""Headers of :func:`top_journeys` for the client."""

SHAPLEY_COLUMNS = {"channel": "Channel", "incremental_conversions": "Conversions added",
                   "conversions": "Conversions credited", "share": "Share", "value": "Value credited"}
"""Headers of the Shapley credits for the client."""

AB_COLUMNS = ["arm", "n", "conversions", "rate", "rate_low", "rate_high", "diff", "diff_low", "diff_high",
              "lift", "lift_low", "lift_high", "p_value", "significant", "power", "required_n"]
"""The A/B summary's columns the analyst sees."""

AB_PERCENT = ("rate", "rate_low", "rate_high", "diff", "diff_low", "diff_high", "lift", "lift_low", "lift_high",
              "power")
"""The A/B summary's columns shown as percentages."""

NO_TOUCH = "(no touch)"


def _text(value, **kw) -> str:
    from crm_research.notebook import text

    return text(value, **kw)


def _label(settings, kind: str, value) -> str:
    return _text(settings.label(kind, value))


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ---------------------------------------------------------------------------------------------
# the planted truth and general words
# ---------------------------------------------------------------------------------------------


def planted_table(effects: Mapping | None) -> pd.DataFrame | None:
    """The planted incremental conversions per channel as a table (the needs' ``truth`` table).

    Parameters
    ----------
    effects : dict or None
        A synthetic company's planted truth (``truth.json``, ``run.truth(data_dir)[0]``);
        None for a client's data.

    Returns
    -------
    DataFrame or None
        ``channel``, ``incremental_conversions`` (count), one row per channel in the truth's
        order; None without a truth or without planted channels.

    Examples
    --------
    >>> planted_table({"channels": {"email": {"incremental_conversions": 12.5},
    ...                             "social": {"incremental_conversions": 3.0}}})
      channel  incremental_conversions
    0   email                     12.5
    1  social                      3.0
    """
    truth = planted_credits(effects)
    if not truth:
        return None
    return pd.DataFrame({"channel": list(truth), "incremental_conversions": list(truth.values())})


def planted_credits(effects: Mapping | None) -> dict[str, float] | None:
    """The planted incremental conversions per channel (for ``rank_agreement`` and the figure).

    Parameters
    ----------
    effects : dict or None
        A synthetic company's planted truth; None for a client's data.

    Returns
    -------
    dict or None
        Channel → incremental conversions (count); None without a truth.

    Examples
    --------
    >>> planted_credits({"channels": {"email": {"incremental_conversions": 12.5}}})
    {'email': 12.5}
    >>> planted_credits(None) is None
    True
    """
    if not effects:
        return None
    return {c: v["incremental_conversions"] for c, v in effects["channels"].items()}


def per_unit(settings) -> str:
    """What a return is "per": one unit of the currency (``"€1"``), or ``"unit of currency"``
    while the client's currency is not set."""
    return settings.money(1, 0) if settings.currency.known else "unit of currency"


def journey_words(path, label: Callable[[str], str]) -> str:
    """A path ``"email > display"`` in a client's words: ``"E-mail › Display ads"``.

    Parameters
    ----------
    path : str
        Channels joined by ``" > "``; ``""`` or ``"(no touch)"`` is a journey without touches.
    label : callable
        Channel code → name (``functools.partial(settings.label, "channels")``).

    Examples
    --------
    >>> journey_words("email > paid_search", str.upper)
    'EMAIL › PAID_SEARCH'
    >>> journey_words("", str.upper)
    'No ad or e-mail touch'
    """
    steps = [s for s in str(path).split(" > ") if s and s != NO_TOUCH]
    return " › ".join(label(s) for s in steps) if steps else "No ad or e-mail touch"


# ---------------------------------------------------------------------------------------------
# 1. journeys
# ---------------------------------------------------------------------------------------------


def path_table_note(path_table: pd.DataFrame, file_name: str, *, client: bool) -> str:
    """Markdown: the journeys come from a client's aggregated path table, not the event log."""
    no_value = "" if "total_conversion_value" in path_table else " It has no conversion value: every value below is 0."
    if client:
        return (f"**The journeys come from your path table** ({len(path_table):,} distinct journeys), not from the "
                "event log: the models below share out its conversions. It holds no touch times and no dates, so the "
                "look-back window and the analysis date do not apply to it." + no_value)
    return (f"**The journeys come from the client's path table** ({_text(file_name, code=True)}, {len(path_table):,} "
            "distinct paths), not from the event log: the models below share out its conversions. It "
            "holds no touch times and no dates, so `lookback_days` and `as_of` do not apply to it." + no_value)


def journeys_words(totals: Mapping[str, float], settings, *, lookback_days: float | None, client: bool) -> str:
    """Markdown: contacts, buyers, touched contacts and the conversions the models share out.

    Parameters
    ----------
    totals : dict
        :meth:`PathData.totals` of the journeys.
    settings : ReportSettings
    lookback_days : float or None
        The look-back window (days); None for a path table (no window applies).
    client : bool
        The client's words (else the analyst's).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> t = {"journeys": 1000, "conversions": 120, "touched_journeys": 800, "touched_conversions": 100}
    >>> journeys_words(t, ReportSettings(), lookback_days=30, client=False)
    '**1,000** contacts, **120** of them converted. **800** had at least one touch in the window, with **100** conversions: these are the conversions the models share out.'
    """
    if not client:
        return (f"**{totals['journeys']:,.0f}** contacts, **{totals['conversions']:,.0f}** of them converted. "
                f"**{totals['touched_journeys']:,.0f}** had at least one touch in the window, with "
                f"**{totals['touched_conversions']:,.0f}** conversions: these are the conversions the models share out.")
    window = f" in the {lookback_days:g} days before buying (the look-back window)" if lookback_days is not None else ""
    return (f"**{settings.count(totals['journeys'])}** contacts, **{settings.count(totals['conversions'])}** of them "
            f"bought. **{settings.count(totals['touched_journeys'])}** had at least one ad or e-mail touch{window}, "
            f"with **{settings.count(totals['touched_conversions'])}** conversions: these are the conversions the "
            "models share out.")


def top_journeys(path_table: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The ``n`` most common journeys of a path table, with their conversion rate.

    Parameters
    ----------
    path_table : DataFrame
        :func:`~crm_research.attribution.aggregate_paths` output or a client's path table
        (``path``, ``total_conversions``; ``total_conversion_value`` and ``total_null`` count
        as 0 when absent).
    n : int
        Journeys kept (most contacts first; ties in table order).

    Returns
    -------
    DataFrame
        ``path`` (``"(no touch)"`` for the empty path), ``journeys`` (contacts), ``total_conversions``,
        ``conversion_rate`` (share), ``total_conversion_value`` (currency).

    Examples
    --------
    >>> t = pd.DataFrame({"path": ["", "email", "email > social"], "total_conversions": [1, 3, 1],
    ...                   "total_null": [9, 1, 3], "total_conversion_value": [50.0, 120.0, 40.0]})
    >>> top_journeys(t, 2)[["path", "journeys", "conversion_rate"]]
             path  journeys  conversion_rate
    0  (no touch)        10             0.10
    1       email         4             0.75
    """
    counts = path_table.reindex(columns=["path", "total_conversions", "total_conversion_value", "total_null"],
                                fill_value=0.0)
    top = counts.assign(journeys=counts["total_conversions"] + counts["total_null"]).nlargest(n, "journeys")
    top = top.assign(path=top["path"].replace("", NO_TOUCH),
                     conversion_rate=top["total_conversions"] / top["journeys"])
    return top[["path", "journeys", "total_conversions", "conversion_rate", "total_conversion_value"]]


def journeys_view(top: pd.DataFrame, settings) -> pd.DataFrame:
    """:func:`top_journeys` with each path in the client's words (:func:`journey_words`)."""
    return top.assign(path=top["path"].map(lambda p: journey_words(p, lambda c: settings.label("channels", c))))


# ---------------------------------------------------------------------------------------------
# 2. models side by side
# ---------------------------------------------------------------------------------------------


def model_table(comparison: pd.DataFrame, values: str = "conversions",
                models: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per channel, one column per model: a column of :func:`compare_models`' table.

    Parameters
    ----------
    comparison : DataFrame
        :func:`~crm_research.attribution.compare_models` output.
    values : str
        The column shown (``conversions``, ``share``, ``value``).
    models : tuple of str, optional
        Only these models, in this order (those not in ``comparison`` are left out).

    Returns
    -------
    DataFrame
        ``channel`` (in the comparison's order) and one column per model.

    Examples
    --------
    >>> c = pd.DataFrame({"model": ["last_touch", "last_touch", "linear", "linear"],
    ...                   "channel": ["email", "social", "email", "social"], "share": [0.7, 0.3, 0.6, 0.4]})
    >>> model_table(c, "share", models=("linear", "markov_1"))
    model channel  linear
    0       email     0.6
    1      social     0.4
    """
    wide = pd.pivot_table(comparison, index="channel", columns="model", values=values, sort=False)
    if models is not None:
        wide = wide[[m for m in models if m in set(comparison["model"])]]
    return wide.reset_index()


def model_share_columns(shares: pd.DataFrame) -> dict[str, str]:
    """Client headers of :func:`model_table`: ``Channel`` and the models' names (:data:`MODEL_NAMES`)."""
    return {"channel": "Channel", **{m: MODEL_NAMES.get(m, m) for m in shares.columns if m != "channel"}}


def models_appendix(half_life_days: float, n_boot: int) -> str:
    """Markdown: the appendix on the attribution models and their ranges."""
    return (
        "### The attribution models\n\n"
        "Each model shares the conversions of contacts with at least one touch between the channels:\n\n"
        "| Model | Credit goes to |\n|---|---|\n"
        "| First touch, last touch | the first, or the last, channel of the journey |\n"
        "| Linear | every touch equally |\n"
        "| Position-based | 40% to the first touch, 40% to the last, 20% shared by those in between |\n"
        f"| Time decay | recent touches: a touch {half_life_days:g} days older than the last one counts half |\n"
        "| Markov chain (1 or 2 steps) | channels whose removal would lose the most conversions (section 3) |\n"
        "| Shapley, presence | each conversion split equally between the distinct channels of its journey |\n"
        "| Shapley, what it adds | channels that raise the conversion rate above that of untouched contacts (section 4) |\n\n"
        f"**95% ranges.** The journeys are resampled {n_boot:,} times and every model refitted: the range shows how "
        "much a figure would move with another sample of customers of the same size. With 100 resamples the ends of "
        "a range are themselves accurate to a few conversions only.")


# ---------------------------------------------------------------------------------------------
# 4. Shapley
# ---------------------------------------------------------------------------------------------


def _ranked(credits: pd.DataFrame, game: str) -> pd.DataFrame:
    by = "incremental_conversions" if game == "incremental" else "conversions"
    return credits.sort_values([by, "channel"], ascending=[False, True])


def top_channel(credits: pd.DataFrame, game: str) -> str:
    """The channel adding (``game="incremental"``) or credited with the most conversions
    (ties: the first by name).

    Examples
    --------
    >>> c = pd.DataFrame({"channel": ["a", "b"], "conversions": [5.0, 5.0], "incremental_conversions": [1.0, 2.0]})
    >>> top_channel(c, "incremental"), top_channel(c, "conversions")
    ('b', 'a')
    """
    return _ranked(credits, game)["channel"].iloc[0]


def shapley_words(model, totals: Mapping[str, float], settings, comparison: pd.DataFrame | None = None) -> str:
    """Markdown: the baseline rate, what the channels add, the most and least adding channels.

    Parameters
    ----------
    model : ShapleyAttribution
        Fitted.
    totals : dict
        :meth:`PathData.totals` of the journeys it was fitted on.
    settings : ReportSettings
    comparison : DataFrame, optional
        :func:`compare_models` output: names the channel last touch credits most.
    """
    credits, game = model.credits_, model.game
    ranked = _ranked(credits, game)
    first, last = _label(settings, "channels", ranked["channel"].iloc[0]), _label(settings, "channels",
                                                                                   ranked["channel"].iloc[-1])
    if game != "incremental":
        return (f"Each conversion is split equally between the channels of its path. Most credited: "
                f"**{first}**; least: **{last}**.")
    if not totals["touched_journeys"] < totals["journeys"]:
        return ("Every contact had at least one touch, so there is no untouched group to measure the baseline on: "
                "the values below measure what each channel adds over journeys without it only.")
    last_touch_top = (comparison.query("model == 'last_touch' and rank == 1")["channel"].iloc[0]
                      if comparison is not None else None)
    return (f"Contacts without any touch converted at **{settings.pct(model.baseline_rate_)}**. At that rate "
            f"**{settings.count(model.baseline_conversions_)}** of the {settings.count(totals['touched_conversions'])} "
            f"conversions of touched contacts would have happened anyway; the channels add about "
            f"**{settings.count(credits['incremental_conversions'].sum())}**. "
            f"Most added: **{first}**; least: **{last}**."
            + (f" Last touch credits **{_label(settings, 'channels', last_touch_top)}** with the most conversions."
               if last_touch_top is not None else ""))


def shapley_gap_finding(model, comparison: pd.DataFrame | None, settings) -> str | None:
    """The finding: channels that add more (or less) than last-click reports credit them with.

    Compares the shares of ``shapley_incremental`` and ``last_touch`` in ``comparison``: up to
    three channels whose Shapley share is at least 1 point above their last-click share, and up
    to two at least 1 point below.

    Parameters
    ----------
    model : ShapleyAttribution
        Fitted; only the incremental game says what a channel adds.
    comparison : DataFrame or None
        :func:`compare_models` output.
    settings : ReportSettings

    Returns
    -------
    str or None
        Markdown; None for the presence game, or without a comparison holding both models.
    """
    if (model.game != "incremental" or comparison is None
            or not {"last_touch", "shapley_incremental"} <= set(comparison["model"])):
        return None
    sh = comparison.query("model == 'shapley_incremental'").set_index("channel")
    lt = comparison.query("model == 'last_touch'").set_index("channel")["share"].reindex(sh.index).fillna(0.0)
    gap = (sh["share"] - lt).sort_values(ascending=False, kind="stable")

    def _range(c):
        lo, hi = sh.loc[c, "conversions_low"], sh.loc[c, "conversions_high"]
        return f", 95% range {settings.count(lo)} to {settings.count(hi)}" if pd.notna(lo) and pd.notna(hi) else ""

    more = [c for c in gap.index if gap[c] >= 0.01][:3]
    less = [c for c in gap.index[::-1] if gap[c] <= -0.01][:2]
    parts = [f"**{_label(settings, 'channels', c)}** {settings.pct(sh.loc[c, 'share'])} of conversions (about "
             f"{settings.count(sh.loc[c, 'conversions'])}{_range(c)}) against {settings.pct(lt[c])} by last click"
             for c in more]
    text = ("By what each channel adds, some win more customers than last-click reports credit them with: "
            + "; ".join(parts) + "." if parts else
            "What each channel adds is close to what last-click reports credit it with (within 1 point for every channel).")
    if less:
        text += " " + "; ".join(f"**{_label(settings, 'channels', c)}** gets {settings.pct(lt[c])} by last click but "
                                f"{settings.pct(sh.loc[c, 'share'])} by what it adds" for c in less)
        text += ": present before purchases more than it causes them."
    return text


def shapley_baseline_finding(model, totals: Mapping[str, float], settings) -> str | None:
    """The finding: how many touched conversions would have happened anyway (incremental game
    with untouched contacts only; else None)."""
    if model.game != "incremental" or not totals["touched_journeys"] < totals["journeys"]:
        return None
    added = float(model.credits_["incremental_conversions"].sum())
    return (f"Contacts no ad or e-mail reached still bought at {settings.pct(model.baseline_rate_)}: about "
            f"{settings.count(model.baseline_conversions_)} of the {settings.count(totals['touched_conversions'])} "
            f"conversions after a touch would have happened anyway; the channels add about {settings.count(added)} "
            f"({settings.pct(added / totals['touched_conversions'])}).")


# ---------------------------------------------------------------------------------------------
# 5. ad performance
# ---------------------------------------------------------------------------------------------


def spend_before(ad_spend: pd.DataFrame, as_of, *, date_col: str = "date") -> pd.DataFrame:
    """The rows of ``ad_spend`` dated before ``as_of`` (exclusive, UTC).

    Examples
    --------
    >>> s = pd.DataFrame({"date": pd.to_datetime(["2025-12-31", "2026-01-01"], utc=True), "cost": [1.0, 2.0]})
    >>> spend_before(s, "2026-01-01")["cost"].tolist()
    [1.0]
    """
    return ad_spend[ad_spend[date_col] < parse_as_of(as_of)]


def return_headline(perf: pd.DataFrame, settings, *, credited: bool) -> tuple[str, str] | None:
    """The headline ``(name, value)``: credited revenue per unit of spend of the campaigns with
    enough spend; None without credits or spend."""
    judged = perf[~perf["low_spend"]]
    if not credited or not judged["cost"].sum() > 0:
        return None
    name = (f"Credited revenue per {per_unit(settings)} of ad spend (linear rule"
            + (", campaigns with too little spend left out)" if perf["low_spend"].any() else ")"))
    return name, settings.money(judged["revenue"].sum() / judged["cost"].sum(), 2)


_CREDIT_COLUMNS = ("conversions", "cvr", "cpa", "revenue", "roas")


def campaign_view(perf: pd.DataFrame, settings, *, credited: bool, client: bool, named: bool = False
                  ) -> tuple[pd.DataFrame, dict | list]:
    """The campaign table as shown: the view and its columns (client headers, or analyst columns).

    Parameters
    ----------
    perf : DataFrame
        :func:`~crm_research.attribution.ad_performance` per campaign (with ``min_spend``).
    settings : ReportSettings
    credited : bool
        Whether conversions were credited (else spend and delivery only).
    client : bool
        The client's view: money texts, no ROAS where the spend is too small.
    named : bool
        The campaigns have names (which say the channel): the channel column is left out.

    Returns
    -------
    view : DataFrame
    columns : dict or list
        Client: column → header (for ``run.show``); analyst: the columns to show.
    """
    hide = () if credited else _CREDIT_COLUMNS
    if not client:
        shown = [c for c in ("campaign_id", "channel", "impressions", "clicks", "ctr", "conversions", "cvr", "cost",
                             "cpa", "revenue", "roas", "small_volume", "low_spend") if c in perf and c not in hide]
        return perf[shown], shown
    view = perf.copy()
    if credited:
        view["roas_text"] = ["too little spend to judge" if low else settings.money(r, 2)
                             for r, low in zip(view["roas"], view["low_spend"], strict=True)]
    pick = {"campaign_id": "Campaign", "channel": "Channel", "cost": "Spend", "conversions": "Conversions",
            "cpa": "Cost per conversion", "revenue": "Revenue credited",
            "roas_text": f"Revenue per {per_unit(settings)} spent"}
    if named or view["small_volume"].any():  # campaign names say the channel; the flag needs the room
        pick.pop("channel")
    if view["small_volume"].any():
        pick["small_volume"] = "Too few clicks or conversions to rank"
    return view, {k: v for k, v in pick.items() if k in view and k not in hide}


def low_spend_note(perf: pd.DataFrame, settings, *, min_spend: float, credited: bool, client: bool) -> str | None:
    """Markdown: the campaigns whose spend is too small to judge their return; None if none."""
    low = perf[perf["low_spend"] & perf["roas"].notna()] if credited else perf.iloc[:0]
    if not len(low):
        return None
    names = _join([_label(settings, "campaigns", c) for c in low["campaign_id"]])

    def _between(a, b):
        a, b = settings.money(a, 0), settings.money(b, 0)
        return a if a == b else f"{a} to {b}"

    return (f"**Too little spend to judge:** {names} cost {_between(low['cost'].min(), low['cost'].max())}"
            f"{' each' if len(low) > 1 else ''}, less than {settings.money(min_spend, 0)}, so the credited revenue per "
            f"{per_unit(settings)} of their spend ({_between(low['roas'].min(), low['roas'].max())}) says more about "
            "the tiny cost than about what they earn" + ("; it is not shown." if client else
                                                        f"; flagged `low_spend` (`min_spend` = {min_spend:g})."))


def channel_return_finding(perf: pd.DataFrame, settings, *, min_spend: float, credited: bool) -> str | None:
    """The finding: each channel's credited first-order revenue per unit of spend (linear credit);
    channels with too little spend are named apart. None without credits, channels or spend."""
    if not credited or "channel" not in perf or not perf["cost"].sum() > 0:
        return None
    by_channel = perf.groupby("channel", sort=True)[["cost", "revenue"]].sum()
    by_channel = by_channel[by_channel["cost"] > 0].assign(roas=lambda d: d["revenue"] / d["cost"])
    ok = by_channel[by_channel["cost"] >= min_spend].sort_values("roas", ascending=False, kind="stable")
    small = by_channel[by_channel["cost"] < min_spend]
    text = ""
    if len(ok):
        text = (f"Per {per_unit(settings)} of ad spend, the first orders credited to each channel (every touch sharing "
                "the credit equally) were worth " + ", ".join(
                    f"{settings.money(r['roas'], 2)} for **{_label(settings, 'channels', c)}**" for c, r in ok.iterrows())
                + ": credit for being present before purchases, not for what each channel adds.")
    if len(small):
        text += (" " + ", ".join(f"**{_label(settings, 'channels', c)}** ({settings.money(r['cost'], 0)} in all)"
                                 for c, r in small.iterrows())
                 + " cost too little to judge a return per unit of spend.")
    return text.strip() or None


ADDED_VALUE_COLUMNS = {"channel": "Channel", "cost": "Spend", "incremental_conversions": "Conversions added",
                       "added_value": "Value added"}
"""Client headers of :func:`added_value_view` (the last column is named by the currency)."""

ADDED_VALUE_INTRO = ("**What each channel's spend adds.** The linear credit above describes presence. For moving "
                     "budget what matters is what a channel *adds*: the conversions it adds by the Shapley value "
                     "(section 4), each worth an average first order, per unit of what the channel cost.")


def added_value(credits: pd.DataFrame, perf: pd.DataFrame, spend: pd.DataFrame, totals: Mapping[str, float], *,
                min_spend: float) -> pd.DataFrame | None:
    """What each channel's spend adds: Shapley-added conversions at the average first order, per unit of spend.

    Parameters
    ----------
    credits : DataFrame
        ``ShapleyAttribution(game="incremental")``'s ``credits_`` (``channel``,
        ``incremental_conversions``).
    perf : DataFrame
        :func:`ad_performance` per campaign, with its ``channel`` column.
    spend : DataFrame
        The ``ad_spend`` rows behind ``perf`` (``date``): their span gives the years covered.
    totals : dict
        :meth:`PathData.totals` of the journeys (touched conversions and their value).
    min_spend : float
        Channels that cost less (currency) are not judged (``judged`` False).

    Returns
    -------
    DataFrame or None
        Indexed by ``channel``: ``incremental_conversions``, ``cost`` (currency), ``added_value``
        (currency), ``per_unit`` (currency added per unit of spend), ``judged`` (bool).
        ``attrs["per_order"]`` (average first order of touched contacts, currency) and
        ``attrs["years"]`` (years of spend, at least 1/12). None when fewer than two channels
        both spent and added, or nothing converted.

    Examples
    --------
    >>> credits = pd.DataFrame({"channel": ["email", "social"], "incremental_conversions": [10.0, 4.0]})
    >>> perf = pd.DataFrame({"channel": ["email", "social", "social"], "cost": [100.0, 300.0, 100.0]})
    >>> spend = pd.DataFrame({"date": pd.to_datetime(["2025-01-01", "2025-12-31"])})
    >>> r = added_value(credits, perf, spend, {"touched_conversions": 20, "touched_value": 1000.0}, min_spend=200)
    >>> r[["added_value", "per_unit", "judged"]]
             added_value  per_unit  judged
    channel
    email          500.0       5.0   False
    social         200.0       0.5    True
    """
    if "channel" not in perf:
        return None
    spent = perf.groupby("channel", sort=True)["cost"].sum()
    ret = credits.set_index("channel")[["incremental_conversions"]].join(spent.rename("cost"), how="inner")
    ret = ret[ret["cost"] > 0]
    if len(ret) < 2 or not totals["touched_conversions"] > 0:
        return None
    per_order = totals["touched_value"] / totals["touched_conversions"]  # average first order (currency)
    years = max(((spend["date"].max() - spend["date"].min()).days + 1) / 365.25, 1 / 12)
    ret = ret.assign(added_value=ret["incremental_conversions"] * per_order)
    ret = ret.assign(per_unit=ret["added_value"] / ret["cost"], judged=ret["cost"] >= min_spend)
    ret.attrs.update(per_order=per_order, years=years)
    return ret


def added_value_view(ret: pd.DataFrame, settings) -> tuple[pd.DataFrame, dict]:
    """:func:`added_value` as shown: the view (value per unit of spend as text) and its headers."""
    view = ret.reset_index().assign(per_unit_text=[
        settings.money(v, 2) if ok else "too little spend to judge"
        for v, ok in zip(ret["per_unit"], ret["judged"], strict=True)])
    return view, {**ADDED_VALUE_COLUMNS, "per_unit_text": f"Value added per {per_unit(settings)} spent"}


def added_value_note(ret: pd.DataFrame, settings) -> str:
    """Markdown: how an added conversion is valued and the months of spend covered."""
    return (f"*Each added conversion is valued at the average first order of touched contacts, "
            f"{settings.money(ret.attrs['per_order'], 2)}; spend covers "
            f"{settings.number(ret.attrs['years'] * 12, 0)} months.*")


@dataclass(frozen=True)
class BudgetMove:
    """A yearly amount to move from the channel adding least per unit of spend to the one adding most.

    Attributes
    ----------
    from_channel, to_channel : str
    amount : float
        Currency per year: at most what either channel spends now (the better one's spend at
        most doubles).
    value : float
        Added first-order revenue per year the move is expected to bring (currency).
    low, high : float
        95% range of ``value`` over bootstrap replicates (NaN without replicates).
    """

    from_channel: str
    to_channel: str
    amount: float
    value: float
    low: float = float("nan")
    high: float = float("nan")


def budget_move(ret: pd.DataFrame | None, replicates: dict | None = None) -> BudgetMove | None:
    """The budget move that :func:`added_value` suggests, with its range over bootstrap replicates.

    The channels with enough spend are ranked by added value per unit of spend; when the best
    adds more than the worst (and more than nothing), ``amount`` = the smaller of their yearly
    spends is moved, worth ``amount × (added per unit of the best − added per unit of the worst,
    at least 0)``.

    Parameters
    ----------
    ret : DataFrame or None
        :func:`added_value`.
    replicates : dict, optional
        :func:`~crm_research.attribution.bootstrap_replicates` of the incremental Shapley model
        (``channels``, ``incremental_conversions_boot``): gives ``low`` and ``high``.

    Returns
    -------
    BudgetMove or None
        None when fewer than two channels are judged or the best adds nothing more.

    Examples
    --------
    >>> ret = pd.DataFrame({"incremental_conversions": [10.0, 4.0], "cost": [100.0, 400.0],
    ...                     "per_unit": [5.0, 0.5], "judged": [True, True]},
    ...                    index=pd.Index(["email", "social"], name="channel"))
    >>> ret.attrs.update(per_order=50.0, years=1.0)
    >>> budget_move(ret)
    BudgetMove(from_channel='social', to_channel='email', amount=100.0, value=450.0, low=nan, high=nan)
    """
    if ret is None:
        return None
    judged = ret[ret["judged"]].sort_values("per_unit", kind="stable")
    if not (len(judged) >= 2 and judged["per_unit"].iloc[-1] > max(judged["per_unit"].iloc[0], 0)):
        return None
    lo_c, hi_c = judged.index[0], judged.index[-1]
    per_order, years = ret.attrs["per_order"], ret.attrs["years"]
    # move at most what the better channel spends now: its spend at most doubles
    amount = min(ret.loc[lo_c, "cost"], ret.loc[hi_c, "cost"]) / years

    def _value(added_lo, added_hi):
        return amount * (added_hi * per_order / ret.loc[hi_c, "cost"]
                         - max(added_lo * per_order / ret.loc[lo_c, "cost"], 0.0))

    value = _value(ret.loc[lo_c, "incremental_conversions"], ret.loc[hi_c, "incremental_conversions"])
    low = high = float("nan")
    if replicates is not None:
        col = {c: i for i, c in enumerate(replicates["channels"])}
        moves = [_value(b[col[lo_c]], b[col[hi_c]]) for b in replicates["incremental_conversions_boot"]]
        low, high = np.quantile(moves, 0.025), np.quantile(moves, 0.975)
    return BudgetMove(str(lo_c), str(hi_c), float(amount), float(value), float(low), float(high))


def budget_move_action(move: BudgetMove, ret: pd.DataFrame, settings) -> tuple[str, str]:
    """The action's text and value text for a :class:`BudgetMove` (see :func:`budget_move`)."""
    pu = per_unit(settings)
    lo_name, hi_name = _label(settings, "channels", move.from_channel), _label(settings, "channels", move.to_channel)
    lo_ret = ret.loc[move.from_channel, "per_unit"]
    per_order = ret.attrs["per_order"]
    text = (f"Move about {settings.money(move.amount, 0)} a year of ad budget from **{lo_name}** to **{hi_name}**, in "
            f"steps, and check the result with a hold-out group. Per {pu} of spend, {hi_name} adds about "
            f"{settings.money(ret.loc[move.to_channel, 'per_unit'], 2)} of first-order revenue and {lo_name} "
            + (f"{settings.money(lo_ret, 2)}" if lo_ret > 0 else "nothing measurable")
            + f". This assumes each extra {pu} on {hi_name} adds what its average {pu} adds "
            "today (returns usually fall as spend grows, so it is an upper estimate), values each added "
            f"conversion at the average first order ({settings.money(per_order, 0)}) and counts first orders only.")
    span = (f" (95% range {settings.money(move.low, 0)} to {settings.money(move.high, 0)})"
            if not np.isnan(move.low) else "")
    return text, f"about {settings.money(move.value, 0)} a year{span}"


def period_table(by_period: pd.DataFrame, metric: str, periods: int = 12) -> pd.DataFrame:
    """The last ``periods`` periods of :func:`ad_performance` per channel and period, one column per channel.

    Examples
    --------
    >>> t = pd.DataFrame({"period": ["2025-11", "2025-11", "2025-12"], "channel": ["a", "b", "a"],
    ...                   "cpa": [10.0, 20.0, 12.0]})
    >>> period_table(t, "cpa")
    channel   period     a     b
    0        2025-11  10.0  20.0
    1        2025-12  12.0   NaN
    """
    return by_period.pivot(index="period", columns="channel", values=metric).tail(periods).reset_index()


def period_view(wide: pd.DataFrame, period: str, as_of, settings, *, metric: str
                ) -> tuple[pd.DataFrame, dict, tuple[str, ...], str]:
    """:func:`period_table` as the client reads it.

    Returns
    -------
    view : DataFrame
        Periods as ``"Jan 2026"`` (months) or days (weeks), ``" (partial)"`` where the period
        ends after ``as_of``.
    columns : dict
        Headers (``Month``/``Week``, channel names).
    money : tuple of str
        The channel columns (currency).
    note : str
        Markdown under the table.
    """
    wide = wide.copy()
    starts = pd.to_datetime(wide["period"])
    ends = starts + (pd.DateOffset(months=1) if period == "M" else pd.Timedelta(days=7))
    cut = parse_as_of(as_of).tz_localize(None)
    ends = ends.dt.tz_localize(None) if ends.dt.tz is not None else ends
    names = [s.strftime("%b %Y") if period == "M" else settings.day(s) for s in starts]
    wide["period"] = [n + (" (partial)" if e > cut else "") for n, e in zip(names, ends, strict=True)]
    chans = tuple(c for c in wide.columns if c != "period")
    columns = {"period": "Month" if period == "M" else "Week", **{c: settings.label("channels", c) for c in chans}}
    note = (f"*{'Cost per conversion' if metric == 'cpa' else 'Spend'} in "
            f"{settings.money_unit or 'currency units'}; every figure for every period is in the "
            "spreadsheet **ad\\_performance\\_channel\\_period.csv**.*")
    return wide, columns, chans, note


# ---------------------------------------------------------------------------------------------
# 7. A/B test
# ---------------------------------------------------------------------------------------------


def _verdict(r) -> str:
    if pd.isna(r["diff"]):
        return "reference"
    if r["significant"]:
        return "variant better" if r["diff"] > 0 else "variant worse"
    weak = pd.notna(r["power"]) and r["power"] < 0.8
    return "no clear difference" + (" (test too small to tell)" if weak else "")


def ab_view(summary: pd.DataFrame, settings, arm_name: Callable[[str], str]) -> pd.DataFrame:
    """The A/B summary as a client reads it: one row per variant against the control.

    Parameters
    ----------
    summary : DataFrame
        ``ABTest.summary_`` (control first).
    settings : ReportSettings
    arm_name : callable
        Arm → the e-mail's name.

    Returns
    -------
    DataFrame
        ``variant``, ``control`` and ``rate`` ("8.0% of 1,200"), ``diff`` and ``lift`` (with
        their 95% ranges), ``verdict`` (texts).
    """
    def _pts(x):
        return settings.pts(x).replace(" pts", "")

    def _span(x, lo, hi, f, unit=""):
        return "" if pd.isna(x) else f"{f(x)}{unit} ({f(lo)} to {f(hi)})"

    c0 = summary.iloc[0]
    rows = summary.iloc[1:]
    return pd.DataFrame({
        "variant": [arm_name(a) for a in rows["arm"]],
        "control": f"{settings.pct(c0['rate'])} of {settings.count(c0['n'])}",
        "rate": [f"{settings.pct(r['rate'])} of {settings.count(r['n'])}" for _, r in rows.iterrows()],
        "diff": [_span(r["diff"], r["diff_low"], r["diff_high"], _pts, " pts") for _, r in rows.iterrows()],
        "lift": [_span(r["lift"], r["lift_low"], r["lift_high"], lambda x: settings.pct(x, 0, signed=True))
                 for _, r in rows.iterrows()],
        "verdict": [_verdict(r) for _, r in rows.iterrows()]})


def ab_columns(view: pd.DataFrame) -> dict[str, str]:
    """Client headers of :func:`ab_view` (one variant: its name goes under the table instead)."""
    one = len(view) == 1
    return {**({} if one else {"variant": "Variant"}), "control": "Control converted", "rate": "Variant converted",
            "diff": "Difference (95% range)", "lift": "Relative lift (95% range)", "verdict": "Verdict"}


def ab_note(view: pd.DataFrame, arm_name: Callable[[str], str]) -> str:
    """Markdown under the client's A/B table: the e-mails' names and where the full table is."""
    return (f"*Control: {_text(arm_name('control'))}"
            + (f"; variant: {_text(view['variant'].iloc[0])}" if len(view) == 1 else "")
            + ". The full test table, with each rate's 95% range, is in the spreadsheet **ab\\_test.csv**.*")


def ab_warnings(test) -> str:
    """Markdown: the fitted :class:`ABTest`'s warnings as a list, or that there are none."""
    return ("\n".join(f"- **Warning.** {_text(w, limit=None)}" for w in test.warnings_)
            or "No warnings: the test was large enough for the target lift, the arms are balanced and every "
               "window is complete.")


def ab_finding(test, settings, *, variant_label: str, target_lift: float) -> str:
    """The finding: the variant's rate against the control's, the difference with its range, the verdict."""
    v, c0 = test.summary_.iloc[1], test.summary_.iloc[0]
    pts = settings.pts
    return (f"A/B test: the variant e-mail (**{variant_label}**) converted {settings.pct(v['rate'])} "
            f"of {settings.count(v['n'])} contacts against {settings.pct(c0['rate'])} of {settings.count(c0['n'])} for "
            f"the control, {pts(v['diff'])} (95% range {pts(v['diff_low'])} to {pts(v['diff_high'])}; "
            f"{settings.pct(v['lift'], 0, signed=True)} relative). "
            + ("The difference is significant." if v["significant"] else
               f"That is no clear difference: the test had a {settings.pct(v['power'], 0)} chance to detect a "
               f"{pts(target_lift)} difference and would need about {settings.count(v['required_n'])} "
               "contacts per e-mail to tell." if pd.notna(v["power"]) and v["power"] < 0.8 else
               "That is no clear difference."))


@dataclass(frozen=True)
class ABAction:
    """What to do after the A/B test, with what the variant is worth (for ``run.action``)."""

    text: str
    value: float
    value_text: str
    priority: int
    value_label: str | None = None

    def kwargs(self) -> dict:
        """The keyword arguments of ``run.action`` (``value``, ``value_text``, ``priority`` and,
        when set, ``value_label``)."""
        out = {"value": self.value, "value_text": self.value_text, "priority": self.priority}
        return out if self.value_label is None else {**out, "value_label": self.value_label}


def ab_action(test, assignments: pd.DataFrame, settings, *, control_label: str, variant_label: str
              ) -> ABAction | None:
    """Roll out the variant, keep the control, or finish the test, valued per 10,000 e-mails.

    Parameters
    ----------
    test : ABTest
        Fitted on ``assignments``.
    assignments : DataFrame
        :func:`~crm_research.attribution.ab_assignments` (``converted``, ``conversion_value``).
    settings : ReportSettings
    control_label, variant_label : str
        The e-mails' names (escaped).

    Returns
    -------
    ABAction or None
        None when nothing converted or the difference is unknown.
    """
    v = test.summary_.iloc[1]
    conv_value = (float(assignments.loc[assignments["converted"], "conversion_value"].mean())
                  if bool(assignments["converted"].any()) else float("nan"))
    if not (pd.notna(conv_value) and pd.notna(v["diff"])):
        return None
    per = 10_000
    value, lo, hi = (per * x * conv_value for x in (v["diff"], v["diff_low"], v["diff_high"]))
    span = (f"about {settings.money(value, 0)} per {per:,} e-mails sent (95% range {settings.money(lo, 0)} to "
            f"{settings.money(hi, 0)})")
    worth = (f"Each test conversion was an order of {settings.money(conv_value, 0)} on average; the value assumes the "
             "difference measured here holds for every e-mail sent.")
    pts = settings.pts
    if v["significant"] and v["diff"] > 0:
        return ABAction(f"Roll out the variant e-mail (**{variant_label}**) to every contact: it converts "
                        f"{pts(v['diff'])} better than the control. {worth}", value, span, 1)
    if v["significant"]:
        return ABAction(f"Keep the control e-mail (**{control_label}**): the variant converts {pts(v['diff'])} "
                        f"worse. {worth}", -value, f"avoids a loss of {span[6:]}", 1)
    if pd.notna(v["required_n"]):
        return ABAction(f"Finish the A/B test before choosing: send each e-mail to about "
                        f"{settings.count(v['required_n'])} contacts (this test had "
                        f"{settings.count(test.summary_['n'].min())} in its smaller arm), then read it once. The value "
                        f"is what the variant is worth if the measured {pts(v['diff'])} holds. {worth}", value, span,
                        2, "Worth, if the measured difference holds")
    return None


def sample_size_table(p_control: float, target_lift: float, multiples=(0.5, 1, 2, 3)) -> pd.DataFrame:
    """Contacts per arm a next test needs to detect lifts around ``target_lift`` (80% power, 5% level).

    Parameters
    ----------
    p_control : float
        The control's conversion rate (share).
    target_lift : float
        The difference worth detecting (share points, 0.02 = 2 points).
    multiples : sequence of float
        Lifts planned: these multiples of ``target_lift`` (those giving a rate outside (0, 1) are left out).

    Returns
    -------
    DataFrame
        ``control_rate``, ``lift_percentage_points``, ``contacts_per_arm``.

    Examples
    --------
    >>> sample_size_table(0.08, 0.02)["contacts_per_arm"].tolist()
    [12199, 3205, 875, 420]
    """
    from crm_research.attribution.experiments import required_sample_size

    p0 = float(p_control)
    lifts = [k * target_lift for k in multiples if 0 < p0 < 1 and 0 < p0 + k * target_lift < 1]
    return pd.DataFrame({"control_rate": p0, "lift_percentage_points": [x * 100 for x in lifts],
                         "contacts_per_arm": [required_sample_size(p0, x) for x in lifts]})


def ab_truth_check(test, planted_ab: Mapping) -> pd.DataFrame:
    """The planted A/B difference and relative lift against the estimates and their 95% ranges.

    Parameters
    ----------
    test : ABTest
        Fitted; its second row is the variant.
    planted_ab : dict
        The truth's ``ab_test`` (``lift_abs``, ``lift_rel``).

    Returns
    -------
    DataFrame
        ``quantity``, ``planted``, ``estimate``, ``low``, ``high``, ``inside_range`` (bool).
    """
    v = test.summary_.iloc[1]
    check = pd.DataFrame({"quantity": ["difference (share points)", "relative lift"],
                          "planted": [planted_ab["lift_abs"], planted_ab["lift_rel"]],
                          "estimate": [v["diff"], v["lift"]], "low": [v["diff_low"], v["lift_low"]],
                          "high": [v["diff_high"], v["lift_high"]]})
    check["inside_range"] = (check["low"] <= check["planted"]) & (check["planted"] <= check["high"])
    return check
