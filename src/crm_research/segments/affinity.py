"""Cross-sell and upsell from order lines: affinities, next-best offers, price tiers.

* :func:`affinities` — association rules between categories (or products) bought in the same
  order: support, confidence and lift, with a minimum support;
* :func:`next_best_offers` — per customer, the categories (or products) most often bought
  with what the customer bought, excluding what the customer already bought;
* :func:`product_tiers` — each product's price tier within its category, from unit-price
  quantiles (works on any client's data; product ids are never parsed);
* :func:`upsell_offers` — per customer and category bought, a product of the next price tier;
* :func:`suggestion_list` — both in one table per customer (the client's suggestion list).

Everything runs on the engine layer (pandas in → pandas out, Ibis in → lazy out). Baskets are
orders: an order line counts when its order is a counted purchase (status in ``statuses``,
before ``as_of``) if ``orders`` is given, otherwise every line counts.

Definitions (for items A, B; N = baskets):
``support(A→B) = n(A and B) / N``; ``confidence(A→B) = n(A and B) / n(A)``;
``lift(A→B) = confidence(A→B) / (n(B) / N)`` (symmetric in A and B; > 1 means bought together
more often than by chance).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from crm_research.engine import engine_function, exact_mean, materialize
from crm_research.errors import ParameterError
from crm_research.exprs import completed_orders, require_columns

__all__ = ["affinities", "next_best_offers", "product_tiers", "upsell_offers", "suggestion_list", "counted_lines"]

_LEVELS = ("category", "product_id")


def counted_lines(order_items: ir.Table, orders: ir.Table | None, as_of, *, status_col: str | None = "status",
                  statuses: tuple[str, ...] = ("completed",), with_customer: bool = False) -> ir.Table:
    """Order lines of counted orders (Ibis in, Ibis out), optionally with the buyer's ``customer_id``."""
    require_columns(order_items, "order_items", ["order_id", "product_id", "category"])
    if orders is None:
        if with_customer or as_of is not None:
            raise ParameterError("orders are needed to attach customers or to apply as_of to order lines")
        return order_items
    require_columns(orders, "orders", ["order_id", "customer_id", "ordered_at"])
    o = completed_orders(orders, as_of, date_col="ordered_at", status_col=status_col, statuses=statuses)
    o = o.select("order_id", "customer_id") if with_customer else o.select("order_id")
    return order_items.inner_join(o, "order_id")


def _check_level(level: str) -> str:
    if level not in _LEVELS:
        raise ParameterError(f"level must be one of {list(_LEVELS)}, got {level!r}")
    return level


@engine_function("order_items", "orders")
def affinities(order_items, orders=None, as_of=None, *, level: str = "category", min_support: float = 0.005,
               min_confidence: float = 0.0, status_col: str | None = "status",
               statuses: tuple[str, ...] = ("completed",)):
    """Association rules A → B between items bought in the same order.

    Parameters
    ----------
    order_items : DataFrame or ibis.Table
        Order lines (``order_id``, ``product_id``, ``category``).
    orders : DataFrame or ibis.Table, optional
        Orders; when given only lines of counted orders before ``as_of`` count.
    as_of : date-like, optional
        Analysis instant (UTC); needs ``orders``.
    level : {"category", "product_id"}
        Items of the rules.
    min_support : float
        Minimum share of orders (0..1) holding both A and B.
    min_confidence : float
        Minimum confidence (0..1).
    status_col, statuses
        Status column of ``orders`` and the statuses that count.

    Returns
    -------
    DataFrame or ibis.Table
        One row per directed rule: ``antecedent``, ``consequent``, ``n_both`` (orders),
        ``n_antecedent``, ``n_consequent`` (orders), ``n_orders`` (all orders), ``support``,
        ``confidence`` (0..1), ``lift`` (ratio), sorted by lift (descending), confidence
        (descending), antecedent, consequent.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> pairs = affinities(tables["order_items"], tables["orders"], "2026-01-01")
    >>> pairs[["antecedent", "consequent", "n_both"]].head(2).values.tolist(), round(float(pairs["lift"].iloc[0]), 2)
    ([['electronics', 'accessories', 83], ['accessories', 'electronics', 83]], 2.12)
    """
    _check_level(level)
    if not 0 <= min_support <= 1 or not 0 <= min_confidence <= 1:
        raise ParameterError("min_support and min_confidence are shares between 0 and 1")
    lines = counted_lines(order_items, orders, as_of, status_col=status_col, statuses=statuses)
    baskets = lines.select("order_id", item=lines[level].cast("string")).distinct()
    total = baskets.aggregate(n_orders=baskets.order_id.nunique())
    counts = baskets.group_by("item").aggregate(n_item=baskets.count())
    a = baskets.rename(antecedent="item")
    b = baskets.rename(consequent="item", order_b="order_id")
    pairs = a.inner_join(b, [a.order_id == b.order_b, a.antecedent != b.consequent])
    pairs = pairs.group_by(["antecedent", "consequent"]).aggregate(n_both=pairs.count())
    ca = counts.rename(antecedent="item", n_antecedent="n_item")
    cb = counts.rename(consequent="item", n_consequent="n_item")
    r = pairs.inner_join(ca, "antecedent").inner_join(cb, "consequent").cross_join(total)
    nf = r.n_orders.cast("float64")
    r = r.mutate(
        support=r.n_both.cast("float64") / nf,
        confidence=r.n_both.cast("float64") / r.n_antecedent.cast("float64"),
    )
    r = r.mutate(lift=r.confidence / (r.n_consequent.cast("float64") / nf))
    r = r.filter((r.support >= min_support) & (r.confidence >= min_confidence))
    return r.select("antecedent", "consequent", "n_both", "n_antecedent", "n_consequent", "n_orders",
                    "support", "confidence", "lift").order_by(
        [ibis.desc("lift"), ibis.desc("confidence"), "antecedent", "consequent"])


