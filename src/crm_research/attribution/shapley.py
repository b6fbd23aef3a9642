"""Shapley-value attribution over channel sets: two characteristic functions, exact or sampled.

A journey is reduced to the *set* of channels it touched (order and repeats are ignored). Two
games are offered; both give credits that are never negative and sum to the conversions (and
value) of the journeys with touches.

``game="conversions"`` -- the simplified Shapley value of Zhao, Mahboobi & Bagheri (2018)
    ``v(S)`` = conversions of the converting journeys whose channel set is a subset of ``S``.
    This game is a sum of unanimity games (one per channel set ``T``, worth its conversions
    ``C_T``), so its Shapley value is exactly ``phi_c = sum over T containing c of C_T / |T|``:
    each converting journey's conversion is split equally over its *distinct* channels. The
    formula is exact at any number of channels (no approximation is ever needed);
    ``tests/test_attribution_models.py`` checks it against the definition summed over all
    subsets. It ignores non-converting journeys, so like the rule-based models it credits
    channels for being present, not for raising the conversion rate.

``game="incremental"`` (default) -- the counterfactual conversion-rate game
    ``r(U)`` = conversion rate of the journeys whose channel set is exactly ``U`` (used when at
    least ``min_journeys`` journeys have that set; otherwise the pooled rate of the journeys
    whose set is a subset of ``U``, 0 when there are none). ``v(S) = sum_T N_T r(T ∩ S)``: the
    conversions expected if every journey had kept only its channels in ``S``. ``v(∅)`` is the
    *baseline* (every touched journey converting at the rate of journeys without touches, known
    when the journey table includes them: ``paths(..., customers=...)``; else 0). The Shapley
    values ``incremental_conversions`` sum to ``v(all) - v(∅)`` and may be negative for a channel
    that lowers the rate. ``conversions`` shares the touched conversions in proportion to the
    positive incremental values (the baseline is distributed like the increments; if no channel
    has a positive value the split of the ``"conversions"`` game is used). ``incremental_value``
    is the same game with value per journey instead of the rate. ``value`` follows
    ``conversions``: each channel's credited conversions times the value per conversion of the
    converting journeys it is in (the ``"conversions"`` game's value over its conversions; the
    overall average where it has none), scaled to the touched value. So a channel credited with
    no conversion is credited with no value, even when ``incremental_value`` is positive (its
    journeys convert less often but buy more); sharing the value by the positive
    ``incremental_value`` instead gave such a channel value beside zero conversions.

    *Exact* for at most ``max_exact_channels`` channels (default 15): with the Möbius transform
    ``a`` of ``r`` over all ``2**n`` subsets, ``v = sum_W a(W) N_sup(W) u_W`` (``N_sup(W)`` =
    touched journeys whose set contains ``W``, ``u_W`` the unanimity game of ``W``), hence
    ``phi_c = sum over W containing c of a(W) N_sup(W) / |W|`` -- O(n 2**n), milliseconds for 15
    channels. *Approximate* beyond: Monte-Carlo over ``n_permutations`` random channel orders
    drawn with ``seed`` (Castro, Gómez & Tejada 2009), each order adding every channel's marginal
    contribution ``v(S ∪ c) - v(S)``. Each order's contributions sum to ``v(all) - v(∅)``
    exactly, so efficiency holds without error; a channel's value has a sampling standard error
    of about ``sd / sqrt(n_permutations)`` (``permutation_se_``). Supports up to 64 channels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from crm_research.attribution.base import AttributionModel, touched_totals
from crm_research.attribution.pathdata import PathData
from crm_research.errors import CRMError

__all__ = ["ShapleyAttribution"]


class ShapleyAttribution(AttributionModel):
    """Shapley-value attribution over channel sets (see the module docstring for the games).

    Parameters
    ----------
    game : {"incremental", "conversions"}
        Characteristic function.
    max_exact_channels : int
        Exact computation up to this many channels (at most 20); permutation sampling beyond
        (``"incremental"`` only: the ``"conversions"`` game is always exact).
    n_permutations : int
        Random channel orders of the approximation.
    seed : int
        Seed of the approximation.
    min_journeys : int
        Journeys a channel set needs for its own conversion rate (``"incremental"``).

    Fitted attributes
    -----------------
    credits_ : DataFrame
        ``channel``, ``conversions``, ``value``, ``share``; for ``"incremental"`` also
        ``incremental_conversions`` and ``incremental_value`` (raw Shapley values).
    baseline_conversions_, baseline_value_ : float
        ``v(∅)``: conversions (count) and value (currency) expected without any channel.
    baseline_rate_ : float
        Conversion rate of the journeys without touches (0 if none were given).
    exact_ : bool
        Whether the values are exact.
    permutation_se_ : ndarray or None
        Standard error of each ``incremental_conversions`` from the sampling (None when exact).

    Examples
    --------
    The journeys without touches (path ``""``) give the baseline: 15 of 200 converted.

    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> m = ShapleyAttribution(game="incremental").fit(t)
    >>> m.baseline_rate_
    0.075
    >>> m.credits_[["channel", "incremental_conversions", "conversions"]].round(2)
       channel  incremental_conversions  conversions
    0  display                     -2.5         0.00
    1    email                     10.0        12.63
    2   search                     37.5        47.37
    """

    def __init__(self, game: str = "incremental", max_exact_channels: int = 15, n_permutations: int = 1000,
                 seed: int = 0, min_journeys: int = 1):
        self.game = game
        self.max_exact_channels = max_exact_channels
        self.n_permutations = n_permutations
        self.seed = seed
        self.min_journeys = min_journeys

    @property
    def name(self) -> str:
        """``shapley_<game>``."""
        return f"shapley_{self.game}"

    def _check(self, C: int) -> None:
        if self.game not in ("incremental", "conversions"):
            raise CRMError(f"ShapleyAttribution game={self.game!r}: use 'incremental' or 'conversions'")
        if not 1 <= int(self.max_exact_channels) <= 20:
            raise CRMError(f"max_exact_channels={self.max_exact_channels!r} must be between 1 and 20 "
                           "(2**n subsets are enumerated)")
        if self.game == "incremental" and C > 64:
            raise CRMError(f"the incremental Shapley game supports at most 64 channels, the paths have {C}: "
                           "group rare channels (e.g. into 'other') first")
        if self.game == "incremental" and C > self.max_exact_channels and int(self.n_permutations) < 1:
            raise CRMError(f"n_permutations={self.n_permutations!r} must be >= 1")

    def _prepare(self, data: PathData) -> dict:
        C = len(data.channels)
        self._check(C)
        prep = {"data": data, "C": C}
        if C > 64:  # "conversions" game only: distinct channels per journey from the sparse matrix
            R = sparse.csr_matrix((np.ones(len(data.tokens)), (data.row_of_token, data.tokens)),
                                  shape=(data.n_rows, C))
            R.sum_duplicates()
            n_distinct = np.diff(R.indptr)
            R.data = 1.0 / np.repeat(n_distinct, n_distinct).astype(float)
            prep["R"] = R
            return prep
        ne = data.nonempty
        masks = np.zeros(data.n_rows, dtype=np.uint64)
        if ne.any():
            bits = np.left_shift(np.uint64(1), data.tokens.astype(np.uint64))
            masks[ne] = np.bitwise_or.reduceat(bits, data.offsets[:-1][ne])
        set_id, uniq = pd.factorize(masks, sort=True)
        uniq = np.asarray(uniq, dtype=np.uint64)
        # the "conversions" game: each journey's conversion split over its distinct channels
        size = _popcount(uniq)
        rows, cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]  # no channel: no credit
        for c in range(C):
            has = np.flatnonzero((uniq >> np.uint64(c)) & np.uint64(1))
            rows.append(has)
            cols.append(np.full(len(has), c))
        r, c = np.concatenate(rows), np.concatenate(cols)
        per_set = sparse.csr_matrix((1.0 / size[r], (r, c)), shape=(len(uniq), C))
        prep.update(uniq=uniq, set_id=np.asarray(set_id, dtype=np.int64), per_set=per_set)
        return prep

    def _attribute(self, prep: dict, conv, null, value) -> dict:
        if "R" in prep:
            return {"conversions": prep["R"].T @ conv, "value": prep["R"].T @ value}
        C, uniq, set_id = prep["C"], prep["uniq"], prep["set_id"]
        S = len(uniq)
        N = np.bincount(set_id, weights=conv + null, minlength=S)
        Cc = np.bincount(set_id, weights=conv, minlength=S)
        V = np.bincount(set_id, weights=value, minlength=S)
        zhao_c, zhao_v = prep["per_set"].T @ Cc, prep["per_set"].T @ V
        if self.game == "conversions":
            return {"conversions": zhao_c, "value": zhao_v}
        if C <= self.max_exact_channels:
            phi_c, phi_v, base_c, base_v, r0 = _exact_incremental(uniq, N, Cc, V, C, self.min_journeys)
            se = None
        else:
            phi_c, phi_v, base_c, base_v, r0, se = _sampled_incremental(
                uniq, N, Cc, V, C, self.min_journeys, int(self.n_permutations), self.seed)
        tot_c, tot_v = touched_totals(prep["data"], conv, value)
        credited = _share(phi_c, tot_c, zhao_c)
        return {
            "conversions": credited,
            "value": _value_of(credited, zhao_c, zhao_v, tot_c, tot_v),
            "incremental_conversions": phi_c,
            "incremental_value": phi_v,
            "_baseline": (base_c, base_v, r0),
            "_se": se,
        }

    def _finish(self, data, prep, out) -> None:
        if self.game == "conversions":
            self.baseline_conversions_ = self.baseline_value_ = self.baseline_rate_ = 0.0
            self.exact_, self.permutation_se_ = True, None
            return
        self.baseline_conversions_, self.baseline_value_, self.baseline_rate_ = map(float, out["_baseline"])
        self.exact_ = out["_se"] is None
        self.permutation_se_ = out["_se"]


def _share(phi: np.ndarray, total: float, fallback: np.ndarray) -> np.ndarray:
    pos = np.maximum(phi, 0.0)
    s = pos.sum()
    if s > 0:
        return total * pos / s
    return np.asarray(fallback, dtype=float)


def _value_of(credited: np.ndarray, zhao_c: np.ndarray, zhao_v: np.ndarray, tot_c: float,
              tot_v: float) -> np.ndarray:
    """Value credited with ``credited`` conversions (count per channel), scaled to ``tot_v`` (currency).

    Each channel's conversions are valued at the value per conversion of the converting journeys
    it is in (``zhao_v / zhao_c``, the ``"conversions"`` game; ``tot_v / tot_c`` where it has
    none), then scaled so the channels share exactly ``tot_v``: no conversions, no value.
    """
    credited = np.asarray(credited, dtype=float)
    overall = tot_v / tot_c if tot_c > 0 else 0.0
    per = np.divide(zhao_v, zhao_c, out=np.full(len(credited), overall), where=np.asarray(zhao_c) > 0)
    w = credited * per
    s = w.sum()
    if s > 0:
        return tot_v * w / s
    return np.zeros(len(credited)) if tot_v == 0 else np.asarray(zhao_v, dtype=float)


def _zeta_sub(f: np.ndarray, n: int) -> np.ndarray:
    """``g[S] = sum over T ⊆ S of f[T]`` for arrays indexed by bit masks of ``n`` bits."""
    f = f.copy()
    for i in range(n):
        g = f.reshape(-1, 2, 1 << i)
        g[:, 1, :] += g[:, 0, :]
    return f


def _mobius_sub(f: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`_zeta_sub`."""
    f = f.copy()
    for i in range(n):
        g = f.reshape(-1, 2, 1 << i)
        g[:, 1, :] -= g[:, 0, :]
    return f


