"""The client's report (issue 13): settings, client tables, summaries, audiences, the index.

Package level and fast: no kernel, no browser (the layout in Chromium is tests/test_report_layout.py).
"""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from crm_research import notebook as nb
from crm_research import report
from crm_research import settings as S
from crm_research.errors import CRMError

HOSTILE = '<img src=x onerror=alert(1)>'


# --- settings ----------------------------------------------------------------------------------

def test_demo_settings_speak_euros_and_event_names():
    s = S.load(demo=True)
    assert s.money(1234.5) == "€1,234.50"
    assert s.money(-3.2, 0) == "−€3"
    assert s.money(12.0, signed=True) == "+€12.00"
    assert s.pct(0.1234) == "12.3%" and s.pts(-0.012) == "−1.2 pts"
    assert s.count(199.29) == "199" and s.yes_no(True) == "yes" and s.yes_no(None) == ""
    assert s.label("events", "checkout_start") == "Checkout started"
    assert s.label("metrics", "nps") == "Net Promoter Score"
    assert s.label("columns", "n_orders") == "Orders"
    assert s.label("events", "some_new_event") == "Some new event"
    assert s.day("2026-01-01") == "01 Jan 2026"
    assert s.header("2026-01-01") == {"Client": "Demo Company (synthetic data)", "Report": "Customer analytics review",
                                      "Prepared by": "Example Consulting (demo)",
                                      "Date": "01 Jan 2026", "Data up to": "31 Dec 2025"}


def test_a_client_file_overrides_single_keys(tmp_path):
    (tmp_path / "report.yaml").write_text(
        "client: Acme AB\ncurrency: {code: SEK, symbol: kr, position: after, decimals: 0}\n"
        "number: {thousands: ' ', decimal: ','}\nlabels: {events: {checkout_start: Till kassan}}\n")
    s = S.load(tmp_path)
    assert s.client == "Acme AB" and s.title == S.DEFAULTS.title and s.paper == "A4"
    assert s.money(1234567.891) == "1 234 568 kr"
    assert s.pct(0.5) == "50,0%"
    assert s.label("events", "checkout_start") == "Till kassan"
    extra = tmp_path / "x.yaml"
    extra.write_text("paper: letter\ncurrency: USD\n")
    s2 = S.load(tmp_path, extra)
    assert s2.paper == "Letter" and s2.currency.code == "USD" and s2.currency.symbol is None
    assert s2.money(5) == "5 USD" and s2.client == "Acme AB"


def test_without_settings_money_is_a_plain_number():
    assert S.DEFAULTS.money(1234.5) == "1,234.50" and not S.DEFAULTS.currency.known


@pytest.mark.parametrize("text, words", [
    ("curency: EUR\n", "key 'curency' is not a setting"),
    ("currency: {code: EURO}\n", "currency.code 'EURO' is not a three-letter ISO code"),
    ("paper: A3\n", "paper 'A3' is not A4 or Letter"),
    ("date: soon\n", "date 'soon' is not a date"),
    ("labels: {colours: {a: b}}\n", "labels.colours is not a kind of label"),
    ("number: {thousands: '.', decimal: '.'}\n", "number needs one decimal character"),
    ("client: [unclosed\n", "is not valid YAML"),
])
def test_a_bad_settings_file_gets_one_line_naming_the_key(tmp_path, text, words):
    (tmp_path / "report.yaml").write_text(text)
    with pytest.raises(CRMError) as info:
        S.load(tmp_path)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_campaign_names_label_campaign_ids_without_overriding_the_engagement():
    s = S.load(demo=True)
    s = S._apply(s, {"labels": {"campaigns": {"ps_brand": "Brand search (ours)"}}}, "x")
    s = s.with_labels("campaigns", {"ps_brand": "Search - brand terms", "ELE-33": "Winter sale"})
    assert s.label("campaigns", "ps_brand") == "Brand search (ours)"
    assert s.label("campaigns", "ELE-33") == "Winter sale"


# --- client tables -----------------------------------------------------------------------------

