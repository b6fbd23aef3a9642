"""Planted effects of the synthetic company recovered (or not) by the attribution models.

One company of 100,000 contacts (seed 42, the demo seed): at 10,000 contacts the incremental
Shapley ranking of the top three channels holds in only about 75 % of bootstrap replicates
(measured), at 100,000 in all 200 of them, and the A/B arms have about 6,400 customers each
(3,900 before the media-driven leads of the marketing mix truth joined).

What the company plants (``synthetic/company.py``, "marketing touches"): each lead is touched by
each channel independently (reach 0.35 .. 0.60), and being touched adds a fixed amount to the
log-odds of converting. Channels are therefore *not* equally effective per touch: display
reaches the most leads but barely changes their conversion (effect 0.10), affiliate reaches few
(0.30). Models that credit channels for being present in converting paths (every rule, Markov
removal effects, the simplified Shapley game) rank display first; only the incremental Shapley
game, which compares conversion rates of journeys with and without a channel, recovers the
planted ranking.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from crm_research import synthetic
from crm_research.attribution import (
    ABTest,
    MarkovAttribution,
    ShapleyAttribution,
    ab_assignments,
    bootstrap_replicates,
    compare_models,
    path_data,
    paths,
    rank_agreement,
)
from crm_research.synthetic import config as K

N_CONTACTS, SEED = 100_000, 42


@pytest.fixture(scope="module")
def company():
    tables, truth, truth_customers = synthetic.generate(N_CONTACTS, seed=SEED)
    journeys = paths(tables["events"], tables["orders"], tables["customers"], as_of="2026-01-01")
    return tables, truth, truth_customers, journeys


@pytest.fixture(scope="module")
def comparison(company):
    *_, journeys = company
    return compare_models(journeys, n_boot=0)


def true_shapley(truth_customers) -> dict[str, float]:
    """Shapley values of the planted model: sum over contacts of the exact Shapley split of
    ``p(touched set) - p(∅)`` with ``p(S) = sigmoid(intercept + sum of effects in S)``."""
    eff = np.asarray(K.CHANNEL_EFFECT)
    touched = truth_customers[[f"touched_{c}" for c in K.CHANNELS]].to_numpy()
    counts = np.bincount((touched * (1 << np.arange(len(K.CHANNELS)))).sum(axis=1), minlength=32)

    def p(S):
        return 1 / (1 + math.exp(-(K.CONVERSION_INTERCEPT + sum(eff[i] for i in S))))

    phi = np.zeros(len(K.CHANNELS))
    for mask, n in enumerate(counts):
        T = [i for i in range(len(K.CHANNELS)) if mask >> i & 1]
        for i in T:
            others = [x for x in T if x != i]
            for k in range(len(T)):
                w = math.factorial(k) * math.factorial(len(T) - k - 1) / math.factorial(len(T))
                for S in itertools.combinations(others, k):
                    phi[i] += n * w * (p((*S, i)) - p(S))
    return dict(zip(K.CHANNELS, phi, strict=True))


def test_incremental_shapley_recovers_the_planted_ranking(company, comparison):
    _, truth, _, _ = company
    rank = truth["channel_rank_by_incremental_conversions"]
    assert rank == ["email", "paid_search", "social", "affiliate", "display"]
    truth_incr = {c: truth["channels"][c]["incremental_conversions"] for c in K.CHANNELS}
    ra = rank_agreement(comparison, truth_incr).set_index("model")
    got = ra.loc["shapley_incremental", "ranking"].split(" > ")
    # the top three are 1.2-1.7x apart in truth and recovered; affiliate and display differ by
    # 3 % in truth (1,293 vs 1,258), far less than their bootstrap error (about 15 %): only
    # their membership of the bottom two is asserted (measured: the exact order, rho = 1.0)
    assert got[:3] == rank[:3]
    assert set(got[3:]) == {"affiliate", "display"}
    assert ra.loc["shapley_incremental", "spearman"] >= 0.9


def test_presence_based_models_cannot_recover_it(company, comparison):
    _, truth, _, _ = company
    truth_incr = {c: truth["channels"][c]["incremental_conversions"] for c in K.CHANNELS}
    ra = rank_agreement(comparison, truth_incr).set_index("model")
    # measured rankings at 100k contacts (the same at 10k):
    #   every rule, markov_1, markov_2: display > email > social > paid_search > affiliate
    #   shapley_conversions:            email > display > social > paid_search > affiliate
    for model in ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov_1", "markov_2"):
        assert ra.loc[model, "ranking"] == "display > email > social > paid_search > affiliate", model
        assert ra.loc[model, "spearman"] == pytest.approx(-0.1, abs=1e-12)
    assert ra.loc["shapley_conversions", "ranking"] == "email > display > social > paid_search > affiliate"
    assert not ra.drop("shapley_incremental")["exact"].any()


def test_incremental_shapley_matches_the_true_shapley_values(company):
    *_, truth_customers, journeys = company
    target = true_shapley(truth_customers)
    rep = bootstrap_replicates(ShapleyAttribution(), journeys, n_boot=60, seed=1)
    est = dict(zip(rep["channels"], rep["incremental_conversions"], strict=True))
    se = dict(zip(rep["channels"], rep["incremental_conversions_boot"].std(axis=0, ddof=1), strict=True))
    # measured: email 7,128 vs 7,280, paid_search 6,312 vs 6,274, social 3,982 vs 4,159,
    # affiliate 1,244 vs 1,102, display 1,171 vs 1,052; bootstrap SEs 170-260
    for c in K.CHANNELS:
        assert abs(est[c] - target[c]) < 3 * se[c], (c, est[c], target[c], se[c])
    # the baseline rate is the rate of contacts without touches: planted sigmoid(-1.7) = 0.154
    m = ShapleyAttribution().fit(journeys)
    n0 = int((journeys.n_touches == 0).sum())
    assert abs(m.baseline_rate_ - 1 / (1 + math.exp(1.7))) < 3 * math.sqrt(0.154 * 0.846 / n0)


def test_markov_reproduces_the_observed_conversion_rate(company):
    *_, journeys = company
    touched = journeys[journeys.n_touches > 0]
    m = MarkovAttribution(order=2).fit(journeys)
    assert m.conversion_probability_ == pytest.approx(touched.converted.mean(), rel=1e-12)
    assert m.credits_.conversions.sum() == pytest.approx(touched.converted.sum(), rel=1e-12)
    assert path_data(journeys).totals()["touched_conversions"] == touched.converted.sum()


def test_planted_ab_test_lift_inside_the_95_percent_interval(company):
    tables, truth, truth_customers, _ = company
    ab = truth["ab_test"]
    a = ab_assignments(tables["events"], tables["orders"], window_days=ab["window_days"],
                       arms={"control": ab["control_campaign"], "variant": ab["variant_campaign"]},
                       promo_code=ab["promo_code"], as_of="2026-01-01")
    planted = truth_customers.set_index("customer_id").ab_arm
    assert (a.set_index("customer_id").arm == planted.reindex(a.customer_id)).all()
    assert len(a) == int((planted != "").sum())
    res = ABTest(target_lift=ab["lift_abs"], conf=0.95).fit(a)
    v = res.summary_.set_index("arm").loc["variant"]
    c = res.summary_.set_index("arm").loc["control"]
    # measured: 6,325 vs 6,457 customers, rates 7.98 % vs 9.69 %, diff +1.71 points [0.73, 2.70]
    # (3,891 vs 4,003 before the media-driven leads of the marketing mix truth joined the company)
    assert 5_800 < v.n < 7_000 and 5_800 < c.n < 7_000
    assert v.diff_low < ab["lift_abs"] < v.diff_high
    assert v.lift_low < ab["lift_rel"] < v.lift_high
    assert c.rate_low < ab["rate_control"] < c.rate_high and v.rate_low < ab["rate_variant"] < v.rate_high
    assert res.warnings_ == []  # power to detect +2 points at this size is 86 %