def _zeta_sup(f: np.ndarray, n: int) -> np.ndarray:
    """``g[S] = sum over T ⊇ S of f[T]``."""
    f = f.copy()
    for i in range(n):
        g = f.reshape(-1, 2, 1 << i)
        g[:, 0, :] += g[:, 1, :]
    return f


def _popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    out = np.zeros(len(x), dtype=np.int64)
    while x.any():
        out += (x & np.uint64(1)).astype(np.int64)
        x = x >> np.uint64(1)
    return out


def _exact_incremental(uniq, N, Cc, V, C, min_journeys):
    size = 1 << C
    idx = uniq.astype(np.int64)
    Nf, Cf, Vf = np.zeros(size), np.zeros(size), np.zeros(size)
    Nf[idx], Cf[idx], Vf[idx] = N, Cc, V
    Nz, Cz, Vz = _zeta_sub(Nf, C), _zeta_sub(Cf, C), _zeta_sub(Vf, C)
    own = (Nf > 0) & (Nf >= min_journeys)
    r = np.where(own, np.divide(Cf, Nf, out=np.zeros(size), where=Nf > 0),
                 np.divide(Cz, Nz, out=np.zeros(size), where=Nz > 0))
    rv = np.where(own, np.divide(Vf, Nf, out=np.zeros(size), where=Nf > 0),
                  np.divide(Vz, Nz, out=np.zeros(size), where=Nz > 0))
    touched = Nf.copy()
    touched[0] = 0.0
    nsup = _zeta_sup(touched, C)
    b = _mobius_sub(r, C) * nsup
    bv = _mobius_sub(rv, C) * nsup
    b[0] = bv[0] = 0.0
    all_masks = np.arange(size, dtype=np.int64)
    pc = np.maximum(_popcount(all_masks), 1)
    phi_c, phi_v = np.zeros(C), np.zeros(C)
    for c in range(C):
        has = ((all_masks >> c) & 1).astype(bool)
        phi_c[c] = (b[has] / pc[has]).sum()
        phi_v[c] = (bv[has] / pc[has]).sum()
    return phi_c, phi_v, nsup[0] * r[0], nsup[0] * rv[0], r[0]


