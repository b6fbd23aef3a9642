"""The attribution report's tables, sentences, findings and actions, in a client's words.

The notebook ``04_attribution`` calls these instead of computing in its cells. Every function
takes the results of the analysis functions (a comparison table, a fitted model, an
:class:`~crm_research.attribution.ABTest`, ...) and ``settings``
(:class:`crm_research.settings.ReportSettings`, ``run.settings`` in a notebook: the engagement's
currency, number formats and labels), and returns a table, or Markdown whose data values are
escaped (:func:`crm_research.notebook.text`). Functions named ``*_finding`` or ``*_action``
return the text (and value) that ``run.finding`` / ``run.action`` record, or None when there is
nothing to say. Nothing here prints or reads a global.

This module holds the journeys, the models side by side and the Shapley sections; the ad
performance (:mod:`~crm_research.attribution.report_ads`) and the A/B test
(:mod:`~crm_research.attribution.report_ab`) have modules of their own, whose names are
re-exported here: ``report.campaign_view``, ``report.ab_finding``, ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from crm_research.attribution._report import _label, _text, per_unit

__all__ = [
    "MODEL_NAMES", "CLIENT_MODELS", "planted_table", "planted_credits", "per_unit", "journey_words",
    "path_table_note", "journeys_words", "top_journeys", "journeys_view", "JOURNEY_COLUMNS", "model_table",
    "model_share_columns", "models_appendix", "top_channel", "shapley_words", "SHAPLEY_COLUMNS",
    "shapley_gap_finding", "shapley_baseline_finding", "spend_before", "return_headline", "campaign_view",
    "low_spend_note", "channel_return_finding", "added_value", "added_value_view", "ADDED_VALUE_COLUMNS",
    "added_value_note", "ADDED_VALUE_INTRO", "BudgetMove", "budget_move", "budget_move_action", "period_table", "period_view",
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

NO_TOUCH = "(no touch)"


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
    """Markdown: the journeys come from a client's aggregated path table, not the event log.

    Examples
    --------
    >>> t = pd.DataFrame({"path": ["email", ""], "total_conversions": [3, 1], "total_null": [5, 9]})
    >>> print(path_table_note(t, "paths.csv", client=True))
    **The journeys come from your path table** (2 distinct journeys), ... every value below is 0.
    """
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
    """:func:`top_journeys` with each path in the client's words (:func:`journey_words`).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> t = pd.DataFrame({"path": ["email > paid_search", ""], "total_conversions": [3, 1], "total_null": [5, 9]})
    >>> journeys_view(top_journeys(t), ReportSettings())["path"].tolist()
    ['No ad or e-mail touch', 'Email › Paid search']
    """
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
    """Client headers of :func:`model_table`: ``Channel`` and the models' names (:data:`MODEL_NAMES`).

    Examples
    --------
    >>> model_share_columns(pd.DataFrame(columns=["channel", "last_touch", "markov_1"]))
    {'channel': 'Channel', 'last_touch': 'Last touch (last click)', 'markov_1': 'Markov chain'}
    """
    return {"channel": "Channel", **{m: MODEL_NAMES.get(m, m) for m in shares.columns if m != "channel"}}


def models_appendix(half_life_days: float, n_boot: int) -> str:
    """Markdown: the appendix on the attribution models and their ranges.

    Examples
    --------
    >>> print(models_appendix(half_life_days=7, n_boot=100))
    ### The attribution models
    ...
    | Time decay | recent touches: a touch 7 days older than the last one counts half |
    ...
    """
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

    Examples
    --------
    >>> from crm_research.attribution import ShapleyAttribution, path_data
    >>> from crm_research.settings import ReportSettings
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> m = ShapleyAttribution().fit(t)
    >>> print(shapley_words(m, path_data(t).totals(), ReportSettings()))
    Contacts without any touch converted at **7.5%**. At that rate **15** of the 60 conversions of touched contacts
    would have happened anyway; the channels add about **45**. Most added: **Search**; least: **Display**.
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

    Examples
    --------
    >>> from crm_research.attribution import ShapleyAttribution, path_data
    >>> from crm_research.settings import ReportSettings
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> m = ShapleyAttribution().fit(t)
    >>> from crm_research.attribution import LastTouch, compare_models
    >>> c = compare_models(t, [LastTouch(), m], n_boot=0)
    >>> print(shapley_gap_finding(m, c, ReportSettings()))
    By what each channel adds, some win more customers than last-click reports credit them with: **Email** 21.1% of
    conversions (about 13) against 16.7% by last click. **Search** gets 83.3% by last click but 78.9% by what it adds:
    present before purchases more than it causes them.
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
    with untouched contacts only; else None).

    Examples
    --------
    >>> from crm_research.attribution import ShapleyAttribution, path_data
    >>> from crm_research.settings import ReportSettings
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> m = ShapleyAttribution().fit(t)
    >>> print(shapley_baseline_finding(m, path_data(t).totals(), ReportSettings()))
    Contacts no ad or e-mail reached still bought at 7.5%: about 15 of the 60 conversions after a touch would have
    happened anyway; the channels add about 45 (75.0%).
    """
    if model.game != "incremental" or not totals["touched_journeys"] < totals["journeys"]:
        return None
    added = float(model.credits_["incremental_conversions"].sum())
    return (f"Contacts no ad or e-mail reached still bought at {settings.pct(model.baseline_rate_)}: about "
            f"{settings.count(model.baseline_conversions_)} of the {settings.count(totals['touched_conversions'])} "
            f"conversions after a touch would have happened anyway; the channels add about {settings.count(added)} "
            f"({settings.pct(added / totals['touched_conversions'])}).")


# the ad-performance and A/B sections live in modules of their own; their names are the report's too
from crm_research.attribution.report_ab import (  # noqa: E402
    AB_COLUMNS,
    AB_PERCENT,
    ABAction,
    ab_action,
    ab_columns,
    ab_finding,
    ab_note,
    ab_truth_check,
    ab_view,
    ab_warnings,
    sample_size_table,
)
from crm_research.attribution.report_ads import (  # noqa: E402
    ADDED_VALUE_COLUMNS,
    ADDED_VALUE_INTRO,
    BudgetMove,
    added_value,
    added_value_note,
    added_value_view,
    budget_move,
    budget_move_action,
    campaign_view,
    channel_return_finding,
    low_spend_note,
    period_table,
    period_view,
    return_headline,
    spend_before,
)
