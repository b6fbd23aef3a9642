"""The ad-performance sections of the attribution report: spend, campaigns, what each channel's
spend adds, the budget move and the periods (re-exported by :mod:`crm_research.attribution.report`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from crm_research.attribution._report import _label, per_unit
from crm_research.engine import collect, is_lazy
from crm_research.exprs import parse_as_of, ts_literal
from crm_research.settings import and_list

__all__ = ["spend_before", "return_headline", "campaign_view", "low_spend_note", "channel_return_finding",
           "ADDED_VALUE_COLUMNS", "ADDED_VALUE_INTRO", "added_value", "added_value_view", "added_value_note",
           "BudgetMove", "budget_move", "budget_move_action", "period_table", "period_view"]


def spend_before(ad_spend, as_of, *, date_col: str = "date"):
    """The rows of ``ad_spend`` dated before ``as_of`` (exclusive, UTC).

    Parameters
    ----------
    ad_spend : DataFrame or ibis.Table
        Daily spend; ``date_col`` a UTC timestamp (pandas) or a date or timestamp (engine).
    as_of : date-like
        Analysis date (exclusive, UTC).

    Returns
    -------
    DataFrame or ibis.Table
        The same kind as ``ad_spend`` (an engine table stays lazy).

    Examples
    --------
    >>> s = pd.DataFrame({"date": pd.to_datetime(["2025-12-31", "2026-01-01"], utc=True), "cost": [1.0, 2.0]})
    >>> spend_before(s, "2026-01-01")["cost"].tolist()
    [1.0]
    """
    as_of = parse_as_of(as_of)
    if not is_lazy(ad_spend):
        return ad_spend[ad_spend[date_col] < as_of]
    col = ad_spend[date_col]
    if col.type().is_date():
        # a day d is before as_of when its midnight is: d < as_of rounded up to a whole day
        return ad_spend.filter(col < ibis.literal(as_of.ceil("D").date(), type="date"))
    return ad_spend.filter(col < ts_literal(as_of))


def return_headline(perf: pd.DataFrame, settings, *, credited: bool) -> tuple[str, str] | None:
    """The headline ``(name, value)``: credited revenue per unit of spend of the campaigns with
    enough spend; None without credits or spend.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> perf = pd.DataFrame({"campaign_id": ["d1", "e1"], "channel": ["display", "email"], "cost": [2000.0, 100.0],
    ...                      "conversions": [20.0, 30.0], "revenue": [3000.0, 6000.0], "roas": [1.5, 60.0],
    ...                      "small_volume": False, "low_spend": [False, True]})
    >>> return_headline(perf, ReportSettings(), credited=True)
    ('Credited revenue per unit of currency of ad spend (linear rule, campaigns with too little spend left out)', '1.50')
    """
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

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> perf = pd.DataFrame({"campaign_id": ["d1", "e1"], "channel": ["display", "email"], "cost": [2000.0, 100.0],
    ...                      "conversions": [20.0, 30.0], "revenue": [3000.0, 6000.0], "roas": [1.5, 60.0],
    ...                      "small_volume": False, "low_spend": [False, True]})
    >>> view, columns = campaign_view(perf, ReportSettings(), credited=True, client=True)
    >>> view["roas_text"].tolist(), list(columns)
    (['1.50', 'too little spend to judge'], ['campaign_id', 'channel', 'cost', 'conversions', 'revenue', 'roas_text'])
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
    """Markdown: the campaigns whose spend is too small to judge their return; None if none.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> perf = pd.DataFrame({"campaign_id": ["d1", "e1"], "channel": ["display", "email"], "cost": [2000.0, 100.0],
    ...                      "conversions": [20.0, 30.0], "revenue": [3000.0, 6000.0], "roas": [1.5, 60.0],
    ...                      "small_volume": False, "low_spend": [False, True]})
    >>> print(low_spend_note(perf, ReportSettings(), min_spend=500, credited=True, client=True))
    **Too little spend to judge:** E1 cost 100, less than 500, so the credited revenue per unit of currency of their
    spend (60) says more about the tiny cost than about what they earn; it is not shown.
    """
    low = perf[perf["low_spend"] & perf["roas"].notna()] if credited else perf.iloc[:0]
    if not len(low):
        return None
    names = and_list([_label(settings, "campaigns", c) for c in low["campaign_id"]])

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
    channels with too little spend are named apart. None without credits, channels or spend.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> perf = pd.DataFrame({"campaign_id": ["d1", "e1"], "channel": ["display", "email"], "cost": [2000.0, 100.0],
    ...                      "conversions": [20.0, 30.0], "revenue": [3000.0, 6000.0], "roas": [1.5, 60.0],
    ...                      "small_volume": False, "low_spend": [False, True]})
    >>> print(channel_return_finding(perf, ReportSettings(), min_spend=500, credited=True))
    Per unit of currency of ad spend, ... were worth 1.50 for **Display**: ... **Email** (100 in all) cost too little
    to judge a return per unit of spend.
    """
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


