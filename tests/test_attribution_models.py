"""Attribution models on hand-worked paths, against brute-force definitions, and their bootstrap."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from crm_research.attribution import (
    FirstTouch,
    LastTouch,
    Linear,
    MarkovAttribution,
    PositionBased,
    ShapleyAttribution,
    TimeDecay,
    bootstrap,
    bootstrap_replicates,
    compare_models,
    path_data,
    rank_agreement,
)
from crm_research.errors import CRMError

# path, conversions, value, nulls -- worked by hand below
HAND = pd.DataFrame(
    [("a > b > c", 1, 30.0, 0), ("b", 2, 40.0, 1), ("c > a", 0, 0.0, 3), ("a > a > b", 1, 10.0, 0),
     ("c > b", 1, 20.0, 0), ("", 5, 60.0, 5)],
    columns=["path", "total_conversions", "total_conversion_value", "total_null"],
)


def credits(model, paths) -> dict[str, tuple[float, float]]:
    c = model.fit(paths).credits_
    return {r.channel: (r.conversions, r.value) for r in c.itertuples()}


def approx(d: dict) -> dict:
    return {k: pytest.approx(v, abs=1e-9) for k, v in d.items()}


def test_rules_by_hand():
    # a > b > c (1 conv, 30), b (2, 40), a > a > b (1, 10), c > b (1, 20); '' is not attributed
    assert credits(FirstTouch(), HAND) == approx({"a": (2, 40), "b": (2, 40), "c": (1, 20)})
    assert credits(LastTouch(), HAND) == approx({"a": (0, 0), "b": (4, 70), "c": (1, 30)})
    # linear: a = 1/3 + 2/3, b = 1/3 + 2 + 1/3 + 1/2, c = 1/3 + 1/2
    assert credits(Linear(), HAND) == approx({"a": (1, 10 + 20 / 3), "b": (19 / 6, 10 + 40 + 10 / 3 + 10),
                                              "c": (5 / 6, 20)})
    # 40/20/40: a > b > c → .4/.2/.4; a > a > b → a .4 + .2, b .4; c > b → 50/50
    assert credits(PositionBased(), HAND) == approx({"a": (1.0, 18), "b": (3.1, 60), "c": (0.9, 22)})
    # 30/30 with the middle 40: two touches still split 50/50, a single touch gets everything
    assert credits(PositionBased(0.3, 0.3), HAND) == approx({"a": (0.3 + 0.7, 9 + 7), "b": (0.4 + 2 + 0.3 + 0.5,
                                                            12 + 40 + 3 + 10), "c": (0.3 + 0.5, 9 + 10)})


def test_time_decay_by_hand():
    j = pd.DataFrame({
        "path": ["a > b > c", "b > a", "c"],
        "converted": [1, 1, 0],
        "conversion_value": [35.0, 10.0, 0.0],
        "touch_days": [[14.0, 7.0, 0.0], [3.5, 0.0], [1.0]],
    })
    # half-life 7: weights 1/4, 1/2, 1 → /1.75; and 2**-0.5, 1 → /(1 + 2**-0.5)
    s = 1 + 2 ** -0.5
    want = {"a": 1 / 7 + 1 / s, "b": 2 / 7 + 2 ** -0.5 / s, "c": 4 / 7}
    got = credits(TimeDecay(half_life_days=7), j)
    assert {k: v[0] for k, v in got.items()} == approx(want)
    assert got["c"][1] == pytest.approx(35 * 4 / 7, abs=1e-9)
    # far-away touches do not underflow to NaN: weights relative to the journey's latest touch
    far = pd.DataFrame({"path": ["a > b"], "converted": [1], "conversion_value": [1.0],
                        "touch_days": [[10_000.0, 9_000.0]]})
    got = credits(TimeDecay(half_life_days=1), far)
    assert got["b"][0] == 1.0 and 0 < got["a"][0] < 1e-300
    with pytest.raises(CRMError, match="touch times"):
        TimeDecay().fit(HAND)


# Markov, worked by hand: a > b converts (100), a null, b converts (50), b > a null.
MARKOV = pd.DataFrame({"path": ["a > b", "a", "b", "b > a"], "total_conversions": [1, 0, 1, 0],
                       "total_conversion_value": [100.0, 0.0, 50.0, 0.0], "total_null": [0, 1, 0, 1]})


def test_markov_order_1_by_hand():
    # start→a 2, start→b 2; a→b 1, a→null 2; b→conv 2, b→a 1.
    # x_a = x_b / 3, x_b = 2/3 + x_a / 3 → x_b = 3/4, x_a = 1/4, P = (x_a + x_b) / 2 = 1/2.
    # Without a: x_b = 2/3 → P = 1/3, RE_a = 1/3. Without b: P = 0, RE_b = 1.
    # Value: both conversions leave from b, mean 75: y_b = 50 + y_a/3, y_a = y_b/3 → V = 37.5;
    # without a: V = 25 (RE 1/3), without b: 0 (RE 1). Shares: a 1/4, b 3/4.
    m = MarkovAttribution(order=1).fit(MARKOV)
    c = m.credits_.set_index("channel")
    assert m.conversion_probability_ == pytest.approx(0.5, abs=1e-12)
    assert m.expected_value_ == pytest.approx(37.5, abs=1e-9)
    assert c.removal_effect.to_dict() == approx({"a": 1 / 3, "b": 1.0})
    assert c.value_removal_effect.to_dict() == approx({"a": 1 / 3, "b": 1.0})
    assert c.conversions.to_dict() == approx({"a": 0.5, "b": 1.5})
    assert c.value.to_dict() == approx({"a": 37.5, "b": 112.5})
    tr = m.transitions_.set_index(["from_state", "to_state"])["probability"]
    assert tr[("a", "b")] == pytest.approx(1 / 3) and tr[("b", "(conversion)")] == pytest.approx(2 / 3)
    assert m.transitions_.groupby("from_state")["probability"].sum().to_numpy() == pytest.approx(1.0)


def test_markov_order_2_by_hand():
    # states (a), (b), (a > b), (b > a): (a) → (a > b) or null, 1/2 each; (a > b) converts;
    # (b) converts or → (b > a), 1/2 each; (b > a) → null. P = (1/2 + 1/2) / 2 = 1/2.
    # Without a only (b) survives: P = 1/4, RE_a = 1/2; without b nothing converts: RE_b = 1.
    m = MarkovAttribution(order=2).fit(MARKOV)
    c = m.credits_.set_index("channel")
    assert m.states_ == ["(start)", "a", "b", "a > b", "b > a"]
    assert c.removal_effect.to_dict() == approx({"a": 0.5, "b": 1.0})
    assert c.conversions.to_dict() == approx({"a": 2 / 3, "b": 4 / 3})


def _random_paths(seed: int, n_channels: int = 5, n: int = 400, max_len: int = 6, p_repeat: float = 0.3):
    rng = np.random.default_rng(seed)
    names = [f"ch{i}" for i in range(n_channels)]
    rows = []
    for _ in range(n):
        k = int(rng.integers(1, max_len + 1))
        p = [names[int(rng.integers(n_channels))]]
        for _ in range(k - 1):
            p.append(p[-1] if rng.random() < p_repeat else names[int(rng.integers(n_channels))])
        conv = int(rng.poisson(1.0))
        rows.append((" > ".join(p), conv, round(float(rng.gamma(2, 30)) * conv, 2), int(rng.poisson(2.0))))
    return pd.DataFrame(rows, columns=["path", "total_conversions", "total_conversion_value", "total_null"])


def test_markov_properties_on_random_paths():
    df = _random_paths(1)
    d = path_data(df)
    rate = d.conv.sum() / (d.conv + d.null).sum()
    for order in (1, 2, 3):
        m = MarkovAttribution(order=order).fit(df)
        assert m.conversion_probability_ == pytest.approx(rate, rel=1e-12)
        assert m.credits_.conversions.sum() == pytest.approx(d.conv.sum(), rel=1e-12)
        assert m.credits_.value.sum() == pytest.approx(d.value.sum(), rel=1e-12)
        assert (m.credits_.removal_effect.between(0, 1)).all()
    # order 1: a self-loop does not change where walks end
    keep = MarkovAttribution(1).fit(df).credits_
    coll = MarkovAttribution(1, repeats="collapse").fit(df).credits_
    np.testing.assert_allclose(keep.removal_effect, coll.removal_effect, rtol=0, atol=1e-12)
    # collapse = fitting on paths with the repeats removed by hand
    collapsed = df.assign(path=[" > ".join(k for k, _ in itertools.groupby(p.split(" > "))) for p in df.path])
    a = MarkovAttribution(2, repeats="collapse").fit(df).credits_
    b = MarkovAttribution(2).fit(collapsed).credits_
    np.testing.assert_allclose(a.conversions, b.conversions, rtol=0, atol=1e-9)
    assert not np.allclose(a.conversions, MarkovAttribution(2).fit(df).credits_.conversions)
    with pytest.raises(CRMError, match="order"):
        MarkovAttribution(order=4).fit(df)


def _shapley_brute(players, v) -> dict:
    n = len(players)
    phi = {}
    for i in players:
        others = [p for p in players if p != i]
        tot = 0.0
        for k in range(n):
            w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for S in itertools.combinations(others, k):
                tot += w * (v(frozenset(S) | {i}) - v(frozenset(S)))
        phi[i] = tot
    return phi


def _sets(df):
    out = {}
    for r in df.itertuples():
        T = frozenset(r.path.split(" > ")) if r.path else frozenset()
        n, c, v = out.get(T, (0.0, 0.0, 0.0))
        out[T] = (n + r.total_conversions + r.total_null, c + r.total_conversions, v + r.total_conversion_value)
    return out


def test_shapley_conversions_game_equals_definition():
    df = _random_paths(2)
    sets = _sets(df)
    players = sorted({c for T in sets for c in T})
    phi = _shapley_brute(players, lambda S: sum(c for T, (_, c, _) in sets.items() if T and T <= S))
    got = ShapleyAttribution(game="conversions").fit(df).credits_.set_index("channel").conversions
    assert got.to_dict() == approx(phi)


def _incremental_brute(df, min_journeys=1):
    sets = _sets(df)
    players = sorted({c for T in sets for c in T})

    def r(U):
        n, c, _ = sets.get(U, (0, 0, 0))
        if n > 0 and n >= min_journeys:
            return c / n
        pool = [(nn, cc) for T, (nn, cc, _) in sets.items() if T <= U]
        ns = sum(p[0] for p in pool)
        return sum(p[1] for p in pool) / ns if ns else 0.0

    def v(S):
        return sum(n * r(T & S) for T, (n, _, _) in sets.items() if T)

    return _shapley_brute(players, v), v(frozenset()), v(frozenset(players))


def test_shapley_incremental_two_channels_by_hand():
    df = pd.DataFrame({"path": ["", "a", "b", "a > b"], "total_conversions": [1, 3, 2, 5],
                       "total_conversion_value": [0.0, 0.0, 0.0, 0.0], "total_null": [9, 7, 8, 5]})
    # rates: ∅ .1, {a} .3, {b} .2, {a,b} .5; v(∅) = 30 × .1 = 3, v(a) = 3 + 1 + 3 = 7,
    # v(b) = 1 + 2 + 2 = 5, v(ab) = 10 → φ_a = ((7-3) + (10-5))/2 = 4.5, φ_b = ((5-3) + (10-7))/2 = 2.5
    m = ShapleyAttribution().fit(df)
    c = m.credits_.set_index("channel")
    assert c.incremental_conversions.to_dict() == approx({"a": 4.5, "b": 2.5})
    assert m.baseline_conversions_ == pytest.approx(3.0) and m.baseline_rate_ == pytest.approx(0.1)
    assert c.conversions.to_dict() == approx({"a": 10 * 4.5 / 7, "b": 10 * 2.5 / 7})


@pytest.mark.parametrize("drop_sets,min_journeys", [(False, 1), (True, 1), (False, 100)])
def test_shapley_incremental_exact_equals_definition(drop_sets, min_journeys):
    df = _random_paths(4, n_channels=4, n=600, max_len=4)
    df = pd.concat([df, pd.DataFrame([("", 3, 50.0, 40)], columns=df.columns)], ignore_index=True)
    if drop_sets:  # leave some channel sets unobserved: their rate is the pooled subset rate
        df = df[~df.path.str.contains("ch0") | ~df.path.str.contains("ch3")]
    phi, v0, vall = _incremental_brute(df, min_journeys)
    m = ShapleyAttribution(min_journeys=min_journeys).fit(df)
    c = m.credits_.set_index("channel")
    assert c.incremental_conversions.to_dict() == approx(phi)
    assert m.baseline_conversions_ == pytest.approx(v0, abs=1e-9)
    assert c.incremental_conversions.sum() == pytest.approx(vall - v0, abs=1e-9)
    assert (c.conversions >= 0).all()
    assert c.conversions.sum() == pytest.approx(path_data(df).totals()["touched_conversions"], rel=1e-12)


def test_shapley_permutation_sampling_approximates_exact():
    df = _random_paths(5, n_channels=7, n=800, max_len=5)
    exact = ShapleyAttribution().fit(df)
    approx_ = ShapleyAttribution(max_exact_channels=3, n_permutations=3000, seed=1).fit(df)
    assert exact.exact_ and not approx_.exact_
    e = exact.credits_.incremental_conversions.to_numpy()
    a = approx_.credits_.incremental_conversions.to_numpy()
    se = approx_.permutation_se_
    assert (np.abs(a - e) < 4 * se + 1e-9).all()
    assert a.sum() == pytest.approx(e.sum(), rel=1e-12)  # every order sums to v(all) - v(∅)
    again = ShapleyAttribution(max_exact_channels=3, n_permutations=3000, seed=1).fit(df)
    pd.testing.assert_frame_equal(approx_.credits_, again.credits_, check_exact=True)


def test_journey_table_and_path_table_give_the_same_credits():
    df = _random_paths(6)
    rows = []
    for r in df.itertuples():
        rows += [(r.path, 1, r.total_conversion_value / max(r.total_conversions, 1))] * r.total_conversions
        rows += [(r.path, 0, 0.0)] * r.total_null
    j = pd.DataFrame(rows, columns=["path", "converted", "conversion_value"])
    for model in (FirstTouch(), LastTouch(), Linear(), PositionBased(), MarkovAttribution(2),
                  ShapleyAttribution("conversions"), ShapleyAttribution()):
        a = model.fit(df).credits_
        b = model.fit(j).credits_
        np.testing.assert_allclose(a.conversions, b.conversions, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-9, atol=1e-6)


def test_bootstrap_reproduces_binomial_standard_error():
    # one channel, 1000 journeys, 300 converting: credited conversions ~ Binomial(1000, 0.3)
    df = pd.DataFrame({"path": ["a"], "total_conversions": [300], "total_conversion_value": [3000.0],
                       "total_null": [700]})
    b = bootstrap(Linear(), df, n_boot=2000, seed=0)
    sd = math.sqrt(1000 * 0.3 * 0.7)  # 14.49
    assert b.conversions_se.item() == pytest.approx(sd, rel=0.05)
    assert b.value_se.item() == pytest.approx(10 * sd, rel=0.05)
    assert b.conversions_low.item() < 300 < b.conversions_high.item()
    assert b.conversions_high.item() - b.conversions_low.item() == pytest.approx(2 * 1.96 * sd, rel=0.1)


def test_bootstrap_is_seeded_and_covers_every_model():
    df = _random_paths(7)
    for model in (Linear(), MarkovAttribution(1), ShapleyAttribution()):
        a = bootstrap_replicates(model, df, n_boot=30, seed=5)
        b = bootstrap_replicates(model, df, n_boot=30, seed=5)
        assert np.array_equal(a["conversions_boot"], b["conversions_boot"])
        assert not np.array_equal(a["conversions_boot"],
                                  bootstrap_replicates(model, df, n_boot=30, seed=6)["conversions_boot"])
        # every replicate attributes all of its own conversions
        assert np.all(a["conversions_boot"] >= 0)
    with pytest.raises(CRMError, match="whole-number"):
        bootstrap(Linear(), df.assign(total_null=df.total_null + 0.5))


def test_compare_models_and_rank_agreement():
    df = _random_paths(8)
    cmp = compare_models(df, n_boot=20, seed=0)
    total = path_data(df).totals()["touched_conversions"]
    sums = cmp.groupby("model", sort=False)["conversions"].sum()
    assert list(sums.index) == ["first_touch", "last_touch", "linear", "position_based", "markov_1", "markov_2",
                                "shapley_conversions", "shapley_incremental"]  # no times: no time decay
    assert np.allclose(sums, total, rtol=1e-12)
    assert (cmp.conversions_low <= cmp.conversions_high).all()
    truth = cmp[cmp.model == "linear"].set_index("channel").conversions.to_dict()
    ra = rank_agreement(cmp, truth).set_index("model")
    assert ra.loc["linear", "exact"] and ra.loc["linear", "spearman"] == pytest.approx(1.0)
    assert ra.loc["linear", "top_matches"] == 5


def test_fits_are_bit_for_bit_reproducible():
    df = _random_paths(9)
    for model in (MarkovAttribution(3), ShapleyAttribution(), Linear()):
        a = model.fit(df).summary()
        b = model.fit(df.sample(frac=1.0, random_state=1).reset_index(drop=True)).summary()
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
        pd.testing.assert_frame_equal(a, model.fit(df).summary(), check_exact=True)


def test_shapley_conversions_game_beyond_64_channels():
    names = [f"c{i:02d}" for i in range(70)]
    df = pd.DataFrame({"path": [" > ".join(names[:3] + names[:1]), names[69], " > ".join(names[60:70]),
                                " > ".join(names)],
                       "total_conversions": [3, 1, 2, 0], "total_conversion_value": [30.0, 5.0, 20.0, 0.0],
                       "total_null": [1, 1, 1, 4]})
    c = ShapleyAttribution(game="conversions").fit(df).credits_.set_index("channel")
    # c00 c01 c02 c00: 3 conversions over 3 distinct channels; c69 alone; c60..c69: 2 over 10
    assert len(c) == 70 and c.conversions["c30"] == 0
    assert c.conversions["c00"] == pytest.approx(1.0) and c.conversions["c61"] == pytest.approx(0.2)
    assert c.conversions["c69"] == pytest.approx(1.2) and c.value["c69"] == pytest.approx(5 + 2.0)
    with pytest.raises(CRMError, match="at most 64 channels"):
        ShapleyAttribution().fit(df)


def test_shapley_incremental_value_follows_the_credited_conversions():
    # b lowers the conversion rate ({a} .30, {a,b} .25) but its journeys buy more (value per
    # journey {a} 30, {a,b} 50): incremental_conversions of b < 0 < incremental_value of b.
    # A channel credited with no conversion must be credited with no value (the demo's display
    # row once showed 0 conversions beside a value of 17,509).
    df = pd.DataFrame({"path": ["", "a", "a > b", "b"], "total_conversions": [10, 30, 25, 8],
                       "total_conversion_value": [1000.0, 3000.0, 5000.0, 800.0], "total_null": [90, 70, 75, 92]})
    m = ShapleyAttribution().fit(df)
    c = m.credits_.set_index("channel")
    assert c.incremental_conversions["b"] < 0 < c.incremental_value["b"]
    assert c.conversions["b"] == 0 and c.share["b"] == 0
    assert c.value["b"] == 0
    touched = path_data(df).totals()
    assert c.value.sum() == pytest.approx(touched["touched_value"]) and c.value["a"] == pytest.approx(8800.0)
    assert c.conversions.sum() == pytest.approx(touched["touched_conversions"])


def test_shapley_value_is_zero_exactly_where_conversions_are():
    for seed in range(6):
        df = _random_paths(20 + seed, n_channels=5, n=400, max_len=4)
        df = pd.concat([df, pd.DataFrame([("", 40, 900.0, 60)], columns=df.columns)], ignore_index=True)
        c = ShapleyAttribution().fit(df).credits_
        assert ((c.conversions > 0) == (c.value > 0)).all()
        assert (c.value >= 0).all()
        ne = df.path != ""
        assert c.value.sum() == pytest.approx(df.loc[ne, "total_conversion_value"].sum(), rel=1e-9)