def _sampled_incremental(uniq, N, Cc, V, C, min_journeys, n_perm, seed):
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_perm, C)), axis=1, kind="stable")
    own = (N > 0) & (N >= min_journeys)

    def rates(U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.minimum(np.searchsorted(uniq, U), len(uniq) - 1)
        found = (uniq[i] == U) & own[i]
        r = np.zeros(len(U))
        rv = np.zeros(len(U))
        r[found] = Cc[i[found]] / N[i[found]]
        rv[found] = V[i[found]] / N[i[found]]
        miss = np.flatnonzero(~found)
        step = max(1, 2_000_000 // max(len(uniq), 1))
        for lo in range(0, len(miss), step):
            m = miss[lo:lo + step]
            sub = (uniq[None, :] & ~U[m][:, None]) == 0  # observed sets inside U
            ns = sub @ N
            r[m] = np.divide(sub @ Cc, ns, out=np.zeros(len(m)), where=ns > 0)
            rv[m] = np.divide(sub @ V, ns, out=np.zeros(len(m)), where=ns > 0)
        return r, rv

    touched = uniq != 0
    tm, tn = uniq[touched], N[touched]
    r0, rv0 = rates(np.zeros(1, dtype=np.uint64))
    base_c, base_v = tn.sum() * r0[0], tn.sum() * rv0[0]
    contrib_c = np.zeros((n_perm, C))
    contrib_v = np.zeros((n_perm, C))
    block = max(1, 2_000_000 // max(len(tm), 1))
    for lo in range(0, n_perm, block):
        P = perms[lo:lo + block]
        cur = np.zeros(len(P), dtype=np.uint64)
        prev_c = np.full(len(P), base_c)
        prev_v = np.full(len(P), base_v)
        rows = np.arange(len(P))
        for j in range(C):
            ch = P[:, j]
            cur = cur | np.left_shift(np.uint64(1), ch.astype(np.uint64))
            U = tm[None, :] & cur[:, None]
            u, inv = np.unique(U, return_inverse=True)
            ru, rvu = rates(u)
            inv = inv.reshape(U.shape)
            val_c = (ru[inv] * tn).sum(axis=1)
            val_v = (rvu[inv] * tn).sum(axis=1)
            contrib_c[lo + rows, ch] = val_c - prev_c
            contrib_v[lo + rows, ch] = val_v - prev_v
            prev_c, prev_v = val_c, val_v
    phi_c = contrib_c.mean(axis=0)
    phi_v = contrib_v.mean(axis=0)
    se = contrib_c.std(axis=0, ddof=1) / np.sqrt(n_perm) if n_perm > 1 else np.full(C, np.nan)
    return phi_c, phi_v, base_c, base_v, r0[0], se
