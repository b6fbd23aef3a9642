"""RFM: recency, frequency and monetary value per customer, their 1..n scores and named segments.

Written once on the engine layer: a pandas DataFrame in gives a pandas DataFrame out (run on an
in-process DuckDB); an Ibis table in gives a lazy Ibis table out on the same backend.

Scores
------
Each measure is scored 1..``n_bins`` (5 = best: most recent, most orders, most spend) by the
share of customers that are strictly worse::

    score = 1 + floor(n_bins * (number of customers strictly worse) / (number of customers))

computed in exact integer arithmetic from the SQL ``RANK`` (the lowest rank of a tie group).
Equal values therefore always share a score, whatever the row order, and without ties the
bins hold equal numbers of customers (quantile scores). With many ties a score can be skipped
(when half the customers have exactly one order, they all get F = 1 and two orders get F = 3).

Segments
--------
Named segments come from a rule table, first match wins (see
``crm_research/resources/rfm_segments.yaml`` and :func:`rfm_rules`): champions, loyal,
potential loyalists, new, promising, need attention, about to sleep, can't lose, at risk,
hibernating, lost. Pass ``rules=`` to override.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import yaml

from crm_research.engine import engine_function, exact_mean, exact_sum
from crm_research.errors import ParameterError
from crm_research.exprs import (
    as_utc_timestamp,
    completed_orders,
    days_between,
    require_columns,
    ts_literal,
)

__all__ = ["RFMRules", "rfm_rules", "rfm", "segment_summary", "rfm_grid", "rule_ranges", "DEFAULT_RULES_FILE"]

DEFAULT_RULES_FILE = "rfm_segments.yaml"
_SCORE_KEYS = ("r", "f", "m")


@dataclass(frozen=True)
class RFMRules:
    """A validated RFM rule table.

    Attributes
    ----------
    n_bins : int
        Number of score levels (scores run 1..n_bins).
    default : str
        Segment of a customer that no rule matches.
    segments : tuple of dict
        Rules in priority order: ``name``, optional inclusive ranges ``r``, ``f``, ``m``
        (``[lo, hi]``), optional ``action``.

    Examples
    --------
    >>> rfm_rules().table()[["segment", "r_min", "r_max", "f_min", "f_max"]].head(2).values.tolist()
    [['champions', 5, 5, 4, 5], ['loyal', 3, 4, 4, 5]]
    """

    n_bins: int
    default: str
    segments: tuple[dict, ...]

    def table(self) -> pd.DataFrame:
        """The rules as a DataFrame (one row per rule, priority order; NaN = any score)."""
        rows = []
        for i, rule in enumerate(self.segments):
            row: dict[str, Any] = {"priority": i + 1, "segment": rule["name"]}
            for key in _SCORE_KEYS:
                lo, hi = rule.get(key, (None, None))
                row[f"{key}_min"], row[f"{key}_max"] = lo, hi
            row["action"] = rule.get("action", "")
            rows.append(row)
        out = pd.DataFrame(rows)
        for key in _SCORE_KEYS:
            for end in ("min", "max"):
                out[f"{key}_{end}"] = out[f"{key}_{end}"].astype("Int64")
        return out

    def actions(self) -> dict[str, str]:
        """Segment name -> suggested action."""
        return {r["name"]: r.get("action", "") for r in self.segments}

    def order(self) -> list[str]:
        """Segment names in rule order, then the default."""
        names = [r["name"] for r in self.segments]
        return names + ([self.default] if self.default not in names else [])


def _read_yaml(source: str | os.PathLike) -> Any:
    path = Path(source)
    if not path.exists():
        raise ParameterError(f"RFM rules file {path} does not exist: pass an existing YAML file or a list of rules")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"RFM rules file {path} is not valid YAML: {exc}") from exc


def rfm_rules(rules: str | os.PathLike | Sequence[Mapping] | Mapping | RFMRules | None = None,
              n_bins: int | None = None) -> RFMRules:
    """Load and validate an RFM rule table.

    Parameters
    ----------
    rules : path, list of mappings, mapping, RFMRules or None
        ``None``: the packaged default (``resources/rfm_segments.yaml``). A path: a YAML file of
        the same shape (``n_bins``, ``default``, ``segments``). A list: the ``segments`` rules
        (``{"name": ..., "r": [lo, hi], "f": [lo, hi], "m": [lo, hi], "action": ...}``, ranges
        optional and inclusive). A mapping: the whole document.
    n_bins : int, optional
        Number of score levels; overrides the file's ``n_bins`` (default 5).

    Returns
    -------
    RFMRules

    Raises
    ------
    ParameterError
        A rule without a name, with an unknown key, or with a range outside 1..n_bins.

    Examples
    --------
    >>> rules = rfm_rules()
    >>> rules.n_bins, rules.order()[:3], rules.default
    (5, ['champions', 'loyal', 'potential loyalists'], 'other')
    """
    if isinstance(rules, RFMRules):
        doc: Any = {"n_bins": rules.n_bins, "default": rules.default, "segments": list(rules.segments)}
    elif rules is None:
        text = resources.files("crm_research").joinpath("resources", DEFAULT_RULES_FILE).read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    elif isinstance(rules, (str, os.PathLike)):
        doc = _read_yaml(rules)
    elif isinstance(rules, Mapping):
        doc = dict(rules)
    else:
        doc = {"segments": list(rules)}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("segments"), list) or not doc["segments"]:
        raise ParameterError("RFM rules need a non-empty list 'segments' of rules ({name, r, f, m, action})")
    unknown_top = set(doc) - {"n_bins", "default", "segments"}
    if unknown_top:
        raise ParameterError(f"RFM rules: unknown top-level key(s) {sorted(unknown_top)}; "
                             "allowed: n_bins, default, segments")
    bins = int(n_bins if n_bins is not None else doc.get("n_bins", 5))
    if bins < 2:
        raise ParameterError(f"RFM n_bins must be at least 2, got {bins}")
    default = str(doc.get("default", "other"))
    out = []
    for i, raw in enumerate(doc["segments"]):
        where = f"RFM rule #{i + 1}"
        if not isinstance(raw, Mapping) or not raw.get("name"):
            raise ParameterError(f"{where} has no 'name': every rule needs a segment name")
        unknown = set(raw) - {"name", "action", *_SCORE_KEYS}
        if unknown:
            raise ParameterError(f"{where} ({raw['name']!r}) has unknown key(s) {sorted(unknown)}; "
                                 "allowed: name, r, f, m, action")
        rule: dict[str, Any] = {"name": str(raw["name"])}
        for key in _SCORE_KEYS:
            if key not in raw or raw[key] is None:
                continue
            rng = raw[key]
            if isinstance(rng, int):
                rng = [rng, rng]
            ok = (isinstance(rng, (list, tuple)) and len(rng) == 2
                  and all(isinstance(v, int) and not isinstance(v, bool) for v in rng)
                  and 1 <= rng[0] <= rng[1] <= bins)
            if not ok:
                raise ParameterError(f"{where} ({raw['name']!r}): {key} must be [lo, hi] with "
                                     f"1 <= lo <= hi <= {bins}, got {raw[key]!r}")
            rule[key] = (int(rng[0]), int(rng[1]))
        if raw.get("action") is not None:
            rule["action"] = str(raw["action"])
        out.append(rule)
    return RFMRules(bins, default, tuple(out))


def _score(value: ir.Value, n: ir.Value, n_bins: int, higher_is_better: bool) -> ir.IntegerValue:
    """1 + floor(n_bins * rank0 / n), rank0 = customers strictly worse (SQL RANK, 0-based)."""
    key = value if higher_is_better else value.desc()
    rank0 = ibis.rank().over(ibis.window(order_by=key))
    return (rank0 * n_bins) // n + 1


@engine_function("orders")
def rfm(
    orders,
    as_of,
    *,
    rules=None,
    n_bins: int | None = None,
    lookback_days: float | None = None,
    customer_col: str = "customer_id",
    date_col: str = "ordered_at",
    value_col: str = "amount",
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
):
    """Recency, frequency, monetary value, their scores and a named segment per customer.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log, one row per order.
    as_of : date-like
        Analysis instant (UTC): only orders strictly before it count; recency is measured to it.
    rules : path, list, mapping or RFMRules, optional
        Segment rule table (see :func:`rfm_rules`); default the packaged table.
    n_bins : int, optional
        Score levels (default: the rule table's, 5).
    lookback_days : float, optional
        Only orders in the last ``lookback_days`` days before ``as_of`` count (days). Default:
        the whole history.
    customer_col, date_col : str
        Column names of the customer id and the order timestamp.
    value_col : str or None
        Column of the order value (currency). ``None`` (orders without amounts, e.g. derived
        from purchase events): recency and frequency only, without ``monetary`` and
        ``m_score``; rules that use the monetary score are then refused.
    status_col : str or None
        Status column; only statuses in ``statuses`` count. ``None``: every row counts.
    statuses : tuple of str
        Statuses that count as a purchase.

    Returns
    -------
    DataFrame or ibis.Table
        One row per customer with a counted order, sorted by ``customer_id``:
        ``customer_id``, ``first_order_at``, ``last_order_at`` (UTC), ``recency_days`` (days
        from the last order to ``as_of``, float), ``frequency`` (orders), ``monetary``
        (currency, sum of ``value_col``), ``r_score``, ``f_score``, ``m_score`` (1..n_bins,
        higher is better; ties share a score, see the module notes), ``rfm_cell`` (e.g.
        ``"545"``; ``"54"`` without ``value_col``) and ``segment``.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 3, 4], "amount": [30.0, 45.0, 60.0, 20.0, 50.0, 55.0, 10.0],
    ...     "ordered_at": pd.to_datetime(["2025-06-03", "2025-11-20", "2025-12-20", "2025-11-02", "2025-10-10",
    ...                                   "2025-12-11", "2024-12-24"], utc=True)})
    >>> r = rfm(orders, "2026-01-01")
    >>> r[["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "segment"]].values.tolist()
    [[1, 12.0, 3, 135.0, 4, 4, 'loyal'], [2, 60.0, 1, 20.0, 2, 1, 'hibernating'], [3, 21.0, 2, 105.0, 3, 3, 'need attention'], [4, 373.0, 1, 10.0, 1, 1, 'lost']]
    """
    rs = rfm_rules(rules, n_bins)
    require_columns(orders, "orders", [customer_col, date_col, value_col])
    if value_col is None:
        uses_m = [r["name"] for r in rs.segments if "m" in r]
        if uses_m:
            raise ParameterError(f"RFM rules {uses_m} use the monetary score, but the orders have no amounts: "
                                 "use rules on recency and frequency only")
    since = None
    if lookback_days is not None:
        if lookback_days <= 0:
            raise ParameterError(f"lookback_days must be positive, got {lookback_days}")
        since = as_utc_timestamp(as_of) - pd.Timedelta(days=float(lookback_days))
    t = completed_orders(orders, as_of, date_col=date_col, status_col=status_col, statuses=statuses, since=since)
    keys = _SCORE_KEYS if value_col is not None else _SCORE_KEYS[:2]
    money = {"monetary": exact_sum(t[value_col])} if value_col is not None else {}
    g = t.group_by(customer_id=t[customer_col]).aggregate(
        frequency=t.count(),
        **money,
        first_order_at=t[date_col].min(),
        last_order_at=t[date_col].max(),
    )
    g = g.mutate(recency_days=days_between(ts_literal(as_of), g.last_order_at), frequency=g.frequency.cast("int64"))
    n = g.customer_id.count().over(ibis.window())
    scores = {
        "r_score": _score(g.recency_days, n, rs.n_bins, higher_is_better=False).cast("int64"),
        "f_score": _score(g.frequency, n, rs.n_bins, higher_is_better=True).cast("int64"),
    }
    if value_col is not None:
        scores["m_score"] = _score(g.monetary, n, rs.n_bins, higher_is_better=True).cast("int64")
    g = g.mutate(**scores)
    branches = []
    for rule in rs.segments:
        cond = ibis.literal(True)
        for key in keys:
            if key in rule:
                lo, hi = rule[key]
                col = g[f"{key}_score"]
                cond = cond & (col >= lo) & (col <= hi)
        branches.append((cond, rule["name"]))
    segment = ibis.cases(*branches, else_=rs.default)
    cell = g.r_score.cast("string").concat(*[g[f"{k}_score"].cast("string") for k in keys[1:]])
    out = g.mutate(rfm_cell=cell, segment=segment.cast("string"))
    return out.select(
        "customer_id", "first_order_at", "last_order_at", "recency_days", "frequency", *money,
        *[f"{k}_score" for k in keys], "rfm_cell", "segment",
    ).order_by("customer_id")


@engine_function("rfm_table")
def segment_summary(rfm_table, rules=None):
    """Size and value of each RFM segment.

    Parameters
    ----------
    rfm_table : DataFrame or ibis.Table
        Output of :func:`rfm`.
    rules : optional
        The rule table used (for the ``action`` column); default the packaged table.

    Returns
    -------
    DataFrame or ibis.Table
        One row per segment present: ``segment``, ``customers``, ``customer_share`` (0..1),
        ``revenue`` (currency), ``revenue_share`` (0..1), ``mean_recency_days`` (days),
        ``mean_frequency`` (orders), ``mean_monetary`` (currency), ``action``; sorted by
        revenue (descending) then segment. Without ``monetary`` in ``rfm_table`` (RFM on
        recency and frequency only) the three money columns are left out and the rows are
        sorted by customers (descending) then segment.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 3, 4], "amount": [30.0, 45.0, 60.0, 20.0, 50.0, 55.0, 10.0],
    ...     "ordered_at": pd.to_datetime(["2025-06-03", "2025-11-20", "2025-12-20", "2025-11-02", "2025-10-10",
    ...                                   "2025-12-11", "2024-12-24"], utc=True)})
    >>> s = segment_summary(rfm(orders, "2026-01-01"))
    >>> s[["segment", "customers", "revenue"]].values.tolist()  # by revenue, largest first
    [['loyal', 1, 135.0], ['need attention', 1, 105.0], ['hibernating', 1, 20.0], ['lost', 1, 10.0]]
    """
    rs = rfm_rules(rules)
    t = rfm_table
    require_columns(t, "rfm", ["segment", "recency_days", "frequency"],
                    hint="pass the output of segments.rfm")
    has_money = "monetary" in t.columns
    money = {"revenue": exact_sum(t.monetary), "mean_monetary": exact_mean(t.monetary)} if has_money else {}
    g = t.group_by("segment").aggregate(
        customers=t.count(),
        mean_recency_days=exact_mean(t.recency_days),
        mean_frequency=exact_mean(t.frequency),
        **money,
    )
    whole = ibis.window()
    g = g.mutate(customer_share=g.customers.cast("float64") / g.customers.sum().over(whole))
    if has_money:
        g = g.mutate(revenue_share=g.revenue / exact_sum(g.revenue).over(whole))
    acts = rs.actions()
    acts.setdefault(rs.default, "")
    action = ibis.cases(*[(g.segment == k, v) for k, v in acts.items()], else_="")
    g = g.mutate(action=action)
    if not has_money:
        return g.select("segment", "customers", "customer_share", "mean_recency_days", "mean_frequency", "action"
                        ).order_by([ibis.desc("customers"), "segment"])
    return g.select("segment", "customers", "customer_share", "revenue", "revenue_share",
                    "mean_recency_days", "mean_frequency", "mean_monetary", "action"
                    ).order_by([ibis.desc("revenue"), "segment"])


@engine_function("rfm_table")
def rfm_grid(rfm_table):
    """Customers and revenue per (recency score, frequency score) cell: the RFM grid.

    Returns
    -------
    DataFrame or ibis.Table
        ``r_score``, ``f_score``, ``customers``, ``revenue`` (currency), ``mean_monetary``
        (currency per customer); only cells with customers; sorted by r_score, f_score.
        Without ``monetary`` in ``rfm_table``: ``customers`` only.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 3, 4], "amount": [30.0, 45.0, 60.0, 20.0, 50.0, 55.0, 10.0],
    ...     "ordered_at": pd.to_datetime(["2025-06-03", "2025-11-20", "2025-12-20", "2025-11-02", "2025-10-10",
    ...                                   "2025-12-11", "2024-12-24"], utc=True)})
    >>> g = rfm_grid(rfm(orders, "2026-01-01"))
    >>> g[["r_score", "f_score", "customers"]].values.tolist(), g["revenue"].tolist()
    ([[1, 1, 1], [2, 1, 1], [3, 3, 1], [4, 4, 1]], [10.0, 20.0, 105.0, 135.0])
    """
    t = rfm_table
    require_columns(t, "rfm", ["r_score", "f_score"], hint="pass the output of segments.rfm")
    money = ({"revenue": exact_sum(t.monetary), "mean_monetary": exact_mean(t.monetary)}
             if "monetary" in t.columns else {})
    g = t.group_by(["r_score", "f_score"]).aggregate(customers=t.count(), **money)
    return g.order_by(["r_score", "f_score"])


def rule_ranges(table: pd.DataFrame, segment_label=None) -> pd.DataFrame:
    """An RFM rule table in words, for a client: one row per rule, score ranges as text.

    Parameters
    ----------
    table : DataFrame
        :meth:`RFMRules.table` (``segment``, ``r_min`` … ``m_max``, ``action``).
    segment_label : callable, optional
        Segment name → readable name (default: the name with a capital first letter).

    Returns
    -------
    DataFrame
        ``segment``, ``recency_score``, ``frequency_score`` and, when any rule uses it,
        ``spend_score`` ("5", "3 to 4", "any"), ``action``; in rule order.

    Examples
    --------
    >>> rule_ranges(rfm_rules().table())[["segment", "recency_score", "frequency_score"]].head(2).values.tolist()
    [['Champions', '5', '4 to 5'], ['Loyal', '3 to 4', '4 to 5']]
    """
    def span(lo, hi) -> str:
        lo = None if pd.isna(lo) else int(lo)
        hi = None if pd.isna(hi) else int(hi)
        if lo is None and hi is None:
            return "any"
        if lo is None:
            return f"up to {hi}"
        if hi is None:
            return f"{lo} or more"
        return str(lo) if lo == hi else f"{lo} to {hi}"

    name = segment_label or (lambda s: str(s)[:1].upper() + str(s)[1:])
    out = pd.DataFrame({"segment": [name(s) for s in table["segment"]]})
    for key, col in (("r", "recency_score"), ("f", "frequency_score"), ("m", "spend_score")):
        if key == "m" and table[["m_min", "m_max"]].isna().all().all():
            continue
        out[col] = [span(lo, hi) for lo, hi in zip(table[f"{key}_min"], table[f"{key}_max"], strict=True)]
    out["action"] = table["action"].fillna("").astype(str).to_numpy()
    return out
