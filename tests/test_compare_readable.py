"""`crm-research compare` as a reviewer reads it: what differed first, then the headlines, then only
the rows that changed; shares in % and pts; hostile values escaped in Markdown and HTML.

Package level and fast: the two runs are small fake run folders shaped as the runner writes them
(manifest.json, meta/<notebook>.json, tables/<name>.csv), no notebook is executed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from crm_research import cli, run
from crm_research.run import compare

HOSTILE = ['<script>alert(1)</script>', '=HYPERLINK("http://evil.example","click")', "*loud* _x_ `code`",
           "[link](javascript:alert(1))", "a|b", "<img src=x onerror=alert(1)>"]

PARAMS = {"data_dir": "/data/demo", "as_of": "2026-01-01", "seed": 42, "churn_after_days": 180,
          "horizon_days": 90, "classifier": "logistic"}


def _headlines(lost: int, value: float) -> list[dict]:
    return [{"name": f"Customers lost (no purchase in {180 if lost < 1300 else 120} days)",
             "value": f"{lost:,} of 3,483 ({lost / 3483:.1%})", "text": f"{lost:,} of 3,483 ({lost / 3483:.1%})"},
            {"name": "Prediction accuracy (ROC-AUC)", "value": 0.8862, "text": "0.89"},
            {"name": "Value at risk (next 12 months)", "value": value, "text": f"{value:,.0f}"}]


def _fake_run(folder: Path, tables: dict[str, pd.DataFrame], *, params: dict | None = None,
              headlines: list[dict] | None = None, fingerprint: str = "f717404add8b36a2" * 4,
              commit: str = "0257c561f81d31c572f7c7adbb8781e89d457519", status: str = "ok") -> Path:
    """A run folder as :func:`crm_research.run.run_notebooks` leaves it (the parts compare reads)."""
    (folder / "tables").mkdir(parents=True)
    (folder / "meta").mkdir()
    for name, df in tables.items():
        df.to_csv(folder / "tables" / f"{name}.csv", index=False)
    data = {"folder": "/data/demo", "fingerprint": fingerprint, "mapping": None}
    nb = {"name": "05_churn", "source": "notebooks/05_churn.ipynb", "parameters": params or PARAMS,
          "status": "ok", "data": data, "headlines": headlines or [], "tables": list(tables),
          "figures": [], "sections": [], "data_notes": [], "title": "5. Churn", "report": "05_churn.html"}
    manifest = {"run": folder.name, "status": status, "started": "2026-12-02T14:05:17+00:00",
                "ended": "2026-12-02T14:05:30+00:00", "git": {"commit": commit, "dirty": False},
                "versions": {"python": "3.11.7", "crm-research": "0.1.0", "pandas": "2.3.3"},
                "data": {**data, "as_of": "2026-01-01"},
                "pseudonym_key": {"name": "default", "source": "config", "fingerprint": "cc34b1ce49d4effd"},
                "notebooks": [nb]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    meta = {"notebook": "05_churn", "data": data, "headlines": headlines or [], "tables": list(tables),
            "figures": [], "data_notes": [], "sections": []}
    (folder / "meta" / "05_churn.json").write_text(json.dumps(meta))
    return folder


def _segments(customers: list[int], share: list[float], names: list[str] | None = None) -> pd.DataFrame:
    names = names or [f"segment {i:02d}" for i in range(len(customers))]
    return pd.DataFrame({"segment": names, "customers": customers, "lost_share": share,
                         "value_at_risk": [c * 1000 + 0.4 for c in customers]})


@pytest.fixture
def two_runs(tmp_path):
    """Run B: seed 7, churn_after_days 120; of 50 segments one changed (and its share), one
    removed, one added; the at-risk list changed in one text column."""
    n = 50
    cust_a = [100 + i for i in range(n)]
    share_a = [round(0.2 + i / 100, 6) for i in range(n)]
    cust_b, share_b = list(cust_a), list(share_a)
    cust_b[3], share_b[3] = 1234, 0.445            # segment 03: 103 -> 1,234 customers, 23.0% -> 44.5%
    names_b = [f"segment {i:02d}" for i in range(n)]
    names_b[-1] = "segment new"                    # segment 49 removed, "segment new" added
    at_risk = pd.DataFrame({"customer_id": ["c_1", "c_2"], "p_churn": [0.5, 0.7],
                            "driver": ["many orders", "low NPS answer"]})
    at_risk_b = at_risk.assign(driver=["no recent site visit", "low NPS answer"])
    a = _fake_run(tmp_path / "run-a", {"churn_segments": _segments(cust_a, share_a), "churn_at_risk_list": at_risk},
                  headlines=_headlines(1261, 453655.87))
    b = _fake_run(tmp_path / "run-b", {"churn_segments": _segments(cust_b, share_b, names_b),
                                       "churn_at_risk_list": at_risk_b},
                  params={**PARAMS, "seed": 7, "churn_after_days": 120},
                  headlines=_headlines(1550, 503856.2))
    return a, b


def _line(text: str, *words: str) -> str:
    """The one line of ``text`` holding every word (fails when none or several do)."""
    hits = [ln for ln in text.splitlines() if all(w in ln for w in words)]
    assert len(hits) == 1, (words, hits)
    return hits[0]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def test_what_differed_comes_first_with_both_values_of_each_differing_parameter(two_runs):
    a, b = two_runs
    text = run.compare_runs(a, b)
    assert text.index("## What differed") < text.index("## Headlines") < text.index("## Tables")
    assert _cells(_line(text, "| churn_after_days"))[:3] == ["churn_after_days", "180", "120"]
    assert _cells(_line(text, "| seed"))[:3] == ["seed", "42", "7"]
    for same in ("horizon_days", "classifier", "data_dir"):  # equal parameters are not listed
        assert same not in text
    assert "Data: same (fingerprint f717404add8b)" in text
    assert "Code: same (git 0257c56, crm-research 0.1.0)" in text
    assert "as_of: same (2026-01-01)" in text


def test_a_different_data_fingerprint_and_commit_are_said(tmp_path):
    t = {"t": pd.DataFrame({"k": ["x"], "v": [1]})}
    a = _fake_run(tmp_path / "a", t)
    b = _fake_run(tmp_path / "b", t, fingerprint="9" * 64, commit="1234567" + "0" * 33)
    text = run.compare_runs(a, b)
    assert "Data: DIFFERENT (fingerprint f717404add8b → 999999999999)" in text
    assert "git 0257c56 → 1234567" in text and "Code: DIFFERENT" in text
    assert "Parameters: the same" in text


def test_headlines_old_new_and_change(two_runs):
    text = run.compare_runs(*two_runs)
    lost = _cells(_line(text, "Customers lost"))
    assert lost == ["Customers lost (no purchase in 180 → 120 days)", "1,261 of 3,483 (36.2%)",
                    "1,550 of 3,483 (44.5%)", "+289, +8.3 pts"]
    value = _cells(_line(text, "Value at risk"))
    assert value[1:] == ["453,656", "503,856", "+50,200 (+11.1%)"]
    assert "1 headline unchanged." in text and "ROC-AUC" not in text


def test_only_changed_rows_are_listed_and_the_unchanged_counted(two_runs):
    text = run.compare_runs(*two_runs)
    section = text[text.index("### churn_segments"):text.index("### churn_at_risk_list")]
    assert "1 changed, 48 unchanged, 1 only in A (removed), 1 only in B (added)" in section
    rows = [ln for ln in section.splitlines() if ln.startswith("| segment ") and "→" in ln]
    assert len(rows) == 1 and "segment 03" in rows[0]
    for unchanged in ("segment 00", "segment 04", "segment 48"):
        assert unchanged not in section
    assert "Only in A (removed): 1 row: segment 49" in section
    assert "Only in B (added): 1 row: segment new" in section
    # money and counts with thousands separators and signed changes
    assert "103 → 1,234 (+1,131)" in rows[0] and "103,000 → 1,234,000 (+1,131,000)" in rows[0]
    # a changed text column is a changed value of the same row, not a removed and an added row
    risk = text[text.index("### churn_at_risk_list"):]
    assert "many orders → no recent site visit" in risk and "1 changed, 1 unchanged" in risk
    assert "only in" not in risk


def test_a_changed_share_is_shown_in_percent_and_points(two_runs):
    text = run.compare_runs(*two_runs)
    row = _line(text, "| segment 03")
    assert "23.0% → 44.5% (+21.5 pts)" in row
    assert "0.23" not in row and "0.445" not in row
    # a row whose unit says share: its values in %, its counts as counts
    kpi = lambda v, num: pd.DataFrame({"metric": ["repeat_rate", "orders"], "value": [v, 812.0],  # noqa: E731
                                       "unit": ["share", "orders"], "numerator": [num, 812]})
    a = _fake_run(two_runs[0].parent / "ka", {"kpis": kpi(0.25, 100)})
    b = _fake_run(two_runs[0].parent / "kb", {"kpis": kpi(0.2631, 105)})
    kpis = _line(run.compare_runs(a, b), "| repeat")
    assert "25.0% → 26.3% (+1.3 pts)" in kpis and "100 → 105 (+5)" in kpis


def test_columns_are_the_identifying_ones_and_the_changed_ones(tmp_path):
    wide = {f"col_{i:02d}": [float(i), float(i + 1)] for i in range(35)}
    a = _fake_run(tmp_path / "a", {"wide": pd.DataFrame({"name": ["x", "y"], **wide})})
    changed = {**wide, "col_07": [7.0, 99.0]}
    b = _fake_run(tmp_path / "b", {"wide": pd.DataFrame({"name": ["x", "y"], **changed})})
    text = run.compare_runs(a, b)
    assert _cells(_line(text, "| name")) == ["name", "col_07"]
    assert _cells(_line(text, "| y "))[1] == "8 → 99 (+91)"
    assert "col_06" not in text and "1 changed, 1 unchanged" in text


@pytest.mark.parametrize("tolerance", [0.01, 0])
def test_tolerance_hides_a_half_percent_change_at_one_percent(tmp_path, capsys, tolerance):
    a = _fake_run(tmp_path / "a", {"spend": pd.DataFrame({"campaign": ["c1", "c2"], "cost": [1000.0, 50.0]})})
    b = _fake_run(tmp_path / "b", {"spend": pd.DataFrame({"campaign": ["c1", "c2"], "cost": [1005.0, 50.0]})})
    text = run.compare_runs(a, b, tolerance=tolerance)
    assert cli.main(["compare", str(a), str(b), "--tolerance", str(tolerance)]) == 0
    out = capsys.readouterr().out
    if tolerance:
        assert "Unchanged (1): spend" in text and "1,000 → 1,005" not in text
        assert "Unchanged (1): spend" in out
    else:
        assert "1 changed, 1 unchanged" in text and _cells(_line(text, "| c1"))[1] == "1,000 → 1,005 (+5)"
        assert "1,000 → 1,005 (+5)" in out
    with pytest.raises(Exception, match="tolerance"):
        run.compare_runs(a, b, tolerance=-1)


def test_hostile_values_are_escaped_in_markdown_and_html(tmp_path):
    n = len(HOSTILE)
    a = _fake_run(tmp_path / "a", {"seg": pd.DataFrame({"segment": HOSTILE, "customers": range(n)})})
    b = _fake_run(tmp_path / "b", {"seg": pd.DataFrame({"segment": HOSTILE, "customers": range(10, 10 + n)})},
                  params={**PARAMS, "classifier": "<b>gbm</b>"})
    text = run.compare_runs(a, b, out=tmp_path / "cmp.md")
    md = (tmp_path / "cmp.md").read_text()
    assert md == text
    assert "\\<script\\>alert(1)\\</script\\>" in md and "<script" not in md.replace("\\<script", "")
    assert "\\[link\\](javascript:alert(1))" in md and "a\\|b" in md
    assert "\\*loud\\* \\_x\\_ \\`code\\`" in md and "\\<img src=x onerror=alert(1)\\>" in md
    assert "\\<b\\>gbm\\</b\\>" in md
    assert re.search(r"(?<!\\)[<>]", md) is None  # no '<' or '>' left unescaped
    # every row of the table stays one row of six cells (the '|' inside a value is escaped)
    seg = md[md.index("### seg"):]
    rows = [ln for ln in seg.splitlines() if ln.startswith("|") and "→" in ln]
    assert len(rows) == n and all(len(_cells(r)) == 2 for r in rows)
    page = (tmp_path / "cmp.html").read_text()
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>" not in page
    page = page.replace("<wbr>", "")  # break opportunities inside long words
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "=HYPERLINK(&quot;http://evil.example&quot;,&quot;click&quot;)" in page
    assert compare.md_escape("a\nb\x1b[2Jc") == "a b \\[2Jc"  # no new line, no terminal escape
    assert compare.md_escape("value_at_risk") == "value_at_risk"  # inside a word: no emphasis


def test_html_page_beside_the_markdown_with_the_policy_and_no_script(two_runs, tmp_path):
    a, b = two_runs
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path / "out" / "review.html")]) == 0
    page = (tmp_path / "out" / "review.html").read_text()
    assert (tmp_path / "out" / "review.md").read_text().startswith("# Comparison of runs run-a (A) and run-b (B)")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;' in page
    assert "<script" not in page.lower() and "<link" not in page.lower() and "url(" not in page
    assert "<style>" in page and "23.0% → 44.5% (+21.5 pts)" in page
    assert (tmp_path / "out" / "review-tables" / "churn_segments.csv").exists()
    assert not list((tmp_path / "out").rglob("*.tmp"))
    # FILE.md writes FILE.html beside it; a folder gets comparison.md/.html and the CSVs
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path / "x.md")]) == 0
    assert (tmp_path / "x.html").read_text().count("<table>") >= 3
    run.compare_runs(a, b, out=tmp_path / "folder")
    assert {p.name for p in (tmp_path / "folder").iterdir()} >= {"comparison.md", "comparison.html",
                                                                "churn_segments.csv"}


def test_terminal_output_is_short_and_says_where_the_full_comparison_went(tmp_path, capsys):
    big = lambda k: pd.DataFrame({"customer_id": [f"c_{i}" for i in range(600)],  # noqa: E731
                                  "p_churn": [(i % 97) / 100 + k for i in range(600)]})
    tables = {f"t{j:02d}": big(0.0) for j in range(25)}
    a = _fake_run(tmp_path / "a", tables)
    b = _fake_run(tmp_path / "b", {t: big(0.01) for t in tables})
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp.md")]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 80, out
    assert f"Full comparison: {tmp_path / 'cmp.md'} and {tmp_path / 'cmp.html'}" in out
    assert "more changed tables" in out and "600 changed" in out
    full = (tmp_path / "cmp.md").read_text()
    assert full.count("### t") == 25 and "560 more changed rows" in full
    assert cli.main(["compare", str(a), str(b)]) == 0
    assert "add --out" in capsys.readouterr().out


def test_incomplete_runs_are_still_refused_unless_asked(tmp_path, capsys):
    t = {"t": pd.DataFrame({"k": ["x"], "v": [1]})}
    a = _fake_run(tmp_path / "a", t, status="interrupted")
    b = _fake_run(tmp_path / "b", t)
    assert cli.main(["compare", str(a), str(b)]) == 2
    assert "--allow-incomplete" in capsys.readouterr().err
    assert cli.main(["compare", str(a), str(b), "--allow-incomplete"]) == 0
    assert "**Incomplete.** Run a " in capsys.readouterr().out
