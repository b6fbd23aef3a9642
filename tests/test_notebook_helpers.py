"""Notebook display helpers: publish writes the PNG once and returns that image, tables format
by unit, numbers read as prose, path parameters start at the project root."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research import notebook  # noqa: E402
from crm_research.errors import CRMError  # noqa: E402


def test_publish_saves_closes_and_returns_the_saved_png(tmp_path):
    run = notebook.setup("01_test", tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    img = run.publish(fig, "line")
    png = tmp_path / "figures" / "line.png"
    assert png.exists() and img.data == png.read_bytes()
    assert not plt.fignum_exists(fig.number)                  # drawn once: closed after saving
    assert "line" in run._meta["figures"]
    with pytest.raises(CRMError, match="already written"):
        other = notebook.setup("02_test", tmp_path)
        other.publish(plt.figure(), "line")


def test_show_by_unit_formats_rows_by_their_unit():
    t = pd.DataFrame({"metric": ["retention", "orders", "aov"], "unit": ["share", "orders", "currency"],
                      "value": [0.5612, 1234.0, 56.789]})
    html = notebook.show_by_unit(t, ["value"]).to_html()
    assert "56.1%" in html and "1,234<" in html and "56.79" in html


@pytest.mark.parametrize(("x", "text"), [(1234.0, "1,234"), (2.5, "2.50"), (float("nan"), ""), (7, "7")])
def test_number(x, text):
    assert notebook.number(x) == text


def test_project_path(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_RESEARCH_ROOT", str(tmp_path))
    assert notebook.project_path("goals.yaml") == tmp_path / "goals.yaml"
    assert notebook.project_path("/abs/g.yaml").as_posix() == "/abs/g.yaml"


def test_truth_reads_a_synthetic_company_and_is_none_for_client_data(tmp_path):
    from crm_research import synthetic

    synthetic.write(tmp_path / "company", n_customers=200, seed=3)
    run = notebook.RunContext("01_baseline", tmp_path / "run")
    effects, customers = run.truth(tmp_path / "company")
    assert effects["counts"]["customers"] == len(customers) == 303  # 200 contacts + the media-driven leads
    (tmp_path / "client").mkdir()
    assert run.truth(tmp_path / "client") == (None, None)