@engine_function("order_items", "orders", "rules")
def next_best_offers(order_items, orders, as_of, rules=None, *, level: str = "category", n_offers: int = 3,
                     min_lift: float = 1.0, min_support: float = 0.005, status_col: str | None = "status",
                     statuses: tuple[str, ...] = ("completed",)):
    """Per customer, the items most often bought with what they bought, excluding what they bought.

    The score of a candidate B for a customer is the highest ``confidence(A → B)`` over the
    items A the customer bought, among rules with ``lift > min_lift``; the rule giving it is
    reported as ``because``. Candidates the customer already bought (before ``as_of``) are
    excluded. Ties: higher lift, then the item name.

    Parameters
    ----------
    order_items, orders : DataFrame or ibis.Table
        Order lines and orders (for the buyer and the date of each line).
    as_of : date-like
        Analysis instant (UTC).
    rules : DataFrame or ibis.Table, optional
        Output of :func:`affinities` at the same ``level``; computed with ``min_support``
        when not given.
    level : {"category", "product_id"}
        Items offered.
    n_offers : int
        Offers per customer (at most).
    min_lift : float
        Only rules with lift strictly above this (ratio) are used.

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``rank`` (1 = best), ``offer``, ``because`` (the bought item of the
        rule), ``confidence`` (0..1), ``lift``; sorted by customer_id, rank. Customers
        without any qualifying rule get no rows.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> items, orders = tables["order_items"], tables["orders"]
    >>> offers = next_best_offers(items, orders, "2026-01-01", affinities(items, orders, "2026-01-01"))
    >>> len(offers), offers.columns.tolist()
    (143, ['customer_id', 'rank', 'offer', 'because', 'confidence', 'lift'])
    """
    _check_level(level)
    if n_offers < 1:
        raise ParameterError(f"n_offers must be at least 1, got {n_offers}")
    if rules is None:
        rules = affinities.__wrapped_engine__(order_items, orders, as_of, level=level, min_support=min_support,
                                              status_col=status_col, statuses=statuses)
    require_columns(rules, "rules", ["antecedent", "consequent", "confidence", "lift"],
                    hint="pass the output of segments.affinities")
    lines = counted_lines(order_items, orders, as_of, status_col=status_col, statuses=statuses, with_customer=True)
    owned = lines.select("customer_id", item=lines[level].cast("string")).distinct()
    rl = rules.filter(rules.lift > min_lift).select("antecedent", "consequent", "confidence", "lift")
    cand = owned.inner_join(rl, owned.item == rl.antecedent).select(
        "customer_id", offer=rl.consequent, because=rl.antecedent, confidence=rl.confidence, lift=rl.lift)
    own2 = owned.view()
    cand = cand.anti_join(own2, [cand.customer_id == own2.customer_id, cand.offer == own2.item])
    w = ibis.window(group_by=["customer_id", "offer"],
                    order_by=[ibis.desc("confidence"), ibis.desc("lift"), "because"])
    best = cand.mutate(_rn=ibis.row_number().over(w))
    best = best.filter(best._rn == 0).drop("_rn")
    w2 = ibis.window(group_by="customer_id", order_by=[ibis.desc("confidence"), ibis.desc("lift"), "offer"])
    ranked = best.mutate(rank=(ibis.row_number().over(w2) + 1).cast("int64"))
    ranked = ranked.filter(ranked["rank"] <= n_offers)
    return ranked.select("customer_id", "rank", "offer", "because", "confidence", "lift").order_by(
        ["customer_id", "rank"])


