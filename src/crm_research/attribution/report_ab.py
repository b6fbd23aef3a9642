"""The A/B-test section of the attribution report: the client's table, warnings, finding, action,
the next test's sample sizes and the check against a planted truth (re-exported by
:mod:`crm_research.attribution.report`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

from crm_research.attribution._report import _text
from crm_research.engine import collect, is_lazy

__all__ = ["AB_COLUMNS", "AB_PERCENT", "ab_view", "ab_columns", "ab_note", "ab_warnings", "ab_finding", "ABAction",
           "ab_action", "sample_size_table", "ab_truth_check"]

AB_COLUMNS = ["arm", "n", "conversions", "rate", "rate_low", "rate_high", "diff", "diff_low", "diff_high",
              "lift", "lift_low", "lift_high", "p_value", "significant", "power", "required_n"]
"""The A/B summary's columns the analyst sees."""

AB_PERCENT = ("rate", "rate_low", "rate_high", "diff", "diff_low", "diff_high", "lift", "lift_low", "lift_high",
              "power")
"""The A/B summary's columns shown as percentages."""


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

    Examples
    --------
    >>> from crm_research.attribution import ABTest
    >>> from crm_research.settings import ReportSettings
    >>> counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    >>> ab = ABTest(control="control").fit(counts)
    >>> ab_view(ab.summary_, ReportSettings(), str.title).iloc[0].tolist()
    ['Variant', '8.0% of 2,000', '11.0% of 2,000', '+3.0 pts (+1.2 to +4.8)', '+38% (+13% to +67%)', 'variant better']
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
    """Client headers of :func:`ab_view` (one variant: its name goes under the table instead).

    Examples
    --------
    >>> list(ab_columns(pd.DataFrame({"variant": ["B"]})))  # one variant: named under the table
    ['control', 'rate', 'diff', 'lift', 'verdict']
    """
    one = len(view) == 1
    return {**({} if one else {"variant": "Variant"}), "control": "Control converted", "rate": "Variant converted",
            "diff": "Difference (95% range)", "lift": "Relative lift (95% range)", "verdict": "Verdict"}


def ab_note(view: pd.DataFrame, arm_name: Callable[[str], str]) -> str:
    """Markdown under the client's A/B table: the e-mails' names and where the full table is.

    Examples
    --------
    >>> print(ab_note(pd.DataFrame({"variant": ["Variant"]}), str.title))
    *Control: Control; variant: Variant. The full test table, with each rate's 95% range, is in the spreadsheet **ab\\_test.csv**.*
    """
    return (f"*Control: {_text(arm_name('control'))}"
            + (f"; variant: {_text(view['variant'].iloc[0])}" if len(view) == 1 else "")
            + ". The full test table, with each rate's 95% range, is in the spreadsheet **ab\\_test.csv**.*")


def ab_warnings(test) -> str:
    """Markdown: the fitted :class:`ABTest`'s warnings as a list, or that there are none.

    Examples
    --------
    >>> from crm_research.attribution import ABTest
    >>> from crm_research.settings import ReportSettings
    >>> counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    >>> ab = ABTest(control="control").fit(counts)
    >>> print(ab_warnings(ab))
    No warnings: the test was large enough for the target lift, the arms are balanced and every window is complete.
    """
    return ("\n".join(f"- **Warning.** {_text(w, limit=None)}" for w in test.warnings_)
            or "No warnings: the test was large enough for the target lift, the arms are balanced and every "
               "window is complete.")


def ab_finding(test, settings, *, variant_label: str, target_lift: float) -> str:
    """The finding: the variant's rate against the control's, the difference with its range, the verdict.

    Examples
    --------
    >>> from crm_research.attribution import ABTest
    >>> from crm_research.settings import ReportSettings
    >>> counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    >>> ab = ABTest(control="control").fit(counts)
    >>> print(ab_finding(ab, ReportSettings(), variant_label="New subject", target_lift=0.02))
    A/B test: the variant e-mail (**New subject**) converted 11.0% of 2,000 contacts against 8.0% of 2,000 for the
    control, +3.0 pts (95% range +1.2 pts to +4.8 pts; +38% relative). The difference is significant.
    """
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
    assignments : DataFrame or ibis.Table
        :func:`~crm_research.attribution.ab_assignments` (``converted``, ``conversion_value``).
    settings : ReportSettings
    control_label, variant_label : str
        The e-mails' names (escaped).

    Returns
    -------
    ABAction or None
        None when nothing converted or the difference is unknown.

    Examples
    --------
    >>> from crm_research.attribution import ABTest
    >>> from crm_research.settings import ReportSettings
    >>> counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    >>> ab = ABTest(control="control").fit(counts)
    >>> asg = pd.DataFrame({"converted": [True, True, False], "conversion_value": [40.0, 60.0, 0.0]})
    >>> act = ab_action(ab, asg, ReportSettings(), control_label="Old", variant_label="New")
    >>> act.priority, act.value_text
    (1, 'about 15,000 per 10,000 e-mails sent (95% range 5,919 to 24,118)')
    """
    v = test.summary_.iloc[1]
    if is_lazy(assignments):  # only the converted contacts' values, in customer order (a float mean's order)
        conv = assignments.filter(assignments.converted)
        keys = [c for c in ("customer_id",) if c in conv.columns]
        assignments = collect(conv.order_by(keys).select("converted", "conversion_value") if keys
                              else conv.select("converted", "conversion_value"))
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

    Examples
    --------
    >>> from crm_research.attribution import ABTest
    >>> from crm_research.settings import ReportSettings
    >>> counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    >>> ab = ABTest(control="control").fit(counts)
    >>> ab_truth_check(ab, {"lift_abs": 0.03, "lift_rel": 0.9})[["quantity", "planted", "inside_range"]]
                        quantity  planted  inside_range
    0  difference (share points)     0.03          True
    1              relative lift     0.90         False
    """
    v = test.summary_.iloc[1]
    check = pd.DataFrame({"quantity": ["difference (share points)", "relative lift"],
                          "planted": [planted_ab["lift_abs"], planted_ab["lift_rel"]],
                          "estimate": [v["diff"], v["lift"]], "low": [v["diff_low"], v["lift_low"]],
                          "high": [v["diff_high"], v["lift_high"]]})
    check["inside_range"] = (check["low"] <= check["planted"]) & (check["planted"] <= check["high"])
    return check
