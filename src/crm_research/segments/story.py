"""The segmentation report's sentences: what notebook 02 says about segments, levels, clusters and offers.

Each function turns an analysis table into the Markdown a reader sees, in the engagement's units
(:class:`crm_research.settings.ReportSettings`). Names of segments, categories and levels come
through a ``label(kind, value)`` callable that returns Markdown-safe text (the notebook's
``run.label``); numbers are formatted by the settings.
"""

from __future__ import annotations

import pandas as pd

from crm_research.segments.views import and_list

__all__ = ["rfm_intro", "core_segments", "core_finding", "winback_segments", "winback_finding", "winback_action",
           "levels_rule_note", "levels_finding", "silhouette_reading", "clusters_intro", "lead_persona_finding",
           "persona_lines", "stability_verdict", "strongest_pair_finding", "suggestions_intro", "cross_sell_action"]


def rfm_intro(segments: pd.DataFrame, n_buyers: int, as_of, settings, label, *,
              rf_only: bool = False) -> tuple[str, str]:
    """The largest RFM segment: the headline's text and the paragraph under the table title.

    Parameters
    ----------
    segments : DataFrame
        :func:`~crm_research.segments.rfm.segment_summary` output (largest first).
    n_buyers : int
        Buyers scored.
    as_of : date-like
        The analysis date.
    settings : ReportSettings
    label : callable
        ``label(kind, value)`` -> Markdown-safe readable name.
    rf_only : bool
        Recency and frequency only (no order amounts): the largest segment by buyers, no revenue.

    Returns
    -------
    headline, paragraph : str

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> seg = pd.DataFrame({"segment": ["champions", "lost"], "customers": [20, 80], "customer_share": [0.2, 0.8],
    ...                     "revenue": [6000.0, 4000.0], "revenue_share": [0.6, 0.4]})
    >>> rfm_intro(seg, 100, "2026-01-01", ReportSettings(), lambda kind, v: v.title())
    ('Champions: 60% of revenue from 20% of buyers', '**100** buyers before 01 Jan 2026, who brought **10,000** over their whole history. The segment bringing the most revenue is **Champions**: 20.0% of the buyers, 60.0% of the revenue.')
    """
    top = segments.iloc[0]
    name = label("segments", top["segment"])
    if rf_only:
        return (f"{settings.label('segments', top['segment'])}: {settings.pct(top['customer_share'], 0)} of buyers",
                f"**{settings.count(n_buyers)}** buyers before {settings.day(as_of)}. The largest segment is "
                f"**{name}**: {settings.pct(top['customer_share'])} of the buyers.")
    return (f"{settings.label('segments', top['segment'])}: {settings.pct(top['revenue_share'], 0)} of revenue "
            f"from {settings.pct(top['customer_share'], 0)} of buyers",
            f"**{settings.count(n_buyers)}** buyers before {settings.day(as_of)}, who brought "
            f"**{settings.money(segments['revenue'].sum(), 0)}** over their whole history. The segment bringing "
            f"the most revenue is **{name}**: "
            f"{settings.pct(top['customer_share'])} of the buyers, {settings.pct(top['revenue_share'])} of the revenue.")


def core_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """The fewest segments that together bring half the revenue (largest revenue share first).

    Examples
    --------
    >>> seg = pd.DataFrame({"segment": ["a", "b", "c"], "revenue_share": [0.3, 0.45, 0.25]})
    >>> core_segments(seg)["segment"].tolist()
    ['b', 'a']
    """
    core = segments.sort_values("revenue_share", ascending=False, kind="stable")
    return core.head(int((core["revenue_share"].cumsum() < 0.5).sum()) + 1)


