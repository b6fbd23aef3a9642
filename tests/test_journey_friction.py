"""Friction: the planted checkout incident is found first; cells, conversion windows, the scan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_research import synthetic
from crm_research.errors import ParameterError
from crm_research.journey import friction, friction_cells, friction_points
from crm_research.journey.friction import _test, _test_many
from crm_research.journey.friction_scan import FrictionScan, dispersion, drop_statistic

STEPS = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]


@pytest.fixture(scope="module")
def company():
    tables, truth, _ = synthetic.generate(10_000, 42)
    return tables["events"], truth


@pytest.fixture(scope="module")
def cells(company):
    return friction_cells(company[0], STEPS, segments=["platform"], period="W", as_of="2026-01-01")


@pytest.fixture(scope="module")
def incidents(cells):
    return friction(None, STEPS, cells=cells)


def test_planted_friction_is_the_top_incident(company, incidents):
    truth = company[1]["friction"]
    top = incidents.iloc[0]
    assert (top["from_step"], top["to_step"]) == (truth["from_step"], truth["to_step"])
    assert (top["segment_col"], top["segment_value"]) == ("platform", truth["segment"]["platform"])
    start, end = pd.Timestamp(truth["start"], tz="UTC"), pd.Timestamp(truth["end"], tz="UTC")
    # weekly periods: the incident lies within the Monday-aligned weeks touching the window
    # (2025-04-28 .. 2025-06-16); it lasts 6.5 weeks, so the longest window (6 weeks) is reported
    assert top["period_start"] >= start - pd.Timedelta(days=start.dayofweek)
    assert top["period_end"] <= end + pd.Timedelta(days=7)
    assert top["n_periods"] == 6
    # ~510 mobile checkouts in the window (SE of a rate ~0.02). Planted 0.85 -> 0.45, but every
    # buyer's first purchase (and A/B conversions) go through regardless, which lifts both rates;
    # a purchase counts within the step's conversion window (95th percentile, ~4.5 minutes), so
    # both rates are ~5% lower than the funnel's (0.86 baseline)
    assert 0.45 <= top["conversion_during"] <= 0.60
    assert 0.80 <= top["conversion_baseline"] <= 0.84
    assert top["z"] < -10 and top["statistic"] > 10
    assert top["p_adjusted"] == pytest.approx(1 / 1000)  # beyond every one of the 999 null maxima
    assert top["lost_conversions"] > 100 and top["people_affected"] > 300
    # the same drop seen on all platforms pooled is flagged as an echo of the mobile incident
    pooled = incidents[(incidents["segment"] == "(all)") & (incidents["to_step"] == "purchase")]
    assert len(pooled) and (pooled["echo_of"] == 1).all()


def test_unaffected_platforms_have_no_checkout_incident(company, incidents):
    truth = company[1]["friction"]
    start, end = pd.Timestamp(truth["start"], tz="UTC"), pd.Timestamp(truth["end"], tz="UTC")
    hit = incidents[(incidents["to_step"] == "purchase") & incidents["segment_value"].isin(["desktop", "app"])
                    & (incidents["period_start"] < end) & (incidents["period_end"] > start)]
    assert hit.empty


def test_cells_add_up(cells, company):
    # every session reaching checkout_start is counted once per segment column, kept or left out
    chk = cells[cells["step_index"] == 5]
    by_seg = chk.groupby("segment_col")[["n", "n_left_out"]].sum()
    assert (by_seg.loc["(all)"] == by_seg.loc["platform"]).all()
    ev = company[0]
    # a checkout_start can only be reached in order within a session: compare with a direct count
    reached = ev[ev["event"] == "checkout_start"]["session_id"].nunique()
    assert by_seg.loc["(all)", "n"] + by_seg.loc["(all)", "n_left_out"] == reached
    # sessions are minutes long: only the checkouts of the data's last minutes are left out
    assert 0 <= by_seg.loc["(all)", "n_left_out"] <= 5


def test_conversion_window_is_the_95th_percentile_by_hand(company, cells):
    # checkout_start -> purchase within a session: the nearest-rank 95th percentile of the times
    ev = company[0]
    s = ev[ev["event"].isin(["checkout_start", "purchase"])].sort_values(["session_id", "occurred_at"], kind="stable")
    first = s.groupby(["session_id", "event"])["occurred_at"].first().unstack()
    d = (first["purchase"] - first["checkout_start"]).dropna()
    d = np.sort(d[d >= pd.Timedelta(0)].dt.total_seconds().to_numpy())
    k = int(np.ceil(0.95 * len(d)))
    want = d[k - 1] / 3600
    got = cells.loc[cells["step_index"] == 5, "window_hours"].unique()
    assert len(got) == 1 and got[0] == pytest.approx(want, abs=1e-9)
    # the generator's gaps are exponential with a 1.5-minute mean: 95th percentile = 4.5 minutes
    assert 4.0 < got[0] * 60 < 5.0


def test_censoring_leaves_out_the_last_days_only():
    # customers reach the cart every day; 80% buy 3 days later. With a 5-day window, the carts
    # of the last 5 days cannot be judged and are left out, instead of looking like a drop
    rows = []
    start = pd.Timestamp("2025-01-06", tz="UTC")
    end = start + pd.Timedelta(days=70)
    rng = np.random.default_rng(3)
    for i in range(700):
        t = start + pd.Timedelta(minutes=144 * i)
        rows.append((f"c{i}", t, "cart"))
        if rng.random() < 0.8 and t + pd.Timedelta(days=3) < end:
            rows.append((f"c{i}", t + pd.Timedelta(days=3), "buy"))
    ev = pd.DataFrame(rows, columns=["customer_id", "occurred_at", "event"])
    kw = dict(path_col="customer_id", segments=None, period="W", as_of=end)
    cells = friction_cells(ev, ["cart", "buy"], step_window="5D", **kw)
    assert cells["window_hours"].eq(120).all()
    assert cells["n_left_out"].sum() == 50  # 5 days x 10 carts a day
    assert cells["n"].sum() == 650
    # the last week keeps its carts of the first two days only, converted like every other week
    last = cells.iloc[-1]
    assert last["n"] == 20 and 0.6 < last["n_converted"] / last["n"] <= 1.0
    assert friction(None, ["cart", "buy"], cells=cells).empty
    # without the window (every conversion counts, nothing left out) the last week is a drop
    naive = friction_cells(ev, ["cart", "buy"], step_window="3650D", **{**kw, "as_of": "2100-01-01"})
    inc = friction(None, ["cart", "buy"], cells=naive)
    assert len(inc) and inc["period_end"].max() > end - pd.Timedelta(days=7)
    # the default window is the data's own 95th percentile: 3 days exactly here
    auto = friction_cells(ev, ["cart", "buy"], **kw)
    assert auto["window_hours"].eq(72).all() and auto["n_left_out"].sum() == 30


def test_two_proportion_test_by_hand():
    # 45/100 vs 850/1000: pooled p = 895/1100, se = sqrt(p(1-p)(1/100 + 1/1000)) = 0.040841
    z, p, kind = _test(45, 100, 850, 1000, 5.0)
    assert kind == "z" and z == pytest.approx(-9.794, abs=1e-3) and p < 1e-20
    # tiny cell -> Fisher's exact test: 0/3 vs 5/10; 5 successes among 13, 3 drawn:
    # P(X <= 0) = C(8, 3) / C(13, 3) = 56 / 286
    z, p, kind = _test(0, 3, 5, 10, 5.0)
    assert kind == "fisher" and p == pytest.approx(56 / 286, abs=1e-12)


def test_vectorised_tests_match_scipy_cell_by_cell():
    # every cell as scipy computes it one at a time: the pooled z-test, or Fisher's exact test
    # ("less") when the smallest expected count is below the threshold; empty rows/columns -> 1
    rng = np.random.default_rng(0)
    n1 = rng.integers(1, 60, 400)
    n0 = rng.integers(1, 400, 400)
    x1 = rng.binomial(n1, 0.7)
    x0 = rng.binomial(n0, 0.8)
    x1[:5], x0[:5] = 0, 0          # a column of zeros
    x1[5:10], x0[5:10] = n1[5:10], n0[5:10]  # every path converted
    z, p, kind = _test_many(x1, n1, x0, n0, 5.0)
    assert {"z", "fisher"} == set(kind)
    for i in range(len(n1)):
        p1, p0, pool = x1[i] / n1[i], x0[i] / n0[i], (x1[i] + x0[i]) / (n1[i] + n0[i])
        se = np.sqrt(pool * (1 - pool) * (1 / n1[i] + 1 / n0[i]))
        zi = (p1 - p0) / se if se > 0 else 0.0
        expected = min(n1[i] * pool, n1[i] * (1 - pool), n0[i] * pool, n0[i] * (1 - pool))
        if expected < 5.0:
            table = [[x1[i], n1[i] - x1[i]], [x0[i], n0[i] - x0[i]]]
            want = (zi, stats.fisher_exact(table, alternative="less")[1], "fisher")
        else:
            want = (zi, stats.norm.cdf(zi), "z")
        assert (z[i], p[i], kind[i]) == want, i


def test_drop_statistic_by_hand():
    # 5/20 in the window against 60/80 outside: the Bernoulli log-likelihood ratio by hand
    def ll(x, n):
        p = x / n
        return x * np.log(p) + (n - x) * np.log(1 - p)
    lam = ll(5, 20) + ll(60, 80) - ll(65, 100)
    assert drop_statistic(5, 20, 60, 80) == pytest.approx(np.sqrt(2 * lam), rel=1e-12)
    assert drop_statistic(15, 20, 60, 80) == 0.0  # not a drop: 0.75 = 0.75
    assert drop_statistic(19, 20, 60, 80) == 0.0  # a rise does not count
    assert drop_statistic(0, 10, 10, 10) == pytest.approx(np.sqrt(2 * (-20 * np.log(0.5))), rel=1e-12)


def test_dispersion_of_a_binomial_series_and_of_a_trend():
    rng = np.random.default_rng(5)
    n = np.full((200, 104), 200.0)
    x = rng.binomial(200, 0.4, n.shape).astype(float)
    phi = dispersion(x, n)
    # binomial noise: the robust dispersion is ~1 (floored at 1)
    assert np.median(phi) < 1.1 and phi.min() == 1.0
    # a steady trend from 0.3 to 0.5 over two years: each week ~3.6 SE off the pooled rate at the ends
    trend = rng.binomial(200, np.linspace(0.3, 0.5, 104)).astype(float)
    assert dispersion(trend[None], n[:1])[0] > 3


def test_no_incident_without_a_change():
    # 104 weeks x 2 platforms x 60 sessions, constant conversion 0.8: nothing
    rng = np.random.default_rng(7)
    rows = []
    start = pd.Timestamp("2024-01-01", tz="UTC")
    for w in range(104):
        for plat in ("web", "app"):
            for i in range(60):
                sid = f"{plat}-{w}-{i}"
                t = start + pd.Timedelta(days=7 * w + i % 7, hours=1)
                rows.append((sid, sid, t, "cart", plat))
                if rng.random() < 0.8:
                    rows.append((sid, sid, t + pd.Timedelta(minutes=1), "buy", plat))
    ev = pd.DataFrame(rows, columns=["session_id", "customer_id", "occurred_at", "event", "platform"])
    assert friction(ev, ["cart", "buy"], as_of=start + pd.Timedelta(weeks=104)).empty
    # the analysis date is required: the data's edge is never guessed from the last event
    with pytest.raises(ParameterError, match="as_of is required"):
        friction(ev, ["cart", "buy"])


def test_the_scan_is_seeded_and_its_threshold_holds_alpha(cells):
    # same cells, parameters and seed -> the same incidents, bit for bit; another seed moves
    # the threshold only within bootstrap noise
    a = FrictionScan(seed=3).fit(cells)
    b = FrictionScan(seed=3).fit(cells)
    pd.testing.assert_frame_equal(a.incidents_, b.incidents_)
    assert a.threshold_ == b.threshold_
    c = FrictionScan(seed=4).fit(cells)
    assert abs(c.threshold_ - a.threshold_) < 0.3
    assert (a.null_max_ > a.threshold_).mean() <= 0.05 < (a.null_max_ >= a.threshold_).mean()
    assert (a.incidents_["statistic"] > a.threshold_).all() and (a.incidents_["p_adjusted"] <= 0.05).all()
    assert a.n_series_ == 16 and a.n_windows_ > 8_000
    assert "incident(s)" in repr(a) and a.summary()["n_incidents"].iloc[0] == len(a.incidents_)


def test_friction_points(company):
    fp = friction_points(company[0], STEPS)
    drops = fp[fp["kind"] == "drop_off"].set_index("from_event")
    # browsing sessions mostly stop at product_view: the largest drop-off (~56% of viewers)
    assert drops.index[0] == "product_view"
    assert 0.5 < drops.loc["product_view", "rate"] < 0.62
    assert list(drops["rank"]) == [1, 2, 3, 4]
    loops = fp[fp["kind"] == "self_loop"].set_index("from_event")
    assert loops.loc["product_view", "n"] > 0  # several views per session


def test_no_incident_keeps_the_dtypes_of_incidents(cells, incidents):
    # regression: an empty result used to hold float64 columns only, so the notebook's
    # `period_end - Timedelta` raised TypeError whenever friction found nothing
    flat = cells.assign(n_converted=(cells["n"] * 0.8).round().astype("int64"))
    none = friction(None, STEPS, cells=flat)
    assert none.empty
    assert list(none.columns) == list(incidents.columns)
    assert none.dtypes.astype(str).to_dict() == incidents.dtypes.astype(str).to_dict()
    last_day = none["period_end"] - pd.Timedelta(days=1)
    assert str(last_day.dtype) == "datetime64[ns, UTC]"


def test_friction_points_of_an_empty_log():
    empty = pd.DataFrame({"session_id": pd.Series([], dtype=object), "customer_id": pd.Series([], dtype=object),
                          "occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"),
                          "event": pd.Series([], dtype=object)})
    fp = friction_points(empty, STEPS)
    # one drop-off row per move, nothing reached: zero counts, no rate
    assert list(fp["kind"]) == ["drop_off"] * 4
    assert fp["n"].tolist() == [0, 0, 0, 0] and fp["base"].tolist() == [0, 0, 0, 0]
    assert fp["rate"].isna().all()


def test_friction_takes_the_scan_settings_as_one_option(cells, incidents):
    # the scan's seven settings travel as one (unfitted) FrictionScan; the caller's stays unfitted
    scan = FrictionScan(max_window=2, seed=0)
    short = friction(None, STEPS, cells=cells, scan=scan)
    assert not hasattr(scan, "incidents_")
    assert short["n_periods"].max() <= 2 < incidents["n_periods"].max()
    assert short.iloc[0]["step"] == incidents.iloc[0]["step"]  # the planted step still leads


def _random_cells(rng, n_series: int, n_periods: int) -> pd.DataFrame:
    """Cells of ``n_series`` series of one step: sizes from a handful of paths to thousands, rates
    from almost none to almost all converted, empty periods, and a pooled series."""
    rows = []
    periods = pd.date_range("2024-01-01", periods=n_periods, freq="W-MON", tz="UTC")
    sizes = rng.choice([1, 3, 12, 80, 900, 6_000], n_series)
    rates = rng.choice([0.002, 0.05, 0.4, 0.9, 0.995, 1.0], n_series)
    for s in range(n_series):
        n = rng.poisson(sizes[s], n_periods) * (rng.random(n_periods) > 0.15)
        x = rng.binomial(n, rates[s])
        if rng.random() < 0.5:  # a planted drop in a few periods
            at = rng.integers(0, n_periods - 3)
            x[at:at + 3] = rng.binomial(n[at:at + 3], rates[s] * 0.6)
        for t in range(n_periods):
            rows.append((2, "a", "b", "platform", f"p{s}", periods[t], int(n[t]), int(x[t])))
    cells = pd.DataFrame(rows, columns=["step_index", "from_step", "to_step", "segment_col", "segment_value",
                                        "period", "n", "n_converted"])
    pooled = cells.groupby("period", as_index=False)[["n", "n_converted"]].sum()
    pooled = pooled.assign(step_index=2, from_step="a", to_step="b", segment_col="(all)", segment_value="(all)")
    return pd.concat([pooled[cells.columns], cells], ignore_index=True)


def test_the_null_computes_few_windows_and_gives_the_full_scans_maxima_bit_for_bit(monkeypatch):
    """The bootstrap maxima skip every window whose Pearson bound cannot beat the draw's largest
    statistic so far; the maxima, threshold and incidents are those of the full scan, bit for
    bit, with and without trend removal and dispersion, on rates near 0 and 1 and tiny series."""
    import crm_research.journey.friction_scan as FS

    full_stats, computed = FS._largest_stats, []

    def every_window(*args, floor=None):
        return full_stats(*args)  # no floor: every scanned window of a drop gets its statistic

    def counting(xw, nw, xo, no):
        computed.append(len(np.atleast_1d(xw)))
        return root(xw, nw, xo, no)

    root = FS._root_llr
    rng = np.random.default_rng(20261204)
    pruned_share = []
    for case in range(12):
        cells = _random_cells(rng, n_series=int(rng.integers(2, 9)), n_periods=int(rng.integers(8, 60)))
        options = dict(seed=case, n_null=99, max_window=int(rng.integers(1, 7)), min_n=int(rng.integers(1, 30)),
                       detrend=bool(case % 2), overdispersion=bool(case % 3 == 0))
        monkeypatch.setattr(FS, "_root_llr", counting)
        computed.clear()
        fast = FrictionScan(**options).fit(cells)
        n_fast = sum(computed)
        monkeypatch.setattr(FS, "_largest_stats", every_window)
        computed.clear()
        full = FrictionScan(**options).fit(cells)
        n_full = sum(computed)
        monkeypatch.setattr(FS, "_largest_stats", full_stats)
        assert fast.null_max_.tobytes() == full.null_max_.tobytes(), (case, options)
        assert fast.threshold_ == full.threshold_
        pd.testing.assert_frame_equal(fast.incidents_, full.incidents_, check_exact=True)
        if n_full > 20_000:
            pruned_share.append(n_fast / n_full)
    assert pruned_share and max(pruned_share) < 0.25, pruned_share


def test_the_bound_holds_with_its_rounding_room_and_needs_it():
    """:func:`_bounds` is at least every window's computed S² (S² / phi) on windows built to
    strain it: fractional (detrended) counts, 1 to 1e8 paths, rates 1e-12 to 1 - 1e-12, equal
    rates on both sides (where X² is rounding noise). On a window of pure rounding noise the
    statistic is 6e-8, not 0: a bound without its room would skip it and change a null maximum."""
    import crm_research.journey.friction_scan as FS

    rng = np.random.default_rng(5)
    k = 200_000
    nw = np.floor(10 ** rng.uniform(0, 8, k)) + rng.choice([0.0, 0.37], k)
    no = np.floor(10 ** rng.uniform(0, 8, k)) + rng.choice([0.0, 0.61], k)
    rate = rng.choice([1e-12, 1e-6, 0.3, 1 - 1e-6, 1 - 1e-12], k) * rng.uniform(0.999, 1.0, k)
    same = rng.random(k) < 0.5  # both sides at one rate: D is rounding noise
    xw = np.minimum(nw * rate * np.where(same, 1.0, rng.uniform(0.2, 1.0, k)), nw)
    total_x = xw + np.minimum(no * rate, no)
    phi = rng.uniform(1.0, 50.0, (1, k))
    xw3 = xw[None, :, None]
    xo3 = total_x[None, :, None] - xw3  # as the scan computes it
    for p in (None, phi):
        bound = FS._bounds(xw3, nw[:, None], no[:, None], total_x[None, :], nw + no, p)[0, :, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = FS._root_llr(xw3, nw[:, None], xo3, no[:, None])[0, :, 0]
        if p is not None:
            s = s / np.sqrt(p[0])
        ok = np.isfinite(s)
        assert ok.sum() > k // 2
        assert (bound[ok] >= s[ok] * s[ok] * (1 - 1e-12)).all()
    # rounding noise alone: the full scan and the pruned one agree on it
    n = np.array([[26.0, 1.0]])
    cx = FS._cumulative(np.array([[[7.703703703703704, 0.29629629629629634]]]))
    full = FS._largest_stats(cx, n, FS._cumulative(n), 1, 1, None)
    assert 0 < full[0] < 1e-6
    assert FS._largest_stats(cx, n, FS._cumulative(n), 1, 1, None, floor=np.array([-np.inf])).tobytes() == full.tobytes()
    # no window at all (a window longer than the history): nothing to compute
    assert (FS._largest_stats(cx, n, FS._cumulative(n), 3, 1, None, floor=np.array([-np.inf])) == -np.inf).all()
