"""The baseline report's sentences, sections 1-3: the KPIs, the latest period and the cohorts.

Each function turns a baseline table (or a table derived from it) into the Markdown a reader
sees, in the engagement's units and words (:class:`crm_research.settings.ReportSettings`), or
into the small numbers behind a finding. Names of metrics, channels and other labels come
through a ``label(kind, value)`` callable that returns Markdown-safe text (the notebook's
``run.label``); numbers are formatted by the settings. The goals, the review and the
breakdowns (sections 4-6) are in :mod:`crm_research.kpi.story_review`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.exprs import parse_as_of
from crm_research.kpi import present, scans
from crm_research.stats import wilson

__all__ = ["KEY_METRICS", "PER_YEAR", "PERIOD_WORDS", "as_of_inside", "latest_paragraph",
           "latest_full_period", "activity_finding", "retention_finding", "nps_finding", "pooled_retention",
           "cohort_sentence", "cohort_finding", "cohort_table", "client_order", "in_order", "recent_wide"]


KEY_METRICS = ("active_customers", "new_customers", "orders", "revenue", "average_order_value", "revenue_per_customer",
               "retention_rate", "repeat_purchase_rate", "historical_customer_value", "new_contacts",
               "lead_conversion_rate", "cart_abandonment_rate", "first_response_hours_median", "csat_share_4_5", "nps")
"""The KPIs a client reads first (:func:`client_order`)."""


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