def core_finding(segments: pd.DataFrame, settings, label) -> str:
    """The segments that carry the revenue, in one sentence ("protect them first" when they are few).

    A few customers carry the business when the core segments' revenue share is at least 1.5
    times their share of the buyers.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> seg = pd.DataFrame({"segment": ["champions", "loyal", "at risk"], "customers": [10, 20, 30],
    ...                     "customer_share": [1 / 6, 1 / 3, 0.5], "revenue": [5000.0, 2500.0, 1500.0],
    ...                     "revenue_share": [5 / 9, 5 / 18, 1 / 6]})
    >>> core_finding(seg, ReportSettings(), lambda kind, v: v)
    'The champions segment, 16.7% of the buyers (10), brought 55.6% of all revenue (5,000): protect them first.'
    """
    core = core_segments(segments)
    carry = core["revenue_share"].sum() >= 1.5 * core["customer_share"].sum()  # a few customers carry the business
    return (f"The {and_list(label('segments', s) for s in core['segment'])} "
            f"segment{'s' if len(core) > 1 else ''}, {settings.pct(core['customer_share'].sum())} of the buyers "
            f"({settings.count(core['customers'].sum())}), brought {settings.pct(core['revenue_share'].sum())} of all "
            f"revenue ({settings.money(core['revenue'].sum(), 0)})" + (": protect them first." if carry else "."))


def winback_segments(segments: pd.DataFrame, wanted) -> list[str]:
    """The win-back segments (rule-table names) that hold buyers, in the order given, once each.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> seg = pd.DataFrame({"segment": ["champions", "loyal", "at risk"], "customers": [10, 20, 30],
    ...                     "customer_share": [1 / 6, 1 / 3, 0.5], "revenue": [5000.0, 2500.0, 1500.0],
    ...                     "revenue_share": [5 / 9, 5 / 18, 1 / 6]})
    >>> winback_segments(seg, ["can't lose", "at risk", "at risk"])
    ['at risk']
    """
    have = set(segments["segment"])
    return [s for s in dict.fromkeys(wanted) if s in have]


def winback_finding(segments: pd.DataFrame, scores: pd.DataFrame, winback: list[str], settings, label, *,
                    rf_only: bool = False) -> str:
    """The buyers of the win-back segments: how many, how long since their last order, what they brought.

    Parameters
    ----------
    segments : DataFrame
        :func:`~crm_research.segments.rfm.segment_summary` output.
    scores : DataFrame
        :func:`~crm_research.segments.rfm.rfm` output (``segment``, ``recency_days``).
    winback : list of str
        The segments (:func:`winback_segments`; not empty).
    settings, label
        As in :func:`rfm_intro`.
    rf_only : bool
        No order amounts: no revenue is told.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> seg = pd.DataFrame({"segment": ["at risk", "lost"], "customers": [10, 30], "customer_share": [0.25, 0.75],
    ...                     "revenue": [900.0, 300.0], "revenue_share": [0.75, 0.25]})
    >>> scores = pd.DataFrame({"segment": ["at risk", "at risk", "lost"], "recency_days": [100.0, 140.0, 400.0]})
    >>> winback_finding(seg, scores, ["at risk"], ReportSettings(), lambda kind, v: v)
    '**10** buyers (25.0%) are in the at risk segments: they have not ordered for 120 days on average, and over their history they brought 900 (75.0% of all revenue).'
    """
    slipping = segments[segments["segment"].isin(winback)]
    days = scores.loc[scores["segment"].isin(winback), "recency_days"].mean()
    text = (f"**{settings.count(slipping['customers'].sum())}** buyers ({settings.pct(slipping['customer_share'].sum())}) "
            f"are in the {and_list(label('segments', s) for s in winback)} segments: they have not ordered for "
            f"{settings.count(days)} days on average")
    if not rf_only:
        text += (f", and over their history they brought {settings.money(slipping['revenue'].sum(), 0)} "
                 f"({settings.pct(slipping['revenue_share'].sum())} of all revenue)")
    return text + "."