@engine_function("order_items", "orders")
def product_tiers(order_items, orders=None, as_of=None, *, n_tiers: int = 3, status_col: str | None = "status",
                  statuses: tuple[str, ...] = ("completed",)):
    """Price tier of every product within its category, from unit-price quantiles.

    A product's price is the mean ``unit_price`` of its lines. Within a category, products are
    ranked by price and cut into ``n_tiers`` equal-count groups::

        tier = 1 + floor(n_tiers * (products of the category strictly cheaper) / (products of the category))

    (exact integer arithmetic; equal prices share a tier). Tier 1 is the cheapest. Product ids
    are not parsed, so this works on any client's catalogue.

    Parameters
    ----------
    order_items : DataFrame or ibis.Table
        Order lines (``product_id``, ``category``, ``unit_price``).
    orders, as_of : optional
        When given, only lines of counted orders before ``as_of`` count.
    n_tiers : int
        Number of tiers.

    Returns
    -------
    DataFrame or ibis.Table
        ``category``, ``product_id``, ``price`` (currency, mean unit price), ``n_lines`` (lines),
        ``tier`` (1..n_tiers); sorted by category, price, product_id.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> tiers = product_tiers(tables["order_items"], tables["orders"], "2026-01-01")
    >>> len(tiers), sorted(tiers["tier"].unique().tolist())
    (96, [1, 2, 3])
    """
    if n_tiers < 2:
        raise ParameterError(f"n_tiers must be at least 2, got {n_tiers}")
    require_columns(order_items, "order_items", ["product_id", "category", "unit_price"])
    lines = counted_lines(order_items, orders, as_of, status_col=status_col, statuses=statuses)
    p = lines.group_by(["category", "product_id"]).aggregate(
        price=exact_mean(lines.unit_price), n_lines=lines.count())
    w = ibis.window(group_by="category", order_by="price")
    n = p.product_id.count().over(ibis.window(group_by="category"))
    p = p.mutate(tier=((ibis.rank().over(w) * n_tiers) // n + 1).cast("int64"))
    return p.order_by(["category", "price", "product_id"])


@engine_function("order_items", "orders", "tiers")
def upsell_offers(order_items, orders, as_of, tiers=None, *, n_tiers: int = 3, status_col: str | None = "status",
                  statuses: tuple[str, ...] = ("completed",)):
    """Per customer and category bought: a product of the next price tier up.

    The customer's current tier in a category is the highest tier they bought there (lines
    before ``as_of``). The offer is the most bought product (most lines; ties: lower price,
    then product id) of the next tier in that category that the customer has not bought.
    Categories where the customer already buys the top tier get no offer.

    Parameters
    ----------
    order_items, orders : DataFrame or ibis.Table
        Order lines and orders.
    as_of : date-like
        Analysis instant (UTC).
    tiers : DataFrame or ibis.Table, optional
        Output of :func:`product_tiers`; computed from the same lines when not given.
    n_tiers : int
        Number of tiers when ``tiers`` is computed here.

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``category``, ``current_tier``, ``offer_tier``, ``offer_product``,
        ``offer_price`` (currency), ``spend_in_category`` (currency, quantity × unit price);
        sorted by customer_id, category.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> up = upsell_offers(tables["order_items"], tables["orders"], "2026-01-01")
    >>> len(up), bool((up["offer_tier"] > up["current_tier"]).all())
    (443, True)
    """
    if tiers is None:
        tiers = product_tiers.__wrapped_engine__(order_items, orders, as_of, n_tiers=n_tiers,
                                                 status_col=status_col, statuses=statuses)
    require_columns(tiers, "tiers", ["category", "product_id", "price", "n_lines", "tier"],
                    hint="pass the output of segments.product_tiers")
    lines = counted_lines(order_items, orders, as_of, status_col=status_col, statuses=statuses, with_customer=True)
    qty = lines.quantity if "quantity" in lines.columns else ibis.literal(1)
    # one pass over the lines: spend per customer and product (exact decimal sums, added up exactly
    # per category below); the products bought and the current tiers both come from it
    spend = (qty * lines.unit_price).cast("decimal(38, 6)")
    owned = lines.group_by(["customer_id", "category", "product_id"]).aggregate(_spend=spend.sum())
    tcol = tiers.select("product_id", "tier")
    lt = owned.inner_join(tcol, "product_id")
    cur = lt.group_by(["customer_id", "category"]).aggregate(
        current_tier=lt.tier.max(), spend_in_category=lt._spend.sum().cast("float64"))
    cand = tiers.select("category", offer_product=tiers.product_id, offer_tier=tiers.tier,
                        offer_price=tiers.price, _pop=tiers.n_lines)
    j = cur.inner_join(cand, [cur.category == cand.category, cand.offer_tier == cur.current_tier + 1])
    j = j.select(cur, cand.offer_product, cand.offer_tier, cand.offer_price, cand._pop)
    bought = owned.select("customer_id", "product_id").view()
    j = j.anti_join(bought, [j.customer_id == bought.customer_id, j.offer_product == bought.product_id])
    w = ibis.window(group_by=["customer_id", "category"],
                    order_by=[ibis.desc("_pop"), "offer_price", "offer_product"])
    j = j.mutate(_rn=ibis.row_number().over(w))
    j = j.filter(j._rn == 0)
    return j.select("customer_id", "category", current_tier=j.current_tier.cast("int64"),
                    offer_tier=j.offer_tier.cast("int64"), offer_product=j.offer_product,
                    offer_price=j.offer_price, spend_in_category=j.spend_in_category
                    ).order_by(["customer_id", "category"])



def _stored(table: ir.Table) -> ir.Table:
    """``table`` computed and stored on its engine (:func:`crm_research.engine.materialize`; read
    once: not cached on Spark) when it reads engine tables; left as it is when it reads only
    in-memory (pandas) tables."""
    try:
        table._find_backend(use_default=False)
    except Exception:  # noqa: BLE001 - memtables only: small data, one plan
        return table
    return materialize(table, reread=False)


@engine_function("cross_sell", "upsell")
def suggestion_list(cross_sell, upsell=None, *, max_upsell: int = 1):
    """One suggestion table: cross-sell offers and the best upsell offers per customer.

    Parameters
    ----------
    cross_sell : DataFrame or ibis.Table
        Output of :func:`next_best_offers` (category or product level).
    upsell : DataFrame or ibis.Table, optional
        Output of :func:`upsell_offers`. ``None`` (no price tiers, e.g. order lines without
        unit prices): cross-sell suggestions only.
    max_upsell : int
        Upsell offers kept per customer: those in the categories where the customer spent most.

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``kind`` (``cross-sell`` or ``upsell``), ``rank`` (within kind, 1 =
        best), ``offer`` (category or product id), ``reason`` (plain words); sorted by
        customer_id, kind, rank. Pseudonymise ``customer_id`` before showing it to a client.

    Examples
    --------
    >>> import pandas as pd
    >>> cross = pd.DataFrame({"customer_id": [1], "rank": [1], "offer": ["home"], "because": ["kitchen"],
    ...                       "confidence": [0.4], "lift": [2.0]})
    >>> suggestion_list(cross)[["customer_id", "kind", "offer"]].values.tolist()
    [[1, 'cross-sell', 'home']]
    """
    require_columns(cross_sell, "cross_sell", ["customer_id", "rank", "offer", "because", "confidence", "lift"],
                    hint="pass the output of segments.next_best_offers")
    if upsell is not None:
        require_columns(upsell, "upsell", ["customer_id", "category", "current_tier", "offer_tier",
                                           "offer_product", "spend_in_category"],
                        hint="pass the output of segments.upsell_offers")
    if max_upsell < 1:
        raise ParameterError(f"max_upsell must be at least 1, got {max_upsell}")
    # the two lists computed in turn, not as one plan: on 300k contacts the one plan held both lists'
    # working memory at once (+0.52 GiB peak RSS; in turn +0.22 GiB, same rows)
    cs = _stored(cross_sell)
    upsell = None if upsell is None else _stored(upsell)
    pct = lambda v: (v * 100).round(0).cast("int64").cast("string")  # noqa: E731
    cs = cs.select(
        "customer_id", kind=ibis.literal("cross-sell"), rank=cs["rank"].cast("int64"), offer=cs.offer.cast("string"),
        reason=ibis.literal("bought ").concat(cs.because.cast("string"), ibis.literal(": "), pct(cs.confidence),
                                              ibis.literal("% of such orders also hold it (lift "),
                                              cs.lift.round(2).cast("string"), ibis.literal(")")),
    )
    if upsell is None:
        return cs.order_by(["customer_id", "kind", "rank"])
    w = ibis.window(group_by="customer_id", order_by=[ibis.desc("spend_in_category"), "category"])
    up = upsell.mutate(_rn=ibis.row_number().over(w) + 1)
    up = up.filter(up._rn <= max_upsell)
    up = up.select(
        "customer_id", kind=ibis.literal("upsell"), rank=up._rn.cast("int64"), offer=up.offer_product.cast("string"),
        reason=ibis.literal("buys ").concat(up.category.cast("string"), ibis.literal(" at tier "),
                                            up.current_tier.cast("string"), ibis.literal(": next tier "),
                                            up.offer_tier.cast("string")),
    )
    return cs.union(up).order_by(["customer_id", "kind", "rank"])
