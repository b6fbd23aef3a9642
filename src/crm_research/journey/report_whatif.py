"""The journey report's what-if: the same improvement at every funnel step, ranked as levers (section 6).

Part of :mod:`crm_research.journey.report` (which re-exports every name).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from crm_research.journey._report import (
    ALL_ROWS,
    SectionText,
    _md,
)
from crm_research.journey.words import move_words, segment_words

__all__ = ["what_if_steps", "whatif_view", "whatif_texts"]


# -- what-if -----------------------------------------------------------------------------------

def what_if_steps(chain, steps: Sequence[str], lift: float, *, bootstrap=None,
                  segment: dict | None = None) -> pd.DataFrame:
    """The same improvement at every step of the funnel: one :meth:`JourneyChain.what_if` row each.

    Parameters
    ----------
    chain : JourneyChain
        Fitted (on ``segment``'s paths when there is one).
    steps : list of str
        The funnel: the moves are its consecutive pairs.
    lift : float
        Relative improvement of each move (share: 0.10 = +10%).
    bootstrap : Bootstrap, optional
        The ranges' replicates and seed (default: :class:`Bootstrap`'s).
    segment : dict, optional
        The group the chain was fitted on, written in the ``segment`` column (``(all)``).

    Returns
    -------
    DataFrame
        ``segment``, then :meth:`JourneyChain.what_if`'s columns; one row per move in funnel
        order.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> steps = ["site_visit", "add_to_cart", "purchase"]
    >>> from crm_research.journey.simulate import Bootstrap, JourneyChain
    >>> chain = JourneyChain(level="event", states=steps, target="purchase").fit(events)
    >>> what_if_steps(chain, steps, 0.1, bootstrap=Bootstrap(n_boot=0))[["segment", "step", "p_step",
    ...                                                                  "extra_purchases"]].round(3)
      segment                      step  p_step  extra_purchases
    0   (all)  site_visit → add_to_cart   0.667              0.1
    1   (all)    add_to_cart → purchase   0.500              0.1
    """
    from crm_research.journey.simulate import Bootstrap

    bootstrap = bootstrap if bootstrap is not None else Bootstrap()
    steps = list(steps)
    out = pd.concat([chain.what_if(move, lift, bootstrap=bootstrap) for move in zip(steps[:-1], steps[1:], strict=True)],
                    ignore_index=True)
    out.insert(0, "segment", ", ".join(f"{k}={v}" for k, v in (segment or {}).items()) or ALL_ROWS)
    return out


def _split_step(step: str) -> tuple[str, str]:
    a, b = step.split(" → ", 1)
    return a, b


def _purchases_text(r, s, ranged: bool) -> str:
    return (f"{s.number(r['extra_purchases'], 0)} purchases"
            + (f" ({s.number(r['extra_low'], 0)} to {s.number(r['extra_high'], 0)})" if ranged else ""))


def _revenue_text(r, s, ranged: bool, scale: float = 1.0) -> str:
    return (s.money(r["extra_revenue"] * scale, 0)
            + (f" ({s.money(r['extra_revenue_low'] * scale, 0)} to {s.money(r['extra_revenue_high'] * scale, 0)})"
               if ranged else ""))


def _data_span(first_event, as_of, s) -> tuple[str, float]:
    days = (as_of - first_event) / pd.Timedelta(days=1)
    years = days / 365.25
    if years >= 1:
        span = ("over the year of data" if round(years, 1) == 1 else
                f"over the {s.number(years, 0 if abs(years - round(years)) < 0.05 else 1)} years of data")
    else:
        months = max(round(days / 30.44), 1)
        span = "over the month of data" if months == 1 else f"over the {s.count(months)} months of data"
    return span, years


def whatif_view(levers: pd.DataFrame, settings, *, improve_by: float, client: bool) -> tuple[pd.DataFrame, dict]:
    """The levers as the report shows them, and the columns' headers.

    Parameters
    ----------
    levers : DataFrame
        :func:`~crm_research.journey.rank_levers` of :func:`what_if_steps`.
    settings : ReportSettings
    improve_by : float
        The improvement (share), named in a header.
    client : bool
        For a client: the step in words and each value with its 95% range in one cell.

    Returns
    -------
    (DataFrame, dict)
        The table (without ``lift``, ``n_paths``, ``observed_purchases``) and ``run.show``'s
        ``columns``.

    Examples
    --------
    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> levers = pd.DataFrame({"step": ["b → c", "a → b"], "lift": 0.1, "n_paths": 100, "observed_purchases": 40,
    ...                        "p_step": [0.5, 0.8], "p_step_new": [0.55, 0.88], "extra_purchases": [4.0, 2.5],
    ...                        "extra_low": [3.0, 1.0], "extra_high": [5.0, 4.0], "extra_revenue": np.nan,
    ...                        "ranked_by": "extra_purchases"})
    >>> view, columns = whatif_view(levers, s, improve_by=0.1, client=True)
    >>> view[["step_words", "p_step", "extra_text"]]
      step_words  p_step extra_text
    0      B → C     0.5  4 (3 to 5)
    1      A → B     0.8  2 (1 to 4)
    >>> columns["extra_text"]
    'Extra purchases (95% range)'
    """
    s = settings
    best = levers.iloc[0]
    has_value = best["ranked_by"] == "extra_revenue"
    ranged = bool(levers["extra_low"].notna().iloc[0]) if len(levers) else False
    view = levers
    if client:
        view = levers.assign(
            step_words=[move_words(*_split_step(st), s.label) for st in levers["step"]],
            # the value with its 95% range in one cell: "€259,519 (€245,340 to €273,744)"
            extra_text=[_purchases_text(r, s, ranged).removesuffix(" purchases").replace(" purchases (", " (")
                        for _, r in levers.iterrows()],
            revenue_words=[_revenue_text(r, s, ranged) if has_value else "" for _, r in levers.iterrows()])
    columns = {"step_words": "Step", "p_step": "Moving on now", "p_step_new": f"With {improve_by:+.0%}",
               "extra_text": "Extra purchases" + (" (95% range)" if ranged else ""),
               **({"revenue_words": "Extra revenue" + (" (95% range)" if ranged else "")} if has_value else {})}
    return view.drop(columns=["lift", "n_paths", "observed_purchases"]), columns


def whatif_texts(levers: pd.DataFrame, *, chosen_move: tuple[str, str], improve_by: float,
                 improve_segment: dict, first_event, as_of, n_boot: int, settings,
                 drop: dict | None = None) -> SectionText:
    """The what-if's headline, paragraph, finding and action, all from the biggest lever.

    Parameters
    ----------
    levers : DataFrame
        :func:`~crm_research.journey.rank_levers` of :func:`what_if_steps` (its first row is
        the biggest lever).
    chosen_move : (str, str)
        The move the scenario was set up for (``improve_step`` and the next step).
    improve_by : float
        The improvement (share).
    improve_segment : dict
        The group the scenario applies to (``{}``: all customers).
    first_event : Timestamp
        The first event: the window the chain counts purchases in runs from it to ``as_of``.
    as_of : Timestamp
        Analysis date.
    n_boot : int
        Bootstrap replicates (0: no ranges).
    settings : ReportSettings
    drop : dict, optional
        :func:`biggest_drop` of the funnel: said when the biggest lever is another step.

    Examples
    --------
    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> levers = pd.DataFrame({"step": ["b → c", "a → b"], "rank": [1, 2], "n_paths": 100, "p_step": [0.5, 0.8],
    ...                        "p_step_new": [0.55, 0.88], "baseline_purchases": 40.0, "extra_purchases": [4.0, 2.5],
    ...                        "extra_low": np.nan, "extra_high": np.nan, "extra_revenue": [400.0, 250.0],
    ...                        "extra_revenue_low": np.nan, "extra_revenue_high": np.nan, "ranked_by": "extra_revenue"})
    >>> text = whatif_texts(levers, chosen_move=("a", "b"), improve_by=0.1, improve_segment={},
    ...                     first_event=pd.Timestamp("2024-01-01", tz="UTC"), as_of=pd.Timestamp("2026-01-01", tz="UTC"),
    ...                     n_boot=0, settings=s)
    >>> text.headlines[0]
    ('What-if: the biggest lever', 400.0, 'B → C +10%: 400 more revenue over the 2 years of data')
    >>> text.actions[0]["value_text"]
    'about 200 a year'
    """
    from crm_research.journey.simulate import per_year

    s, label = settings, settings.label
    best = levers.iloc[0]
    best_move = move_words(*_split_step(best["step"]), label)
    chosen = levers[levers["step"] == f"{chosen_move[0]} → {chosen_move[1]}"].iloc[0]
    has_value = best["ranked_by"] == "extra_revenue"
    ranged = bool(n_boot) and pd.notna(best["extra_low"])
    span, years = _data_span(first_event, as_of, s)
    who = (" and ".join(segment_words(k, v, label) for k, v in improve_segment.items()) if improve_segment
           else "for all customers")
    out = SectionText("whatif")
    out.headlines.append(("What-if: the biggest lever", float(best["extra_revenue"] if has_value else best["extra_purchases"]),
                          f"{best_move} {improve_by:+.0%}: "
                          + (f"{s.money(best['extra_revenue'], 0)} more revenue" if has_value
                             else f"{s.number(best['extra_purchases'], 0)} more purchases") + f" {span}"))
    # per year only from a year of data or more (a shorter window would be extrapolated)
    yearly = per_year(best["extra_revenue"], first_event, as_of) if has_value and years >= 1 else float("nan")
    scale = yearly / best["extra_revenue"] if has_value and pd.notna(yearly) and best["extra_revenue"] else float("nan")
    per_year_text = _revenue_text(best, s, ranged, scale) + " a year" if pd.notna(scale) else None
    differs = drop is not None and best["step"] != f"{drop['from_step']} → {drop['step']}"
    purchases = _purchases_text(best, s, ranged)
    out.markdown = (
        f"**The biggest lever is {_md(best_move)}.** Had this move been {abs(improve_by):.0%} "
        f"{'more' if improve_by >= 0 else 'less'} likely ({s.pct(best['p_step_new'])} instead of {s.pct(best['p_step'])}) "
        f"{_md(who)}, the {s.count(best['n_paths'])} customers who entered the funnel would have made "
        f"**{_md(purchases)}** more on top of the {s.count(best['baseline_purchases'])} observed"
        + (f", about **{_md(_revenue_text(best, s, ranged))}** in revenue {span}" if has_value else f" {span}")
        + (f", about {_md(per_year_text)}" if per_year_text else "") + ". "
        + ("" if chosen["step"] == best["step"] else
           f"At {_md(move_words(*_split_step(chosen['step']), label))}, the step this scenario was set up for, the "
           f"same improvement ranks {s.count(chosen['rank'])} of {s.count(len(levers))} "
           f"({_md(_purchases_text(chosen, s, ranged))} more). ")
        + (f"The biggest lever is not the biggest drop-off ({_md(move_words(drop['from_step'], drop['step'], label))}): "
           "the same relative gain is worth most where many customers pass and most of those who go on end up buying."
           if differs else ""))
    # findings and the action come from the same row (best) as the headline and the text
    value_words = span + (f", about {_revenue_text(best, s, ranged)} in revenue" if has_value else "") + (
        f", or {per_year_text}" if per_year_text else "")
    out.findings.append({"text": f"The biggest lever is **{_md(best_move)}**: had {s.pct(best['p_step_new'])} instead of "
                                 f"{s.pct(best['p_step'])} of customers made this move ({improve_by:+.0%}), they would have made about "
                                 f"{_md(purchases)} more {_md(value_words)}.",
                         "priority": 1, "figure": "journey_whatif"})
    if has_value and per_year_text:
        value_text = f"about {per_year_text}"
    elif has_value:
        value_text = f"about {_revenue_text(best, s, ranged)} {span}"
    else:
        value_text = f"about {purchases} more {span}"
    out.actions.append({
        "text": f"Improve the step **{_md(best_move)}**, now taken by {s.pct(best['p_step'])} of the customers who reach it: "
                f"{abs(improve_by):.0%} better there is the biggest gain of the funnel. Test the fix on part of the traffic first.",
        "value": (yearly if has_value and pd.notna(yearly) else (best["extra_revenue"] if has_value else None)),
        "value_text": value_text, "priority": 1})
    return out