def winback_action(segments: pd.DataFrame, winback: list[str], n_reachable: int, settings, label, *,
                   value: dict | None = None, rate: float | None = None) -> str:
    """The win-back action in words, for the buyers who may be contacted.

    Parameters
    ----------
    segments : DataFrame
        :func:`~crm_research.segments.rfm.segment_summary` output.
    winback : list of str
        The segments targeted.
    n_reachable : int
        Buyers of those segments who may be contacted (marketing consent).
    settings, label
        As in :func:`rfm_intro`.
    value : dict, optional
        :func:`~crm_research.segments.value.winback_value` output (``buyers``,
        ``mean_yearly_spend``, ``value``); without it (no amounts) the action has no value.
    rate : float, optional
        The what-if share of buyers coming back (with ``value``).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> seg = pd.DataFrame({"segment": ["champions", "loyal", "at risk"], "customers": [10, 20, 30],
    ...                     "customer_share": [1 / 6, 1 / 3, 0.5], "revenue": [5000.0, 2500.0, 1500.0],
    ...                     "revenue_share": [5 / 9, 5 / 18, 1 / 6]})
    >>> winback_action(seg, ["at risk"], 25, ReportSettings(), lambda kind, v: v,
    ...                value={"buyers": 25, "mean_yearly_spend": 120.0, "value": 300.0}, rate=0.1)
    'Win back the 25 at risk buyers who may be contacted (30 in all) with a personal call or a tailored offer, and ask what went wrong. They used to spend 120 a year each; if 10% of them come back and spend that again, it brings about 300 a year.'
    """
    slipping = segments[segments["segment"].isin(winback)]
    names = and_list(label("segments", s) for s in winback)
    also = ("" if n_reachable == slipping["customers"].sum() else
            f" who may be contacted ({settings.count(slipping['customers'].sum())} in all)")
    if value is None:
        return (f"Win back the {settings.count(n_reachable)} {names} buyers{also} with a personal "
                "call or a tailored offer, and ask what went wrong.")
    return (f"Win back the {settings.count(value['buyers'])} {names} buyers{also} with a personal call or a "
            f"tailored offer, and ask what went wrong. They used to spend {settings.money(value['mean_yearly_spend'], 0)} "
            f"a year each; if {settings.pct(rate, 0)} of them come back and spend that again, it brings "
            f"about {settings.money(value['value'], 0)} a year.")


def levels_rule_note(repeat_min_orders: int, promoter_min: int, *, advocates: bool = True) -> str:
    """The level rules in words, with this report's thresholds (italic Markdown).

    Examples
    --------
    >>> levels_rule_note(2, 9, advocates=False)
    '*Repeat buyers have at least 2 completed orders, first-time buyers one.*'
    """
    fewer = "one" if repeat_min_orders == 2 else "fewer"
    text = ("" if not advocates else
            f" Advocates referred someone or answered {promoter_min} or more out of 10 when asked whether "
            "they would recommend the company.")
    return f"*Repeat buyers have at least {repeat_min_orders} completed orders, first-time buyers {fewer}.{text}*"


def levels_finding(level_table: pd.DataFrame, repeat_min_orders: int, settings, *, advocates: bool = True) -> str:
    """First-time, repeat and advocate buyers in one sentence.

    Parameters
    ----------
    level_table : DataFrame
        :func:`~crm_research.segments.levels.level_summary` output (``level``, ``customers``).
    repeat_min_orders : int
        Orders that make a repeat buyer.
    settings : ReportSettings
    advocates : bool
        The data can tell advocates (referrals or NPS answers).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> t = pd.DataFrame({"level": ["first-time", "repeat", "advocate"], "customers": [60, 30, 10]})
    >>> levels_finding(t, 2, ReportSettings())
    '**60** first-time buyers (60.0%) have bought only once so far; 40.0% are repeat buyers or advocates, and 10 (10.0%) recommend the company.'
    """
    counts = level_table.set_index("level")["customers"]
    buyers = counts.sum()
    beyond_first = counts[counts.index != "first-time"].sum() / buyers
    text = (f"**{settings.count(counts.get('first-time', 0))}** first-time buyers "
            f"({settings.pct(counts.get('first-time', 0) / buyers)}) "
            + ("have bought only once so far" if repeat_min_orders == 2 else f"have fewer than {repeat_min_orders} orders")
            + f"; {settings.pct(beyond_first)} are repeat buyers"
            + ("" if not advocates else " or advocates"))
    if counts.get("advocate", 0):
        text += (f", and {settings.count(counts['advocate'])} ({settings.pct(counts['advocate'] / buyers)}) "
                 "recommend the company")
    return text + "."


def silhouette_reading(best: float) -> str:
    """How clearly apart the clusters are, from the best mean silhouette.

    Examples
    --------
    >>> silhouette_reading(0.3), silhouette_reading(0.05)
    ('the groups are clearly apart', 'the groups are weak: use them with caution')
    """
    return ("the groups are clearly apart" if best > 0.25 else "the groups overlap at the edges but are real tendencies"
            if best >= 0.1 else "the groups are weak: use them with caution")