def _frame(n=3):
    return pd.DataFrame({
        "segment": [HOSTILE, "loyal", "=HYPERLINK(\"x\")"][:n] + ["s"] * max(n - 3, 0),
        "n_customers": range(1000, 1000 + n),
        "revenue": [12345.6, 12.5, 0.0][:n] + [1.0] * max(n - 3, 0),
        "share_revenue": [0.5, 0.25, 0.25][:n] + [0.0] * max(n - 3, 0),
        "flag": [True, False, True][:n] + [False] * max(n - 3, 0),
        "event": ["checkout_start", "purchase", "x_y"][:n] + ["z"] * max(n - 3, 0),
        "conversions": [199.29, 3.0, 0.6][:n] + [1.0] * max(n - 3, 0),
    })


def test_client_table_speaks_the_clients_units():
    html = nb.client_table(_frame(), S.load(demo=True), labels={"event": "events"})
    assert "&lt;img src=x onerror=alert(1)&gt;" in html.replace("<wbr>", "") and "<img" not in html
    assert "<th class='num'>Customers</th>" in html and "<th class='num'>Revenue</th>" in html
    assert "€12,346" in html and ">€12<" in html and "50.0%" in html  # one column, one number of decimals
    assert ">yes<" in html and ">no<" in html and "True" not in html
    assert "Checkout started" in html and "checkout_start" not in html
    assert ">199<" in html and "199.29" not in html  # attributed conversions as whole numbers
    assert ">1<" in html  # 0.6 conversions round to 1


def test_client_table_picks_renames_and_cuts():
    html = nb.client_table(_frame(20), S.DEFAULTS, columns={"segment": "Group", "revenue": "Sales"}, rows=5,
                           more="The {n} other rows are elsewhere.")
    assert "<th class='txt'>Group</th>" in html and "<th class='num'>Sales</th>" in html
    assert "Customers" not in html
    assert html.count("<tr>") == 1 + 5
    assert "The 15 other rows are elsewhere." in html


def test_client_show_points_to_per_customer_tables(tmp_path, monkeypatch):
    monkeypatch.setenv(nb.ENV_AUDIENCE, "client")
    run = nb.setup("01_test", tmp_path)
    shown = run.show(_frame(), table="customers_table", per_customer=True)
    assert "3 customers" in shown.data and "customers\\_table.csv" in shown.data
    monkeypatch.setenv(nb.ENV_AUDIENCE, "analyst")
    analyst = nb.setup("01_test", tmp_path)
    assert "199.29" in analyst.show(_frame(), table="t").to_html()  # the analyst sees the table as saved
    monkeypatch.setenv(nb.ENV_AUDIENCE, "boss")
    with pytest.raises(Exception, match="use one of client, analyst"):
        nb.setup("01_test", tmp_path)


# --- findings, actions and the two audiences ---------------------------------------------------

def _ctx(tmp_path, monkeypatch, skipped=("truth",)):
    """A context whose sections are declared by hand: 'rfm' ran, 'truth' was skipped."""
    from types import SimpleNamespace

    run = nb.setup("02_test", tmp_path)

    class V(SimpleNamespace):
        def __bool__(self):
            return self.status != "skip"

    run._verdicts = {k: V(status="skip" if k in skipped else "ok") for k in ("rfm", "truth")}
    return run


def test_findings_of_a_skipped_section_are_refused(tmp_path, monkeypatch):
    run = _ctx(tmp_path, monkeypatch)
    run.finding("rfm", "Champions hold **52.0%** of revenue.", priority=1)
    run.action("rfm", "Win back the at-risk customers.", value=12_000.0)
    with pytest.raises(CRMError, match="was skipped on this data"):
        run.finding("truth", "x")
    with pytest.raises(CRMError, match="not declared"):
        run.action("nope", "x")
    meta = json.loads(run.meta_path.read_text())
    assert meta["findings"] == [{"section": "rfm", "text": "Champions hold **52.0%** of revenue.", "priority": 1}]
    assert meta["actions"][0]["value"] == 12_000.0 and meta["actions"][0]["value_text"] == "12,000"
    run.save_table(pd.DataFrame({"planted": [1]}), "truth_t", planted=True)
    run.save_table(pd.DataFrame({"x": [1]}), "plain_t")
    meta = json.loads(run.meta_path.read_text())
    assert meta["tables"] == ["truth_t", "plain_t"] and meta["planted_tables"] == ["truth_t"]


