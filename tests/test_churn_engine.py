"""The churn steps on engine tables give the numbers they give on pandas tables (notebook 05).

One small synthetic company, loaded once into pandas and once onto DuckDB (``data.load(...,
con=open_engine("duckdb"))``, the notebook's ``engine="duckdb"``); every step the notebook feeds
with a table of the data must return the same frame (values, dtypes, row order) either way.
"""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research import data, engine, synthetic
from crm_research.churn import (
    ChurnClassifier,
    calibration_holdout_summary,
    churn_labels,
    contractual_churn,
    customer_covariates,
    discrete_calibration_holdout,
    discrete_summary,
    noncontractual_churn,
    purchase_days_by_date,
    rfm_risk,
    rfm_summary,
    subscription_histories,
)
from crm_research.churn.definitions import has_rows
from crm_research.churn.features import churn_features
from crm_research.engine import collect

CUT = pd.Timestamp("2026-01-01", tz="UTC")
CHECK = CUT - pd.Timedelta(days=90)


@pytest.fixture(scope="module")
def both():
    tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    frames = data.load(tables, as_of=CUT)
    lazy = data.load(tables, as_of=CUT, con=engine.open_engine("duckdb"))
    assert lazy.is_lazy and not frames.is_lazy
    return frames, lazy


def same(a, b):
    pd.testing.assert_frame_equal(collect(a), collect(b))
    assert collect(a).attrs == collect(b).attrs


def test_definitions_on_the_engine(both):
    frames, lazy = both
    same(noncontractual_churn(lazy.orders, CUT, 180), noncontractual_churn(frames.orders, CUT, 180))
    subs = contractual_churn(lazy.subscriptions, CUT)
    same(subs, contractual_churn(frames.subscriptions, CUT))
    assert len(subs) == 45 and int(subs["event"].sum()) == 19
    assert has_rows(lazy.subscriptions) and has_rows(frames.subscriptions)
    assert not has_rows(lazy.subscriptions.filter(lazy.subscriptions.started_at > CUT))
    assert not has_rows(frames.subscriptions.iloc[:0])


def test_rfm_risk_and_labels_on_the_engine(both):
    frames, lazy = both
    risk = rfm_risk(lazy.orders, CHECK)
    same(risk, rfm_risk(frames.orders, CHECK))
    same(churn_labels(lazy.orders, risk, CUT, 90), churn_labels(frames.orders, risk, CUT, 90))
    assert risk.attrs["population_gap_days"] > 0


def test_btyd_and_occasion_summaries_on_the_engine(both):
    frames, lazy = both
    # the engine route (DuckDB) and the NumPy route of a DataFrame: the same bits
    same(rfm_summary(lazy.orders, CUT), rfm_summary(frames.orders, CUT))
    same(rfm_summary(lazy.orders, CUT, value_col=None), rfm_summary(frames.orders, CUT, value_col=None))
    same(calibration_holdout_summary(lazy.orders, CHECK, CUT, value_col=None),
         calibration_holdout_summary(frames.orders, CHECK, CUT, value_col=None))
    same(purchase_days_by_date(lazy.orders, CUT), purchase_days_by_date(frames.orders, CUT))
    same(discrete_summary(lazy.orders, CUT, period="Q"), discrete_summary(frames.orders, CUT, period="Q"))
    same(discrete_calibration_holdout(lazy.orders, "2025-07-01", CUT, period="Q"),
         discrete_calibration_holdout(frames.orders, "2025-07-01", CUT, period="Q"))


def test_survival_inputs_on_the_engine(both):
    frames, lazy = both
    cov = customer_covariates(lazy.tables(), CUT)
    # text columns come back from the engine as objects, from the pandas loader as strings
    same(cov, customer_covariates(frames.tables(), CUT).astype({"region": object, "acquisition_channel": object}))
    assert cov.columns.tolist() == ["customer_id", "age", "region", "acquisition_channel", "first_order_promo"]
    same(subscription_histories(lazy.subscriptions, CUT, group_col="plan", keep=("mrr",)),
         subscription_histories(frames.subscriptions, CUT, group_col="plan", keep=("mrr",)))


def test_classifier_on_the_engine(both):
    frames, lazy = both
    same(churn_features(lazy.tables(), CHECK), churn_features(frames.tables(), CHECK))
    a = ChurnClassifier(horizon_days=90, model="logistic", seed=42).fit(lazy.tables(), CHECK)
    b = ChurnClassifier(horizon_days=90, model="logistic", seed=42).fit(frames.tables(), CHECK)
    assert a.n_fit_ == b.n_fit_ == 87
    same(a.evaluate(lazy.tables(), CUT), b.evaluate(frames.tables(), CUT))
    same(a.predict(lazy.tables(), CUT), b.predict(frames.tables(), CUT))
