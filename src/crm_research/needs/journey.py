"""The sections of the journey notebook and what each needs (see :mod:`crm_research.needs.core`).

Almost all of the journey runs on the event log (``events``: who did what, when). Its facts:

* ``events``: events before ``as_of``;
* ``stage_events``: events whose name the default stage map lists;
* ``funnel_rarest_step``: events of the rarest funnel step (0 when a step never occurs), so a
  funnel whose steps are not all in the data is skipped rather than drawn half empty;
* ``target_events``: events of the funnel's last step (the purchase);
* ``friction_periods``: calendar periods (``friction_period``) in which visits enter the funnel.
"""

from __future__ import annotations

import ibis

from crm_research.needs import facts  # noqa: F401 - registers the shared facts
from crm_research.needs.core import DEFAULTS, Need, Section, fact
from crm_research.needs.facts import before, scalar

NOTEBOOK = "03_journey"

DEFAULTS.update({
    "funnel_steps": ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"],
    "friction_period": "W",
})

FRICTION_MIN_PERIODS = 4
"""Periods a friction search needs: each window of periods is compared with the rest of its
step and group's history, so with fewer than four a one-period window has at most two others to
be compared with (and the data's last days, whose visits had no time to finish, are left out)."""

_EVENT_COLS = ("events", "events.customer_id", "events.occurred_at", "events.event")


def _events(t, as_of):
    return before(t["events"], "occurred_at", as_of)


@fact("events", *_EVENT_COLS)
def _n_events(t, as_of, p):
    return scalar(_events(t, as_of).count())


@fact("stage_events", *_EVENT_COLS)
def _stage_events(t, as_of, p):
    from crm_research.journey.stages import load_stage_map

    names = [e for evs in load_stage_map().values() for e in evs]
    ev = _events(t, as_of)
    return scalar(ev.filter(ev.event.cast("string").isin(names)).count())


@fact("funnel_rarest_step", *_EVENT_COLS)
def _funnel_rarest_step(t, as_of, p):
    steps = list(dict.fromkeys(p["funnel_steps"]))
    ev = _events(t, as_of)
    ev = ev.filter(ev.event.cast("string").isin(steps))
    per = ev.group_by(name=ev.event.cast("string")).aggregate(n=ibis._.count())
    # the fewest events of a step, or 0 when a step does not occur at all
    return scalar((per.count() < len(steps)).ifelse(0, per.n.min()))


@fact("target_events", *_EVENT_COLS)
def _target_events(t, as_of, p):
    ev = _events(t, as_of)
    return scalar(ev.filter(ev.event.cast("string") == p["funnel_steps"][-1]).count())


@fact("friction_periods", *_EVENT_COLS)
def _friction_periods(t, as_of, p):
    ev = _events(t, as_of)
    ev = ev.filter(ev.event.cast("string") == p["funnel_steps"][0])
    return scalar(ev.occurred_at.truncate(p["friction_period"]).nunique())


EVENTS = Need("an event log (`events`: who did what, and when)", _EVENT_COLS, fact="events", at_least=1)
STAGE_EVENTS = Need("events the stage map knows (visits, product views, purchases, reviews, ...)",
                    _EVENT_COLS, fact="stage_events", at_least=1)
FUNNEL = Need("at least {at_least} event of every funnel step (`funnel_steps`)", _EVENT_COLS,
              fact="funnel_rarest_step", at_least=1)
TARGET = Need("at least {at_least} purchase event (the last of `funnel_steps`)", _EVENT_COLS,
              fact="target_events", at_least=1)
PERIODS = Need("visits entering the funnel in at least {at_least} periods (`friction_period` = "
               "\"{friction_period}\"), so that each period has a history to be compared with",
               _EVENT_COLS, fact="friction_periods", at_least=FRICTION_MIN_PERIODS)
CHANNELS = Need("the acquisition channel of each customer", ("customers.acquisition_channel",))

SECTIONS: tuple[Section, ...] = (
    Section(NOTEBOOK, "events", "The event log", (EVENTS,)),
    Section(NOTEBOOK, "stages", "Lifecycle stages", (STAGE_EVENTS,)),
    Section(NOTEBOOK, "stages_by_channel", "Lifecycle stages by acquisition channel", (STAGE_EVENTS, CHANNELS)),
    Section(NOTEBOOK, "funnel", "The funnel", (FUNNEL,)),
    Section(NOTEBOOK, "transitions", "Stage transitions", (STAGE_EVENTS,)),
    Section(NOTEBOOK, "time_in_stage", "Time in each stage", (STAGE_EVENTS,)),
    Section(NOTEBOOK, "time_to_purchase", "Time to the first purchase", (EVENTS, TARGET)),
    Section(NOTEBOOK, "top_paths", "Top paths to a first purchase", (EVENTS,)),
    Section(NOTEBOOK, "friction_points", "Drop-offs and loop-backs", (FUNNEL,)),
    Section(NOTEBOOK, "friction", "Friction incidents", (FUNNEL, PERIODS)),
    Section(NOTEBOOK, "whatif", "What-if: a better step", (FUNNEL,)),
)