def _notebook():
    cells = [nbformat.v4.new_markdown_cell("# 2. Segments"),
             nbformat.v4.new_markdown_cell("## 1. RFM\n\nWho buys."),
             nbformat.v4.new_markdown_cell("We use `n_boot` replicates."),
             nbformat.v4.new_code_cell("if run.section('rfm'):\n    pass"),
             nbformat.v4.new_markdown_cell("How RFM scores are computed."),
             nbformat.v4.new_markdown_cell("## 2. Planted truth\n\nChecks against the generator."),
             nbformat.v4.new_code_cell('if run.section("truth"):\n    pass'),
             nbformat.v4.new_markdown_cell("In plain words: who buys.")]
    cells[2].metadata["tags"] = ["analyst"]
    cells[4].metadata["tags"] = ["appendix"]
    cells[7].metadata["tags"] = ["client"]
    return nbformat.v4.new_notebook(cells=cells)


META = {"sections": [{"key": "rfm", "title": "RFM segments", "status": "ran"},
                     {"key": "truth", "title": "Planted truth", "status": "skipped"}],
        "findings": [{"section": "rfm", "text": "Second finding.", "priority": 2},
                     {"section": "rfm", "text": "Champions hold **52.0%** of revenue.", "priority": 1}],
        "actions": [{"section": "rfm", "text": "Small action.", "value": 10.0, "value_text": "€10"},
                    {"section": "rfm", "text": "Big action.", "value": 9000.0, "value_text": "€9,000"}]}


def test_the_client_copy_opens_with_the_summary_and_ends_with_the_appendix():
    cells = report._report_copy(_notebook(), "client", META, run_ref="Run r-1").cells
    sources = [c.source for c in cells]
    assert sources[0] == "# 2. Segments"
    summary = sources[1]
    assert summary.index("Champions") < summary.index("Second finding")  # priority first
    assert summary.index("Big action") < summary.index("Small action")  # value orders equal priorities
    assert "[RFM segments](#s-rfm)" in summary and "Expected value\\: €9\\,000" in summary
    assert not any("n_boot" in s for s in sources)  # analyst cell dropped
    assert "In plain words: who buys." in sources
    assert sources.index('<a id="s-rfm"></a>') < sources.index("## 1. RFM\n\nWho buys.")
    # the skipped section keeps its heading only, its narrative goes
    assert "## 2. Planted truth" in sources and not any("Checks against" in s for s in sources)
    at = next(i for i, s in enumerate(sources) if s.startswith("## Appendix: method and definitions"))
    assert "Run r\\-1" in sources[at] and sources[at + 1] == "How RFM scores are computed." == sources[-1]


def test_the_analyst_copy_keeps_everything_in_place():
    sources = [c.source for c in report._report_copy(_notebook(), "analyst", META).cells]
    assert "We use `n_boot` replicates." in sources and "How RFM scores are computed." in sources
    assert sources.index("How RFM scores are computed.") < sources.index("## 2. Planted truth\n\nChecks against the generator.")
    assert "In plain words: who buys." not in sources and not any("Appendix" in s for s in sources)


def test_a_report_prints_on_a4_with_page_numbers_and_the_clients_name():
    look = S._apply(S.DEFAULTS, {"client": 'Acme "</style><script>', "paper": "letter"}, "x")
    page = report.notebook_html(_notebook(), "T", audience="client", meta=META, settings=look)
    assert "size: letter" in page and 'counter(page) " of " counter(pages)' in page
    assert "</style><script>" not in page and "<script" not in page
    a4 = report.notebook_html(_notebook(), "T", audience="client", meta=META, settings=S.DEFAULTS)
    assert "size: A4" in a4


