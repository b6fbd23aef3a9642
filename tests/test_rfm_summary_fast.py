"""rfm_summary's NumPy route for DataFrames: the engine route's numbers, bit for bit.

A DataFrame with integer or string ids, datetime dates and numeric values is summarised on NumPy
(``summary._rfm_frame``); everything else, and every engine table, runs the Ibis expression
(``summary._rfm_on_engine`` runs it on the implicit DuckDB connection). Each case here runs both
and compares every column's bits, and checks which route was taken.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_research.churn import summary as S
from crm_research.churn.summary import rfm_summary

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"
END = "2024-05-01"  # the last day observed (inclusive)
AS_OF = "2024-05-02"  # the analysis date: the day after


def _log(seed: int = 0, n: int = 6000, grouped: bool = False) -> pd.DataFrame:
    """Transactions of 900 customers over 400 days: several orders a day, statuses, negative
    refunds, amounts with 0 to 8 decimals, ties at half a millionth, orders after ``END``."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 900, n)
    if grouped:
        ids = np.sort(ids)
    us = (pd.Timestamp("2023-04-01", tz="UTC").value // 1000
          + rng.integers(0, 400 * 86_400, n) * 1_000_000 + rng.integers(0, 1_000_000, n))
    scale = 10.0 ** rng.integers(0, 9, n)
    value = np.round(rng.gamma(2.0, 30.0, n) * scale) / scale * rng.choice([1.0, -1.0], n, p=[0.95, 0.05])
    half = rng.random(n) < 0.1
    value[half] = (rng.integers(0, 10**7, half.sum()) + 0.5) / 1e6  # DECIMAL rounding ties
    return pd.DataFrame({
        "customer_id": ids,
        "ordered_at": pd.to_datetime(us, unit="us", utc=True),
        "amount": value,
        "status": rng.choice(["completed", "cancelled", None], n, p=[0.8, 0.15, 0.05]),
    })


_OPTIONS = ({}, {"status_col": None}, {"value_col": None}, {"time_unit": "W"})


def _options(kind: str) -> tuple[dict, ...]:
    """Every option for the data model's types and int64 ids, the defaults for the others."""
    return _OPTIONS if kind in ("int64", "string (data model), UTC") else ({},)


