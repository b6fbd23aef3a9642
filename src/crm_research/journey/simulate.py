"""What-if simulation: the journey as an absorbing Markov chain.

Each path (a customer by default) is a walk ``start → s1 → s2 → ... → end`` over *states*:
lifecycle stages (``level="stage"``, the stage map; consecutive events of one stage are one
visit) or event names (``level="event"``). The first-order chain fitted on the paths (maximum
likelihood: transition counts / counts leaving the state) is absorbing: every path ends in
``end``. Its fundamental matrix gives the expected visits to every state per path,
``v = s (I − Q)⁻¹``; with the fitted chain these equal the observed mean visits, so the baseline
reproduces the observed purchases exactly.

A scenario "conversion at step X → Y rises by L for segment S" multiplies the probability of the
move X → Y by ``1 + L`` (capped at 1) in the chain of segment S and scales the other moves
leaving X so the row still sums to 1. The expected visits to the target's state are recomputed;
purchases follow at the observed rate of target events per visit of that state, revenue at the
observed value per target event. The interval is a bootstrap over paths (customers): paths are
resampled with replacement, the chain refitted and the scenario re-run.

Projections are for the same paths over the same observation window: "had conversion been L
higher, these customers would have made this many more purchases".
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from scipy import sparse

from crm_research.engine import (collect, engine_function, exact_sum, first_by, is_lazy, materialize,
                                  materialize_in_blocks)
from crm_research.errors import CRMError, ParameterError
from crm_research.journey import _common as C
from crm_research.journey.stages import _rank_expr, _stage_name_expr, load_stage_map
from crm_research.journey.transitions import END, START

__all__ = ["JourneyChain", "EventColumns", "Bootstrap", "simulate", "path_transition_counts",
           "rank_levers", "per_year"]

LEVELS = ("stage", "event")


@dataclass(frozen=True)
class EventColumns:
    """The event log's column names, as one option of :class:`JourneyChain` and :func:`simulate`.

    Parameters
    ----------
    path_col : str
        Path key: whose walk the chain follows (a customer by default; a session works too).
    time_col : str
        Event timestamp (UTC).
    event_col : str
        Event name.
    row_col : str, optional
        Input order, the tie-break of equal timestamps (pandas input: its row order).

    Examples
    --------
    >>> EventColumns(path_col="session_id")
    EventColumns(path_col='session_id', time_col='occurred_at', event_col='event', row_col=None)
    """

    path_col: str = "customer_id"
    time_col: str = "occurred_at"
    event_col: str = "event"
    row_col: str | None = None


@dataclass(frozen=True)
class Bootstrap:
    """How :func:`simulate` draws the range of its projection: a bootstrap over paths.

    Parameters
    ----------
    n_boot : int
        Replicates (count): paths are resampled with replacement and the chain refitted this
        many times; 0 means no range.
    seed : int
        Seed of the resampling (same seed, same range bit for bit).
    confidence : float
        Level of the percentile range (share, default 0.95).

    Examples
    --------
    >>> Bootstrap(n_boot=0)
    Bootstrap(n_boot=0, seed=0, confidence=0.95)
    """

    n_boot: int = 500
    seed: int = 0
    confidence: float = 0.95


def path_transition_counts(events, *, level: str = "stage", stage_map=None,
                           states: list[str] | None = None, target: str = "purchase",
                           collapse: bool | None = None, segment: dict | None = None,
                           value_col: str | None = None, columns: EventColumns = EventColumns()):
    """Per path and move, how often the path made it (the data a chain is fitted on).

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    level : {"stage", "event"}
        States are lifecycle stages (via ``stage_map``) or event names.
    stage_map : None, path or dict
        Stage map for ``level="stage"`` (events it does not list are dropped).
    states : list of str, optional
        For ``level="event"``: keep only these event names (others are dropped).
    target : str
        Event name counted as a purchase (counted on the raw events, before collapsing).
    collapse : bool, optional
        Merge consecutive events of one state into one visit (default: True for stages, False
        for events).
    segment : dict, optional
        ``{column: value}``: keep the paths whose *first* event has these values (use a
        per-customer attribute, such as a segment merged onto the events).
    value_col : str, optional
        Numeric column on the target events (currency, e.g. the order amount) summed per path.
    columns : EventColumns
        The event log's path (default ``customer_id``), time, event-name and input-order columns.

    Returns
    -------
    DataFrame or ibis.Table
        ``path`` (the path key), ``from_state``, ``to_state`` (``(start)`` / ``(end)``
        included), ``n`` (moves), ``n_target`` and ``value`` (per path, repeated on each of its
        rows: target events and their summed ``value_col``, 0 without it). Sorted by path, from,
        to.
    """
    smap, collapse = _level_args(level, stage_map, collapse)
    segment = dict(segment or {})
    path_col, time_col, event_col, row_col = columns.path_col, columns.time_col, columns.event_col, columns.row_col
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col,
            "value_col": value_col, **{f"segment[{k!r}]": k for k in segment}}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    return _path_transition_counts(prepared, level, smap, states, target, collapse, path_col,
                                   segment, value_col, time_col, event_col, rc)


def _level_args(level, stage_map, collapse):
    if level not in LEVELS:
        raise ParameterError(f"level must be 'stage' or 'event', got {level!r}")
    smap = load_stage_map(stage_map) if level == "stage" else None
    if collapse is None:
        collapse = level == "stage"
    return smap, bool(collapse)


@engine_function("events")
def _path_transition_counts(events, level, smap, states, target, collapse, path_col, segment,
                            value_col, time_col, event_col, row_col):
    e = C.base(events, path_col=path_col, time_col=time_col, event_col=event_col,
               row_col=row_col, extra=[*segment, *([value_col] if value_col else [])])
    if segment:
        order = C.order_keys(e)
        first = e.group_by(C.P).aggregate(
            **{f"_jseg{i}": first_by(e, e[k], order, include_null=True)
               for i, k in enumerate(segment)})
        cond = [first[f"_jseg{i}"] == v for i, v in enumerate(segment.values())]
        keep = first.filter(cond).select(C.P)
        e = e.semi_join(keep, C.P)
    is_t = e[C.E] == target
    val = e[value_col].cast("float64").fill_null(0.0) if value_col else ibis.literal(0.0)
    per = e.group_by(C.P).aggregate(n_target=is_t.cast("int64").sum(),
                                    value=exact_sum(is_t.ifelse(val, 0.0)))
    if level == "stage":
        st = _stage_name_expr(_rank_expr(e[C.E], smap), smap)
    else:
        st = e[C.E]
        if states is not None:
            st = e[C.E].isin(list(states)).ifelse(e[C.E], ibis.null("string"))
    s = e.mutate(_jst=st)
    s = s.filter(s._jst.notnull())
    w = C.path_window(s)
    s = s.mutate(_jfirst=s._jst.lag().over(w).isnull(), _jnext=s._jst.lead().over(w))
    # a run's first event starts the path; with collapse its last event carries the move
    starts = s.filter(s._jfirst).select(C.P, from_state=ibis.literal(START), to_state=s._jst)
    if collapse:
        s = s.filter(s._jnext.isnull() | (s._jnext != s._jst))
    moves = s.select(C.P, from_state=s._jst, to_state=s._jnext.fill_null(END))
    m = moves.union(starts)
    g = m.group_by([C.P, "from_state", "to_state"]).aggregate(n=m.count())
    g = g.join(per, C.P)
    return g.select(path=g[C.P], from_state=g.from_state, to_state=g.to_state, n=g.n,
                    n_target=g.n_target, value=g.value).order_by(["path", "from_state", "to_state"])


@dataclass
class _Fitted:
    states: list[str]
    pair_from: np.ndarray
    pair_to: np.ndarray


class JourneyChain:
    """Absorbing Markov chain of customer journeys, for what-if projections.

    Parameters
    ----------
    level : {"stage", "event"}
        States are lifecycle stages or event names.
    stage_map : None, path or dict
        Stage map for ``level="stage"``.
    states : list of str, optional
        For ``level="event"``, the event names kept.
    target : str
        Purchase event (its count is projected).
    collapse : bool, optional
        Consecutive events of one state form one visit (default: stages yes, events no).
    value_col : str, optional
        Currency column on target events (revenue per purchase).
    columns : EventColumns
        The event log's path, time, event and row-order columns (default: ``customer_id``,
        ``occurred_at``, ``event``, input order).

    Attributes
    ----------
    states_ : list of str
        Transient states (``(start)`` first); the absorbing ``(end)`` is implicit.
    counts_ : ndarray, shape (n_states, n_states + 1)
        Transition counts; the last column is ``(end)``.
    P_ : ndarray
        Transition probabilities (rows of ``counts_`` normalised).
    n_paths_ : int
        Paths fitted.
    target_state_ : str
        State the target event belongs to.
    targets_per_visit_ : float
        Observed target events per visit of ``target_state_``.
    value_per_target_ : float
        Observed ``value_col`` per target event (NaN without ``value_col``).
    n_target_ : int
        Observed target events.

    Examples
    --------
    Four customers; 3 of the 4 reach checkout, 2 of those 3 buy:

    >>> t0 = pd.Timestamp("2024-01-01", tz="UTC")
    >>> paths = {"a": ["visit", "checkout", "purchase"], "b": ["visit", "checkout"],
    ...          "c": ["visit", "checkout", "purchase"], "d": ["visit"]}
    >>> events = pd.DataFrame([(c, t0 + pd.Timedelta(minutes=i), e) for c, evs in paths.items()
    ...                        for i, e in enumerate(evs)], columns=["customer_id", "occurred_at", "event"])
    >>> chain = JourneyChain(level="event").fit(events)
    >>> chain
    JourneyChain(level='event')
    >>> chain.expected_visits().round(3).to_dict()
    {'(start)': 1.0, 'checkout': 0.75, 'purchase': 0.5, 'visit': 1.0}
    >>> r = chain.what_if(("checkout", "purchase"), 0.25, bootstrap=Bootstrap(n_boot=0)).iloc[0]
    >>> float(r["p_step"]), float(r["p_step_new"]), float(r["extra_purchases"])
    (0.666..., 0.833..., 0.5)
    """

    def __init__(self, level: str = "stage", stage_map=None, states: list[str] | None = None,
                 target: str = "purchase", collapse: bool | None = None,
                 value_col: str | None = None, columns: EventColumns = EventColumns()):
        self.level = level
        self.stage_map = stage_map
        self.states = states
        self.target = target
        self.collapse = collapse
        self.value_col = value_col
        self.columns = columns

    def __repr__(self) -> str:
        defaults = JourneyChain()
        shown = [f"{k}={getattr(self, k)!r}" for k in ("level", "stage_map", "states", "target", "collapse",
                                                        "value_col", "columns")
                 if k == "level" or getattr(self, k) != getattr(defaults, k)]
        return f"JourneyChain({', '.join(shown)})"

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, events, segment: dict | None = None, counts: pd.DataFrame | None = None):
        """Fit the chain on the paths of ``events`` (optionally of one segment).

        Parameters
        ----------
        events : DataFrame or ibis.Table
            Event log (ignored when ``counts`` is given).
        segment : dict, optional
            ``{column: value}`` of the paths' first event.
        counts : DataFrame, optional
            Precomputed :func:`path_transition_counts` output.
        """
        if counts is None:
            def count(part):
                return path_transition_counts(
                    part, level=self.level, stage_map=self.stage_map, states=self.states,
                    target=self.target, collapse=self.collapse, segment=segment,
                    value_col=self.value_col, columns=self.columns)
            # on the engine, computed per block of paths: the window over each path's events does
            # not spill (1M contacts' 48M events ran out of DuckDB's 1 GB limit in one plan)
            counts = count(events)  # checks the columns first
            if is_lazy(events):
                counts = materialize_in_blocks(count, events, self.columns.path_col)
        arrays = _compact_counts(counts) if is_lazy(counts) else _counts_arrays(collect(counts))
        if arrays[1] == 0:
            raise CRMError("no path to fit the journey chain on: the events (or the segment) are empty")
        self._build(*arrays)
        return self

    def _build(self, pairs: list, n_paths: int, path_idx: np.ndarray, col: np.ndarray, n: np.ndarray,
               n_target: np.ndarray, value: np.ndarray) -> None:
        """Fit from the moves as arrays (:func:`_counts_arrays`): the pairs (from, to) sorted, the
        paths' count, then per (path, pair) row its path's and pair's numbers and the moves, and
        per path (in path order) its target events and value."""
        smap = load_stage_map(self.stage_map) if self.level == "stage" else None
        seen = {a for a, _ in pairs} | {b for _, b in pairs}
        seen -= {START, END}
        if smap is not None:
            order = [s for s in smap if s in seen]
        else:
            order = sorted(seen)
        self.states_ = [START, *order]
        idx = {s: i for i, s in enumerate(self.states_)}
        idx_to = {**idx, END: len(self.states_)}
        self._M = sparse.csr_matrix((n.astype(float), (path_idx, col)), shape=(n_paths, len(pairs)))
        self._n_target = n_target.astype(float)
        self._value = value.astype(float)
        self._fit = _Fitted(self.states_, np.array([idx[a] for a, _ in pairs]),
                            np.array([idx_to[b] for _, b in pairs]))
        self.n_paths_ = n_paths
        if self.level == "stage":
            owner = {e: s for s, evs in smap.items() for e in evs}
            if self.target not in owner:
                raise CRMError(f"target event {self.target!r} is not in the stage map")
            self.target_state_ = owner[self.target]
        else:
            self.target_state_ = self.target
        w = np.ones(self.n_paths_)
        self.counts_, self.P_ = self._matrix(w)
        self.n_target_ = int(self._n_target.sum())
        visits = self.counts_[idx.get(self.target_state_, 0)].sum() if self.target_state_ in idx else 0.0
        self.targets_per_visit_ = self.n_target_ / visits if visits > 0 else 0.0
        self.value_per_target_ = (float(self._value.sum()) / self.n_target_
                                  if self.value_col and self.n_target_ else float("nan"))

    def _matrix(self, w: np.ndarray):
        k = len(self.states_)
        flat = self._M.T @ w
        counts = np.zeros((k, k + 1))
        np.add.at(counts, (self._fit.pair_from, self._fit.pair_to), flat)
        tot = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            P = np.where(tot > 0, counts / tot, 0.0)
        return counts, P

    # -- projections -------------------------------------------------------------------------
    def expected_visits(self, P: np.ndarray | None = None) -> pd.Series:
        """Expected visits per path to each transient state (``(start)`` = 1), from ``P``."""
        P = self.P_ if P is None else P
        k = len(self.states_)
        Q = P[:, :k]
        e0 = np.zeros(k)
        e0[0] = 1.0
        try:
            v = np.linalg.solve((np.eye(k) - Q).T, e0)
        except np.linalg.LinAlgError as exc:
            raise CRMError("the journey chain is not absorbing (some states never reach the end); "
                           "check the events") from exc
        return pd.Series(v, index=self.states_, name="expected_visits")

    def _scenario_P(self, P: np.ndarray, step: tuple[str, str], lift: float) -> tuple[np.ndarray, float, float]:
        a, b = step
        i = self.states_.index(a)
        j = len(self.states_) if b == END else self.states_.index(b)
        row = P[i].copy()
        p_old = row[j]
        p_new = min(p_old * (1.0 + lift), 1.0)
        rest = 1.0 - p_old
        if rest > 0:
            row = row * ((1.0 - p_new) / rest)
        row[j] = p_new
        out = P.copy()
        out[i] = row
        return out, float(p_old), float(p_new)

    def _project(self, w: np.ndarray, step, lift) -> tuple[float, float, float, float, float]:
        counts, P = self._matrix(w)
        t = self.states_.index(self.target_state_) if self.target_state_ in self.states_ else None
        if t is None:
            return 0.0, 0.0, 0.0, 0.0, 0.0
        n = w.sum()
        visits = counts[t].sum()
        tpv = (w @ self._n_target) / visits if visits > 0 else 0.0
        base = self.expected_visits(P).iloc[t] * n * tpv
        P2, p_old, p_new = self._scenario_P(P, step, lift)
        new = self.expected_visits(P2).iloc[t] * n * tpv
        n_t = w @ self._n_target
        vpt = (w @ self._value) / n_t if n_t > 0 else 0.0
        return base, new, vpt, p_old, p_new

    def what_if(self, step: tuple[str, str], lift: float, *, bootstrap: Bootstrap = Bootstrap(),
                value_per_purchase: float | None = None) -> pd.DataFrame:
        """Project the effect of raising the probability of one move.

        Parameters
        ----------
        step : (str, str)
            The move ``(from_state, to_state)``, e.g. ``("checkout_start", "purchase")`` or
            ``("consideration", "purchase")``.
        lift : float
            Relative change of that move's probability (0.10 = +10%; negative lowers it).
        bootstrap : Bootstrap
            Replicates over paths (0: no interval), their seed and the level of the percentile
            interval (default 500, seed 0, 95%).
        value_per_purchase : float, optional
            Currency per purchase; default: the observed value per target event (``value_col``).

        Returns
        -------
        DataFrame
            One row: ``step``, ``lift``, ``n_paths``, ``p_step`` and ``p_step_new``
            (probabilities of the move), ``observed_purchases`` (target events),
            ``baseline_purchases`` (chain; equals the observed), ``projected_purchases``,
            ``extra_purchases``, ``extra_low`` / ``extra_high`` (bootstrap interval),
            ``value_per_purchase`` (currency), ``extra_revenue``, ``extra_revenue_low`` /
            ``extra_revenue_high`` (currency).
        """
        self._check_step(step)
        n_boot, seed, confidence = bootstrap.n_boot, bootstrap.seed, bootstrap.confidence
        if not np.isfinite(lift) or lift <= -1:
            raise ParameterError(f"lift must be a number above -1 (0.10 = +10%), got {lift!r}")
        w = np.ones(self.n_paths_)
        base, new, vpt, p_old, p_new = self._project(w, step, lift)
        vpp = value_per_purchase if value_per_purchase is not None else (vpt if self.value_col else np.nan)
        row = {"step": f"{step[0]} → {step[1]}", "lift": lift, "n_paths": self.n_paths_,
               "p_step": p_old, "p_step_new": p_new, "observed_purchases": self.n_target_,
               "baseline_purchases": base, "projected_purchases": new,
               "extra_purchases": new - base, "extra_low": np.nan, "extra_high": np.nan,
               "value_per_purchase": vpp, "extra_revenue": (new - base) * vpp,
               "extra_revenue_low": np.nan, "extra_revenue_high": np.nan}
        if n_boot:
            rng = np.random.default_rng(seed)
            extra = np.empty(n_boot)
            rev = np.empty(n_boot)
            n = self.n_paths_
            for b in range(n_boot):
                wb = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
                bb, nb, vb, _, _ = self._project(wb, step, lift)
                extra[b] = nb - bb
                rev[b] = (nb - bb) * (value_per_purchase if value_per_purchase is not None else vb)
            a = (1.0 - confidence) / 2.0
            row["extra_low"], row["extra_high"] = np.quantile(extra, [a, 1.0 - a])
            if np.isfinite(vpp):
                row["extra_revenue_low"], row["extra_revenue_high"] = np.quantile(rev, [a, 1.0 - a])
        return pd.DataFrame([row])

    def _check_step(self, step) -> None:
        if not (isinstance(step, (tuple, list)) and len(step) == 2):
            raise ParameterError(f"step must be a pair (from_state, to_state), got {step!r}")
        a, b = step
        if a not in self.states_:
            raise ParameterError(f"unknown from-state {a!r}; the chain's states are {self.states_}")
        if b != END and b not in self.states_:
            raise ParameterError(f"unknown to-state {b!r}; the chain's states are {self.states_ + [END]}")

    def transition_table(self) -> pd.DataFrame:
        """The fitted chain as a long table: ``from_state``, ``to_state``, ``n``, ``probability``."""
        to = [*self.states_, END]
        rows = [(self.states_[i], to[j], self.counts_[i, j], self.P_[i, j])
                for i in range(len(self.states_)) for j in range(len(to)) if self.counts_[i, j] > 0]
        return pd.DataFrame(rows, columns=["from_state", "to_state", "n", "probability"])


def _counts_arrays(counts: pd.DataFrame) -> tuple:
    """:meth:`JourneyChain._build`'s arrays of a :func:`path_transition_counts` DataFrame: pairs
    sorted by (from, to), paths sorted by their text."""
    pair = counts[["from_state", "to_state"]].drop_duplicates().sort_values(["from_state", "to_state"], kind="stable")
    pairs = list(pair.itertuples(index=False, name=None))
    pair_key = {p: i for i, p in enumerate(pairs)}
    paths, path_idx = np.unique(counts["path"].to_numpy().astype(str), return_inverse=True)
    col = np.array([pair_key[(a, b)] for a, b in zip(counts["from_state"], counts["to_state"], strict=True)],
                   dtype=np.int64)
    per = counts.drop_duplicates("path").set_index("path").reindex(paths)
    return (pairs, len(paths), path_idx, col, counts["n"].to_numpy(), per["n_target"].to_numpy(dtype=float),
            per["value"].to_numpy(dtype=float))


def _compact_counts(counts) -> tuple:
    """:func:`_counts_arrays` of an engine table, computed on the engine: only integer codes and
    the per-path numbers come back (a path's text and its moves' names stay there; 300k
    customers: about 70 MB instead of 600 MB of Python strings). The same arrays: paths and
    pairs are numbered in the same sorted order."""
    counts = materialize(counts.select(path=counts["path"].cast("string"), from_state=counts["from_state"],
                                       to_state=counts["to_state"], n=counts["n"], n_target=counts["n_target"],
                                       value=counts["value"]))
    # a grouping, not DISTINCT: on Spark, DISTINCT over an ordered expression kept every row
    pairs = collect(counts.group_by(["from_state", "to_state"]).aggregate(_jn=counts.count())
                    .select("from_state", "to_state").order_by(["from_state", "to_state"]))
    pairs = list(pairs.itertuples(index=False, name=None))
    per = counts.group_by("path").aggregate(n_target=counts["n_target"].max(), value=counts["value"].max())
    per = per.mutate(_jpath=ibis.row_number().over(order_by=per["path"]))
    per_rows = collect(per.select("_jpath", "n_target", "value").order_by("_jpath"))
    codes = ibis.memtable(pd.DataFrame({"from_state": [a for a, _ in pairs], "to_state": [b for _, b in pairs],
                                        "_jpair": np.arange(len(pairs), dtype=np.int64)}))
    keyed = counts.join(per.select("path", "_jpath"), "path").join(codes, ["from_state", "to_state"])
    rows = collect(keyed.select(keyed["_jpath"].cast("int64"), keyed["_jpair"], keyed["n"].cast("int64")))
    return (pairs, len(per_rows), rows["_jpath"].to_numpy(), rows["_jpair"].to_numpy(), rows["n"].to_numpy(),
            per_rows["n_target"].to_numpy(dtype=float), per_rows["value"].to_numpy(dtype=float))


def simulate(events, step: tuple[str, str], lift: float, *, segment: dict | None = None,
             level: str = "stage", stage_map=None, states: list[str] | None = None,
             target: str = "purchase", collapse: bool | None = None, value_col: str | None = None,
             value_per_purchase: float | None = None, bootstrap: Bootstrap = Bootstrap(),
             columns: EventColumns = EventColumns()) -> pd.DataFrame:
    """"If conversion at step X rises by L for segment S": extra purchases and revenue.

    Fits a :class:`JourneyChain` on the paths of ``segment`` and runs
    :meth:`JourneyChain.what_if`.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    step : (str, str)
        The move whose probability changes, e.g. ``("checkout_start", "purchase")``.
    lift : float
        Relative change of that probability (share: 0.10 = +10%).
    segment : dict, optional
        ``{column: value}`` of the paths' first event: the scenario for that group only.
    level, stage_map, states, target, collapse, value_col
        The chain (see :class:`JourneyChain`).
    value_per_purchase : float, optional
        Currency per purchase; default: the observed value per target event (``value_col``).
    bootstrap : Bootstrap
        Replicates, seed and level of the range (default 500 replicates, seed 0, 95%).
    columns : EventColumns
        The event log's column names.

    Returns
    -------
    DataFrame
        One row (see :meth:`JourneyChain.what_if`) with a ``segment`` column first
        (``"col=value"``, or ``"(all)"``).

    Examples
    --------
    Four customers; 3 of the 4 reach checkout, 2 of those 3 buy. A checkout that converts 25%
    better (5/6 instead of 2/3) would have brought half a purchase more:

    >>> t0 = pd.Timestamp("2024-01-01", tz="UTC")
    >>> paths = {"a": ["visit", "checkout", "purchase"], "b": ["visit", "checkout"],
    ...          "c": ["visit", "checkout", "purchase"], "d": ["visit"]}
    >>> events = pd.DataFrame([(c, t0 + pd.Timedelta(minutes=i), e) for c, evs in paths.items()
    ...                        for i, e in enumerate(evs)], columns=["customer_id", "occurred_at", "event"])
    >>> r = simulate(events, ("checkout", "purchase"), 0.25, level="event", value_per_purchase=10.0,
    ...              bootstrap=Bootstrap(n_boot=0)).iloc[0]
    >>> [round(float(r[c]), 3) for c in ("baseline_purchases", "projected_purchases", "extra_purchases", "extra_revenue")]
    [2.0, 2.5, 0.5, 5.0]
    """
    chain = JourneyChain(level=level, stage_map=stage_map, states=states, target=target,
                         collapse=collapse, value_col=value_col, columns=columns)
    chain.fit(events, segment=segment)
    out = chain.what_if(step, lift, bootstrap=bootstrap, value_per_purchase=value_per_purchase)
    label = ", ".join(f"{k}={v}" for k, v in (segment or {}).items()) or "(all)"
    out.insert(0, "segment", label)
    return out


def rank_levers(whatif: pd.DataFrame) -> pd.DataFrame:
    """Rank what-if rows (the same improvement at each step) from the biggest lever down.

    The one ranking a report's headline, findings, actions and text all take their "biggest
    lever" from (its first row), so they cannot name different steps.

    Parameters
    ----------
    whatif : DataFrame
        Rows of :meth:`JourneyChain.what_if` (one per step), e.g. ``journey_whatif``.

    Returns
    -------
    DataFrame
        The rows sorted by ``extra_revenue`` (currency) when every row has one, else by
        ``extra_purchases`` (purchases), largest first; ties keep the input order. Adds
        ``rank`` (1 = biggest lever) and ``ranked_by`` (the column ranked on). The index is
        reset.

    Examples
    --------
    >>> rows = pd.DataFrame({"step": ["a → b", "b → c"], "extra_purchases": [3.0, 5.0],
    ...                      "extra_revenue": [90.0, 60.0]})
    >>> rank_levers(rows)[["step", "rank", "ranked_by"]]
        step  rank      ranked_by
    0  a → b     1  extra_revenue
    1  b → c     2  extra_revenue
    """
    if whatif.empty:
        return whatif.assign(rank=pd.Series(dtype="int64"), ranked_by=pd.Series(dtype="object"))
    by = "extra_revenue" if ("extra_revenue" in whatif.columns
                             and np.isfinite(whatif["extra_revenue"].to_numpy(dtype=float)).all()) \
        else "extra_purchases"
    key = whatif[by].astype(float).fillna(-np.inf)
    order = np.argsort(-key.to_numpy(), kind="stable")
    out = whatif.iloc[order].reset_index(drop=True)
    return out.assign(rank=np.arange(1, len(out) + 1), ranked_by=by)


def per_year(total: float, start, end) -> float:
    """A total over the window ``[start, end)`` as an amount per year (365.25 days).

    Parameters
    ----------
    total : float
        Amount over the whole window (purchases, currency).
    start, end : date-like
        Window start (the first event) and end (the analysis date, exclusive).

    Returns
    -------
    float
        ``total`` per year; NaN when the window is shorter than one day or a bound is missing.

    Examples
    --------
    >>> round(per_year(100.0, "2024-01-01", "2026-01-01"), 2)
    49.97
    """
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return float("nan")
    days = (pd.Timestamp(end) - pd.Timestamp(start)) / pd.Timedelta(days=1)
    if not np.isfinite(days) or days < 1:
        return float("nan")
    return float(total) * 365.25 / days