def clusters_intro(model, n_buyers: int, min_orders: int, settings, *, client: bool = False) -> str:
    """Who is clustered, into how many clusters, and how clearly apart (a fitted ``CustomerClusters``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from crm_research.settings import ReportSettings
    >>> model = SimpleNamespace(selection_=pd.DataFrame({"k": [2, 3], "silhouette": [0.2, 0.31]}), k_=3,
    ...                         labels_=pd.DataFrame({"customer_id": range(1200)}), features_=["aov", "frequency"])
    >>> clusters_intro(model, 5000, 3, ReportSettings())
    '**1,200** of the 5,000 buyers have at least 3 completed orders and are clustered, on 2 measures. Best silhouette: **k = 3** (0.31: the groups are clearly apart).'
    """
    best = model.selection_.set_index("k").loc[model.k_, "silhouette"]
    reading = silhouette_reading(best)
    clustered = len(model.labels_)
    if client:  # one customer population per section: say that this one is smaller
        return (f"**{settings.count(clustered)}** of the {settings.count(n_buyers)} buyers have at least "
                f"{min_orders} completed orders and are grouped into **{model.k_} clusters** "
                f"({reading}). The shares in this section are shares of these {settings.count(clustered)} "
                f"buyers and of their revenue, not of all buyers as in sections 1 and 2.")
    return (f"**{clustered:,}** of the {n_buyers:,} buyers have at least {min_orders} "
            f"completed orders and are clustered, on {len(model.features_)} measures. Best silhouette: "
            f"**k = {model.k_}** ({best:.2f}: {reading}).")


def lead_persona_finding(personas: pd.DataFrame, names: dict, min_orders: int, settings, text) -> str | None:
    """The persona whose revenue share is largest against its share of buyers, in one sentence.

    ``names`` maps cluster -> persona name; ``text`` makes a name Markdown-safe. None when the
    personas carry no revenue (orders without amounts).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> personas = pd.DataFrame({"cluster": [0, 1], "customers": [800, 400], "customer_share": [2 / 3, 1 / 3],
    ...                          "revenue_share": [0.5, 0.5], "median_aov": [40.0, 90.0], "churn_rate": [0.3, 0.1],
    ...                          "action": ["win back", "reward"]})
    >>> names = {0: "Bargain hunters", 1: "Loyal big spenders"}
    >>> lead_persona_finding(personas, names, 3, ReportSettings(), str)
    'The **Loyal big spenders** cluster is 33.3% of the clustered buyers (those with at least 3 orders) but brought 50.0% of their revenue; their typical order is 90.'
    """
    if "revenue_share" not in personas:
        return None
    lead = personas.assign(ratio=personas["revenue_share"] / personas["customer_share"]).sort_values(
        "ratio", ascending=False, kind="stable").iloc[0]
    typical = (f"; their typical order is {settings.money(lead['median_aov'], 0)}" if "median_aov" in personas else "")
    return (f"The **{text(names[lead['cluster']])}** cluster is "
            f"{settings.pct(lead['customer_share'])} of the clustered buyers (those with at least {min_orders} "
            f"orders) but brought {settings.pct(lead['revenue_share'])} of their revenue{typical}.")


def persona_lines(personas: pd.DataFrame, names: dict, churn_days: float, settings, text) -> str:
    """One Markdown bullet per persona: size, revenue share, churn and the suggested action.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> personas = pd.DataFrame({"cluster": [0, 1], "customers": [800, 400], "customer_share": [2 / 3, 1 / 3],
    ...                          "revenue_share": [0.5, 0.5], "median_aov": [40.0, 90.0], "churn_rate": [0.3, 0.1],
    ...                          "action": ["win back", "reward"]})
    >>> names = {0: "Bargain hunters", 1: "Loyal big spenders"}
    >>> print(persona_lines(personas, names, 180, ReportSettings(), str))
    - **Bargain hunters** (800 buyers, 50% of their revenue, 30% without an order for 180 days): win back
    - **Loyal big spenders** (400 buyers, 50% of their revenue, 10% without an order for 180 days): reward
    """
    return "\n".join(
        f"- **{text(names[p.cluster])}** ({settings.count(p.customers)} buyers, "
        + (f"{settings.pct(p.revenue_share, 0)} of their revenue, " if "revenue_share" in personas else "")
        + f"{settings.pct(p.churn_rate, 0)} without an order for {churn_days} days): {text(p.action)}"
        for p in personas.itertuples())