def test_the_index_opens_with_the_executive_summary(tmp_path):
    look = S.load(demo=True)
    nbs = []
    for i in range(1, 4):
        nbs.append({"name": f"0{i}_x", "title": f"{i}. Topic {i}: more", "status": "ok", "report": f"0{i}_x.html",
                    "parameters": {"as_of": "2026-01-01"},
                    "findings": [{"section": "rfm", "text": f"Finding {i}a {HOSTILE}", "priority": 2},
                                 {"section": "rfm", "text": f"Finding {i}b", "priority": 1}],
                    "actions": [{"section": "rfm", "text": f"Action {i}", "value": 100.0 * i,
                                 "value_text": look.money(100 * i, 0), "priority": 2}]})
    nbs[0].update(tables=["kpis", "truth_check"], planted_tables=["truth_check"])
    nbs.append({"name": "04_x", "status": "failed", "findings": [{"section": "s", "text": "Never shown"}]})
    manifest = {"run": "run-1", "status": "failed", "audience": "client", "report_settings": look.to_dict(),
                "notebooks": nbs}
    page = report.write_index(tmp_path, manifest).read_text()
    assert "<h1>Customer analytics review</h1>" in page and "Demo Company (synthetic data)" in page
    found = page[page.index("Key findings"):page.index("Recommended actions")]
    assert found.index("Finding 1b") < found.index("Finding 3b") < found.index("Finding 1a")
    assert "Never shown" not in page and "<img src=x" not in page
    acts = page[page.index("Recommended actions"):]
    assert acts.index("Action 3") < acts.index("Action 2") < acts.index("Action 1")
    assert "Expected value: €300." in acts and 'href="03_x.html#s-rfm"' in acts
    assert page.index("Key findings") < page.index('class="nb"')
    assert "About this run: run-1" in page
    assert "kpis.csv" in page and "truth_check" not in page  # the planted-truth check is the analyst's
    manifest["audience"] = "analyst"
    assert "truth_check.csv" in report.write_index(tmp_path, manifest).read_text()


def test_formatted_numbers_stay_on_one_line_and_text_wraps():
    df = pd.DataFrame({"kpi": ["Revenue", "Retention"], "value": ["€194,735", "56.0%"],
                       "range": ["€180,000 to €200,000", "53.0% to 58.9%"], "note": ["a long note", "x"]})
    html = nb.client_table(df, S.DEFAULTS)
    assert "<td class='num'>€194,735</td>" in html and "<td class='num'>53.0% to 58.9%</td>" in html
    assert "<td class='txt'>a long note</td>" in html and "<td class='txt'>Revenue</td>" in html
    # a header sits over its values: right for a column of formatted numbers, left for text
    assert "<th class='num'>Value</th>" in html and "<th class='txt'>Note</th>" in html


def test_data_notes_in_the_clients_words():
    notes = ["orders: 1,078 rows dated on or after as_of (2025-12-15T00:00:00+00:00) ignored.",
             "order_items: 2,013 more rows ignored: they point (order_id) to orders rows dated on or after as_of.",
             "ad_spend: 153 rows dated the day of as_of (2025-12-15) or later ignored.",
             "tickets.resolved_at: 12 values on or after as_of set to missing (not yet happened at as_of).",
             "orders.order_id: no column; ids generated from the row positions (r000000 is the first row).",
             "orders.status: no column; every order counted as completed.", nb.CURRENCY_NOTE,
             "The customers table was derived from `orders`"]
    out = nb.client_notes(notes, "2025-12-15", S.load(demo=True))
    assert out == ["Everything dated on or after 15 Dec 2025, the analysis date, is left out "
                   "(1,078 orders, 2,013 order lines, 153 ad spend rows).",
                   "What happened on or after 15 Dec 2025 (a ticket resolved, a subscription ended) counts as "
                   "not yet happened.",
                   "The data has no order status, so every order counts as completed.",
                   "Amounts are shown without a currency: none was given with the data.",
                   "The customers table was derived from orders"]
    assert not any("as_of" in n or "r000000" in n for n in out)


def test_long_tokens_get_break_points_and_words_stay_whole():
    df = pd.DataFrame({"name": ["Champions", "<" * 30 + "x" * 30], "mean_orders": [6.6, 2.0]})
    html = nb.client_table(df, S.DEFAULTS)
    assert "<td class='txt'>Champions</td>" in html  # a short word never breaks
    assert "&lt;" * 12 + "<wbr>" + "&lt;" * 12 + "<wbr>" + "&lt;" * 6 + "x" * 6 + "<wbr>" in html
    assert ">6.60<" in html  # a mean of orders is not a count


def test_columns_named_but_absent_are_left_out():
    html = nb.client_table(_frame(), S.DEFAULTS, money=("revenue", "median_aov"), percent=("nope",),
                           labels={"gone": "events"}, columns=["segment", "median_aov", "revenue"])
    assert "Segment" in html and "Revenue" in html and "aov" not in html.lower()
