"""The fast routes of Markov order 1 give the bits of the general ones.

Reading: the fast path reading (split on one byte of the separator) gives what Arrow's
split_pattern gives.

``pathdata._split_chunk_bytes`` must return exactly the channels and touches of the general
reading (``_split_chunk``: Arrow ``split_pattern`` + ``dictionary_encode``), or None when it
cannot prove that (then the general reading runs and raises its errors). Checked on hand-made
traps (separator bytes inside names, names starting or ending with a separator's spaces,
overlapping and trailing separators, multi-byte separators) and on random paths read in small
blocks, so that blocks meet new names, empty journeys and renumbering.

Chain: ``MarkovAttribution(order=1)`` with its direct int32 transition keys and the sparse
weighting gives the same credits, chain and bootstrap replicates, bit for bit, as the general
route of orders 2-3 (``markov._ORDER_1_KEYS = False``), on random paths with repeats, loops,
journeys without touches and fractional counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crm_research.attribution import MarkovAttribution, bootstrap_replicates
from crm_research.attribution import markov as markov_module
from crm_research.attribution import pathdata as P
from crm_research.errors import CRMError


def _general(rows, sep):
    arr = pa.array(rows, type=pa.string())
    return P._sorted_part(*P._split_chunk(arr, sep, pd.RangeIndex(len(rows)), 0, "paths", "path"))


def _fast(rows, sep, block_rows=1 << 16):
    return P._split_chunk_bytes(pa.array(rows, type=pa.string()), sep, block_rows=block_rows)


def _same(a, b):
    return (a[0].tolist() == b[0].tolist() and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
            and a[1].dtype == np.int32)


@pytest.mark.parametrize("rows,sep,fast", [
    (["a > b", "b > c > a", "c", ""], " > ", True),
    (["Paid Search > e mail", "e mail"], " > ", True),  # spaces inside names
    (["x  > y", "y > x "], " > ", True),  # names ending with a space: 'x ' and 'x '
    (["a>b > c", "c"], " > ", False),  # '>' inside a name
    ([" x > y", "y"], " > ", False),  # a first name starting with the space after '>'
    (["y > x", " x"], " > ", False),  # a single name starting with it
    (["a>b>c", "b", ""], ">", True),
    (["ü-ñ → ↑", "↑ → ü-ñ → ü-ñ"], " → ", True),  # multi-byte separator and names
    (["a -> b", "b -> a"], " -> ", True),
    (["a,b", "b,a,a"], ",", True),
    (["b > c", "a >", "c"], " > ", False),  # a row ending with '>' (the name 'a >')
    (["a", "b"], " > ", False),  # no separator: the general reading checks for another one
    (["a -- b"], "--", False),  # no byte occurs once in the separator
])
def test_fast_split_equals_general_split(rows, sep, fast):
    got = _fast(rows, sep)
    assert (got is not None) == fast
    if "a >" in rows:
        names, offsets, tokens = P.split_paths(pd.Series(rows), sep=sep)
        assert names[tokens].tolist() == ["b", "c", "a >", "c"]
    if fast:
        assert _same(got, _general(rows, sep))
        assert [list(got[0][got[1][a:b]]) for a, b in zip(np.r_[0, np.cumsum(got[2])[:-1]], np.cumsum(got[2]),
                                                          strict=True)] == [r.split(sep) if r else [] for r in rows]


@pytest.mark.parametrize("rows,message", [
    (["a > ", "b > c"], "empty channel name.*rows \\[0\\]"),
    (["b > c", "a >  > b"], "empty channel name.*rows \\[1\\]"),
    ([" > a", "b > c"], "empty channel name.*rows \\[0\\]"),
    (["a>", "b"], "pass '>' as the channel separator"),
])
def test_malformed_paths_take_the_general_reading_and_its_errors(rows, message):
    assert _fast(rows, " > ") is None
    with pytest.raises(CRMError, match=message):
        P.split_paths(pd.Series(rows, dtype=object))


def test_overlapping_separator_reads_like_split_pattern():
    # 'a > > b': Arrow splits at the first ' > ' and keeps '> b' as a name; the fast path declines
    rows = ["a > > b > c"]
    assert _fast(rows, " > ") is None
    names, offsets, tokens = P.split_paths(pd.Series(rows))
    assert names[tokens].tolist() == ["a", "> b", "c"]


def test_fast_split_in_small_blocks_equals_python_split():
    rng = np.random.default_rng(5)
    names = ["b", "a", "email", "paid_search", "paid_social", "tv", "x" * 30, "ü-ñ", "Paid Search"]
    rows = []
    for i in range(5000):
        pool = names[:3] if i < 40 else names  # new names after the first blocks: renumbering
        rows.append(" > ".join(rng.choice(pool, rng.integers(0, 8))))
    for block_rows in (7, 64, 1 << 16):
        got = _fast(rows, " > ", block_rows=block_rows)
        assert got is not None and _same(got, _general(rows, " > "))
    channels, offsets, tokens = P.split_paths(pd.Series(rows))
    assert [list(channels[tokens[a:b]]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)] == \
        [r.split(" > ") if r else [] for r in rows]
    assert channels.tolist() == sorted(names)


def test_sliced_and_chunked_arrow_columns():
    rows = ["a > b", "c", "b > a > c", "", "c > c"] * 20
    series = pd.Series(rows, dtype="string[pyarrow]").iloc[3:]
    want = [r.split(" > ") if r else [] for r in rows[3:]]
    channels, offsets, tokens = P.split_paths(series)
    assert [list(channels[tokens[a:b]]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)] == want
    arr = pa.array(rows, type=pa.string()).slice(3)  # a non-zero Arrow offset
    got = P._split_chunk_bytes(arr, " > ")
    assert _same(got, _general(rows[3:], " > "))


def _random_path_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = np.array(["a", "b", "email", "search", "display", "tv"], dtype=object)
    path = [" > ".join(rng.choice(names, rng.integers(0, 9))) for _ in range(n)]
    conv = rng.poisson(0.4, n) * rng.choice([1.0, 0.5, 0.25], n)  # fractional counts, e.g. de-duplicated
    return pd.DataFrame({"path": path, "total_conversions": conv,
                         "total_conversion_value": np.round(conv * rng.gamma(2.0, 30.0, n), 2),
                         "total_null": rng.poisson(1.5, n).astype(float)})


def test_markov_order_1_direct_keys_equal_the_general_route_bit_for_bit(monkeypatch):
    table = _random_path_table(3000, seed=9)
    fast = MarkovAttribution(1).fit(table)
    monkeypatch.setattr(markov_module, "_ORDER_1_KEYS", False)
    general = MarkovAttribution(1).fit(table)
    assert fast.credits_.equals(general.credits_)
    assert fast.transitions_.equals(general.transitions_)
    assert fast.states_ == general.states_
    assert (fast.conversion_probability_, fast.expected_value_) == \
        (general.conversion_probability_, general.expected_value_)
    # planted structure is recovered: 'tv' and the rest are symmetric in the generator, so every
    # channel gets a removal effect strictly between 0 and 1 and the credits sum to the touched
    # conversions
    c = fast.credits_
    assert ((c.removal_effect > 0) & (c.removal_effect < 1)).all()
    touched = table.loc[table.path != "", "total_conversions"].sum()
    assert c.conversions.sum() == pytest.approx(touched, rel=1e-12)


def test_markov_order_1_bootstrap_replicates_equal_the_general_route(monkeypatch):
    table = _random_path_table(800, seed=4)
    table["total_conversions"] = np.round(table["total_conversions"] * 4)  # whole counts
    fast = bootstrap_replicates(MarkovAttribution(1), table, n_boot=5, seed=2)
    monkeypatch.setattr(markov_module, "_ORDER_1_KEYS", False)
    general = bootstrap_replicates(MarkovAttribution(1), table, n_boot=5, seed=2)
    assert fast.keys() == general.keys()
    for key in fast:
        assert np.array_equal(fast[key], general[key]), key
    assert np.std(fast["conversions_boot"], axis=0).min() > 0  # the replicates do differ