def _kinds(df: pd.DataFrame, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    ids = df["customer_id"]
    gaps = rng.random(len(df)) < 0.02
    return {
        "int64": df,
        "int32": df.assign(customer_id=ids.astype("int32")),
        "string (data model), UTC": df.assign(customer_id=ids.astype(str).astype("string")),
        "string with missing ids": df.assign(customer_id=ids.astype(str).astype("string").mask(gaps)),
        "string[pyarrow] with missing ids": df.assign(
            customer_id=ids.astype(str).astype("string[pyarrow]").mask(gaps)),
        "object str, not ASCII": df.assign(
            customer_id=ids.map(lambda i: ["é", "z", "Z", "ß", "a", "日本", "😀"][i % 7] + str(i // 7))),
        "object str with None and NaN": df.assign(
            customer_id=ids.astype(str).astype(object).mask(gaps, None).mask(rng.random(len(df)) < 0.01, np.nan)),
        "naive microseconds": df.assign(ordered_at=df["ordered_at"].dt.tz_localize(None).astype("datetime64[us]")),
        "Europe/Paris": df.assign(ordered_at=df["ordered_at"].dt.tz_convert("Europe/Paris")),
        "missing dates": df.assign(ordered_at=df["ordered_at"].mask(gaps)),
        "integer amounts": df.assign(amount=(df["amount"] * 100).round().astype(np.int64)),
    }


def _same_bits(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for c in a.columns[1:]:
        assert np.array_equal(a[c].to_numpy().view(np.int64), b[c].to_numpy().view(np.int64)), c


@pytest.mark.parametrize("grouped", [False, True], ids=["shuffled", "grouped by customer"])
def test_numpy_route_gives_the_engine_bits(grouped):
    df = _log(seed=1, grouped=grouped)
    for kind, d in _kinds(df, np.random.default_rng(2)).items():
        for kw in _options(kind):
            fast = S._rfm_frame(d, "customer_id", "ordered_at", kw.get("value_col", "amount"),
                                S._day_literal(END), S.TIME_UNITS[kw.get("time_unit", "D")],
                                kw.get("status_col", "status"), ("completed",))
            assert fast is not None, f"{kind}: the NumPy route was not taken"
            engine = S._rfm_on_engine(d, as_of=AS_OF, **kw)
            assert len(engine) > 850
            _same_bits(fast, engine)
            _same_bits(rfm_summary(d, as_of=AS_OF, **kw), engine)


def test_rounding_ties_follow_duckdb_decimal_cast():
    # one customer, two days: the repeat day's value is x.5 millionths, rounded half away from
    # zero as DuckDB casts DOUBLE to DECIMAL(38, 6) (NumPy's rint would round half to even)
    for v, expected in [(0.0000025, 0.000003), (0.0000035, 0.000004), (-0.0000025, -0.000003),
                        (12.3456785, 12.345679)]:
        df = pd.DataFrame({"customer_id": ["a", "a"], "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
                           "amount": [1.0, v]})
        s = rfm_summary(df, as_of="2024-02-01", status_col=None)
        assert S._micro_units(np.array([v]))[0] == round(expected * 1e6)
        assert s["monetary_value"].iloc[0] == expected == S._rfm_on_engine(
            df, as_of="2024-02-01", status_col=None)["monetary_value"].iloc[0]


def test_other_inputs_take_the_engine_route():
    df = _log(seed=3, n=500)
    end, cols = S._day_literal(END), ("customer_id", "ordered_at", "amount")
    others = {
        "categorical ids": df.assign(customer_id=df["customer_id"].astype(str).astype("category")),
        "nullable Int64 ids": df.assign(customer_id=df["customer_id"].astype("Int64")),
        "missing amounts": df.assign(amount=df["amount"].mask(df.index % 7 == 0)),
        "dates as objects": df.assign(ordered_at=df["ordered_at"].dt.date),
        "amounts beyond int64 micro-units": df.assign(amount=df["amount"] * 1e12),
    }
    for kind, d in others.items():
        assert S._rfm_frame(d, *cols, end, 1.0, "status", ("completed",)) is None, kind
        _same_bits(rfm_summary(d, as_of=AS_OF), S._rfm_on_engine(d, as_of=AS_OF))
    # ids mixing numbers and text: left to the engine, which refuses them as before
    mixed = df.assign(customer_id=df["customer_id"].astype(object).where(df.index % 2 == 0, "x"))
    assert S._rfm_frame(mixed, *cols, end, 1.0, "status", ("completed",)) is None
    # no counted row: the engine gives the empty table with its types
    empty = rfm_summary(df, as_of="2000-01-02")
    assert len(empty) == 0 and list(empty.columns) == ["customer_id", "frequency", "recency", "T", "monetary_value"]


def test_cdnow_master_string_ids_match_the_engine():
    path = CDNOW / "CDNOW_master.txt"
    if not path.exists():
        pytest.skip(f"CDNOW data not found at {CDNOW}: the validation dataset lives in ../shared/datasets "
                    "beside the project")
    raw = pd.read_csv(path, sep=r"\s+", header=0, names=["customer_id", "date", "cds", "value"],
                      dtype={"customer_id": str, "date": str})
    df = pd.DataFrame({"customer_id": raw["customer_id"].astype("string"),
                       "date": pd.to_datetime(raw["date"], format="%Y%m%d", utc=True), "value": raw["value"]})
    kw = dict(customer_col="customer_id", date_col="date", value_col="value", as_of="1998-07-01",
              status_col=None)
    fast = rfm_summary(df, **kw)
    _same_bits(fast, S._rfm_on_engine(df, **kw))
    # lifetimes' summary_data_from_transaction_data on the same file (0.11.3, freq="D"): 23,570
    # customers, 11,516 with a repeat purchase day, 44,021 repeat purchase days in all
    assert len(fast) == 23_570 and int((fast["frequency"] > 0).sum()) == 11_516
    assert int(fast["frequency"].sum()) == 44_021
    assert fast["customer_id"].is_monotonic_increasing


@pytest.mark.parametrize("grouped", [False, True], ids=["shuffled", "grouped by customer"])
def test_calibration_holdout_numpy_route_gives_the_engine_bits(grouped):
    df = _log(seed=4, grouped=grouped)
    cal, end = "2024-01-15", "2024-03-31"  # last days of the two periods (inclusive)
    cal_as_of, as_of = "2024-01-16", "2024-04-01"
    for kind, d in _kinds(df, np.random.default_rng(5)).items():
        for kw in _options(kind):
            fast = S._calibration_frame(d, "customer_id", "ordered_at", kw.get("value_col", "amount"),
                                        S._day_literal(cal), S._day_literal(end),
                                        S.TIME_UNITS[kw.get("time_unit", "D")], kw.get("status_col", "status"),
                                        ("completed",))
            assert fast is not None, f"{kind}: the NumPy route was not taken"
            engine = S._calibration_on_engine(d, calibration_as_of=cal_as_of, as_of=as_of, **kw)
            # customers who bought in both periods, in the calibration period only, and in the
            # holdout period only (those are left out)
            assert len(engine) > 800 and 0 < (engine["frequency_holdout"] > 0).mean() < 1
            _same_bits(fast, engine)
            _same_bits(S.calibration_holdout_summary(d, calibration_as_of=cal_as_of, as_of=as_of, **kw), engine)


def test_each_way_of_coding_ids_is_taken_and_agrees():
    # grouped with many orders per customer: runs sorted; shuffled: Arrow hash of every row;
    # grouped with about one order per customer (more runs than half the rows): hash of the runs
    rng = np.random.default_rng(6)
    df = _log(seed=6, n=6000, grouped=True)
    few = df.assign(customer_id=np.sort(rng.integers(0, 4500, len(df))))
    shuffled = df.sample(frac=1.0, random_state=1)
    for d in (df, few, shuffled):
        for ids in (d["customer_id"].astype(str).astype("string"), d["customer_id"].astype(str).astype("string[pyarrow]")):
            _same_bits(rfm_summary(d.assign(customer_id=ids), as_of=AS_OF),
                       S._rfm_on_engine(d.assign(customer_id=ids), as_of=AS_OF))
    obj = few["customer_id"].astype(str).to_numpy(dtype=object)
    runs = int(S._run_starts(obj).sum())
    assert 2 * runs > len(obj) and not S._short_runs(obj)
    assert S._short_runs(shuffled["customer_id"].astype(str).to_numpy(dtype=object))
    assert not S._short_runs(df["customer_id"].astype(str).to_numpy(dtype=object))