def stability_verdict(ari: pd.Series) -> str:
    """The bootstrap refits' adjusted Rand indices in one sentence.

    Examples
    --------
    >>> stability_verdict(pd.Series([0.95, 0.85]))
    'Over 2 refits the adjusted Rand index is **0.900** on average (lowest 0.850): the large clusters are stable, their borders move.'
    """
    verdict = ("the clusters are stable" if ari.mean() > 0.9 else "the large clusters are stable, their borders move"
               if ari.mean() >= 0.75 else "treat the clusters as loose tendencies")
    return (f"Over {len(ari)} refits the adjusted Rand index is **{ari.mean():.3f}** on average "
            f"(lowest {ari.min():.3f}): {verdict}.")


def strongest_pair_finding(pairs: pd.DataFrame, settings, label) -> str | None:
    """The category pair bought together most above chance (None when no pair beats chance).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> pairs = pd.DataFrame({"antecedent": ["tv", "cable"], "consequent": ["cable", "tv"], "lift": [2.5, 2.5],
    ...                       "confidence": [0.4, 0.6]})
    >>> strongest_pair_finding(pairs, ReportSettings(), lambda kind, v: v)
    'The strongest cross-sell pair: **cable** and **tv** are bought together 2.5 times as often as by chance; 60.0% of the orders with cable also hold tv.'
    """
    if not (len(pairs) and pairs["lift"].max() > 1):
        return None
    strongest = pairs[pairs["lift"] == pairs["lift"].max()].sort_values("confidence", ascending=False,
                                                                         kind="stable").iloc[0]
    a, b = label("categories", strongest["antecedent"]), label("categories", strongest["consequent"])
    return (f"The strongest cross-sell pair: **{a}** and **{b}** are bought together "
            f"{settings.number(strongest['lift'], 1)} times as often as by chance; "
            f"{settings.pct(strongest['confidence'])} of the orders with {a} also hold {b}.")


def suggestions_intro(suggestions: pd.DataFrame, n_buyers: int, consent_note: str, settings, *,
                      client: bool = False) -> str:
    """How many buyers get a suggestion, of which kind; ``consent_note`` must be Markdown-safe.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> sug = pd.DataFrame({"customer_id": [1, 1, 2, 3], "kind": ["cross-sell", "upsell", "cross-sell", "upsell"]})
    >>> suggestions_intro(sug, 10, "Only buyers who may be contacted are listed.", ReportSettings(), client=True)
    '**3** of the 10 buyers get at least one suggestion: 2 cross-sell and 2 upsell suggestions. Only buyers who may be contacted are listed.'
    """
    reached = suggestions["customer_id"].nunique()
    return (f"**{settings.count(reached)}** of the {settings.count(n_buyers)} buyers get at least one suggestion: "
            f"{settings.count((suggestions['kind'] == 'cross-sell').sum())} cross-sell and "
            f"{settings.count((suggestions['kind'] == 'upsell').sum())} upsell suggestions. "
            f"{consent_note}" + ("" if client else " The first rows of the list:"))


def cross_sell_action(suggestions: pd.DataFrame, settings, label, *, value: dict | None = None,
                      rate: float | None = None) -> str:
    """The cross-sell action in words; with ``value`` (:func:`~crm_research.segments.value.cross_sell_value`) valued.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> sug = pd.DataFrame({"customer_id": [1, 2], "kind": "cross-sell"})
    >>> cross_sell_action(sug, ReportSettings(), lambda kind, v: v)
    'Send each of the 2 buyers with a cross-sell suggestion their first one, against a random group that gets nothing, and measure the difference.'
    """
    if value is None:  # no unit prices: no spend per category to put a value on it
        audience = suggestions.loc[suggestions["kind"] == "cross-sell", "customer_id"].nunique()
        return (f"Send each of the {settings.count(audience)} buyers with a cross-sell suggestion their "
                "first one, against a random group that gets nothing, and measure the difference.")
    return (f"Send the {settings.count(value['buyers'])} buyers with a cross-sell suggestion their "
            f"first one (most often **{label('categories', value['top_offer'])}**, "
            f"{settings.money(value['top_spend_per_order'], 0)} per order on average), tested against a random "
            f"group that gets nothing. If {settings.pct(rate, 0)} of them buy the suggested category "
            f"once, at its average spend per order, that brings about {settings.money(value['value'], 0)}.")