def added_value(credits: pd.DataFrame, perf: pd.DataFrame, spend, totals: Mapping[str, float], *,
                min_spend: float) -> pd.DataFrame | None:
    """What each channel's spend adds: Shapley-added conversions at the average first order, per unit of spend.

    Parameters
    ----------
    credits : DataFrame
        ``ShapleyAttribution(game="incremental")``'s ``credits_`` (``channel``,
        ``incremental_conversions``).
    perf : DataFrame
        :func:`ad_performance` per campaign, with its ``channel`` column.
    spend : DataFrame or ibis.Table
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
    if is_lazy(spend):
        span = collect(spend.aggregate(lo=spend["date"].min(), hi=spend["date"].max()))
        lo, hi = pd.Timestamp(span["lo"].iloc[0]), pd.Timestamp(span["hi"].iloc[0])
    else:
        lo, hi = spend["date"].min(), spend["date"].max()
    years = max(((hi - lo).days + 1) / 365.25, 1 / 12)
    ret = ret.assign(added_value=ret["incremental_conversions"] * per_order)
    ret = ret.assign(per_unit=ret["added_value"] / ret["cost"], judged=ret["cost"] >= min_spend)
    ret.attrs.update(per_order=per_order, years=years)
    return ret


def added_value_view(ret: pd.DataFrame, settings) -> tuple[pd.DataFrame, dict]:
    """:func:`added_value` as shown: the view (value per unit of spend as text) and its headers.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> ret = pd.DataFrame({"incremental_conversions": [10.0, 4.0], "cost": [100.0, 400.0], "added_value": [500.0, 200.0],
    ...                     "per_unit": [5.0, 0.5], "judged": [True, True]}, index=pd.Index(["email", "social"], name="channel"))
    >>> ret.attrs.update(per_order=50.0, years=1.0)
    >>> view, columns = added_value_view(ret, ReportSettings())
    >>> view["per_unit_text"].tolist(), columns["per_unit_text"]
    (['5.00', '0.50'], 'Value added per unit of currency spent')
    """
    view = ret.reset_index().assign(per_unit_text=[
        settings.money(v, 2) if ok else "too little spend to judge"
        for v, ok in zip(ret["per_unit"], ret["judged"], strict=True)])
    return view, {**ADDED_VALUE_COLUMNS, "per_unit_text": f"Value added per {per_unit(settings)} spent"}


def added_value_note(ret: pd.DataFrame, settings) -> str:
    """Markdown: how an added conversion is valued and the months of spend covered.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> ret = pd.DataFrame({"incremental_conversions": [10.0, 4.0], "cost": [100.0, 400.0], "added_value": [500.0, 200.0],
    ...                     "per_unit": [5.0, 0.5], "judged": [True, True]}, index=pd.Index(["email", "social"], name="channel"))
    >>> ret.attrs.update(per_order=50.0, years=1.0)
    >>> print(added_value_note(ret, ReportSettings()))
    *Each added conversion is valued at the average first order of touched contacts, 50.00; spend covers 12 months.*
    """
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
    """The action's text and value text for a :class:`BudgetMove` (see :func:`budget_move`).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> ret = pd.DataFrame({"incremental_conversions": [10.0, 4.0], "cost": [100.0, 400.0], "added_value": [500.0, 200.0],
    ...                     "per_unit": [5.0, 0.5], "judged": [True, True]}, index=pd.Index(["email", "social"], name="channel"))
    >>> ret.attrs.update(per_order=50.0, years=1.0)
    >>> text, value_text = budget_move_action(budget_move(ret), ret, ReportSettings())
    >>> print(text)
    Move about 100 a year of ad budget from **Social** to **Email**, in steps, ... counts first orders only.
    >>> value_text
    'about 450 a year'
    """
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

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> wide = pd.DataFrame({"period": pd.to_datetime(["2025-11-01", "2025-12-01"], utc=True), "email": [10.0, 12.0]})
    >>> view, columns, money, note = period_view(wide, "M", "2025-12-15", ReportSettings(), metric="cpa")
    >>> view["period"].tolist(), columns
    (['Nov 2025', 'Dec 2025 (partial)'], {'period': 'Month', 'email': 'Email'})
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
