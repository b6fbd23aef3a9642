"""The CRM data model: every table, column, type, key and PII mark, declared once.

Everything else derives from these declarations: the pandera schemas that validate a
client's export, the column order the synthetic company writes, and ``docs/data-model.md``.

Types
-----
``id``        string identifier (stored as pandas ``string``; numeric ids are read as text)
``datetime``  timezone-aware timestamp, normalised to UTC (``datetime64[ns, UTC]``)
``date``      calendar day, stored as a UTC midnight timestamp
``float``     float64
``int``       int64 (nullable ``Int64`` when the column is nullable)
``str``       free text or a category label (pandas ``string``)
"""

from __future__ import annotations

from dataclasses import dataclass

ORDER_CHANNELS = ("online", "phone", "in_person")
PLATFORMS = ("desktop", "mobile", "app", "tablet")
ORDER_STATUSES = ("completed", "cancelled", "returned")
CONSENT_VALUES = ("yes", "no")
"""Values of the consent columns (``customers.marketing_consent``, ``customers.do_not_contact``);
a client's ``true``/``1``/``Y`` are recoded by the mapping's ``values`` like any other text column."""
CONSENT_COLUMNS = ("marketing_consent", "do_not_contact")
"""The optional consent columns of ``customers`` (see :mod:`crm_research.privacy`)."""


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Parameters
    ----------
    name : str
        Canonical column name.
    kind : str
        One of ``id``, ``datetime``, ``date``, ``float``, ``int``, ``str``.
    required : bool
        Part of a complete export of the table: the synthetic company writes every such
        column. What an input file must contain is :attr:`Table.core`; every other column
        may be absent.
    nullable : bool
        Whether the column may hold missing values.
    pii : bool
        Personally identifying: never shown in client output.
    allowed : tuple of str, optional
        Closed set of allowed values.
    min_value, max_value : float, optional
        Inclusive bounds for numeric columns.
    unit : str
        Unit of a numeric value (for documentation).
    doc : str
        One-line meaning.
    generable : bool
        An identifier the loader may generate from the row position (``"r000042"``) when the
        file has none: automatically when the column is not in the table's core, or when the
        mapping asks for it (``generate_ids``).
    """

    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    pii: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    unit: str = ""
    doc: str = ""
    generable: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """``column`` of this table must exist in ``ref_table.ref_column`` (nulls allowed)."""

    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    """One table of the data model.

    ``required`` tables must be given (only ``orders``); every other table may be absent.
    ``core`` lists the columns an input file of the table must hold; every other column is
    optional (absent columns are simply not in the loaded frame).
    ``time`` is the column that dates a row: with ``as_of``, rows dated on or after it are
    dropped (``date`` columns: on or after its calendar day). ``censored`` lists later
    timestamps of a row that, on or after ``as_of``, have not happened yet: they become missing.
    ``key`` lists the columns that identify a row (checked for duplicates).
    ``order_checks`` lists pairs ``(earlier, later)`` of datetime columns of the same row
    where ``later`` may not precede ``earlier``.
    ``bound_checks`` lists pairs ``(column, bound)`` of numeric columns of the same row
    where ``column`` may not exceed ``bound`` (clicks at most impressions).
    """

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    core: tuple[str, ...] = ()
    time: str | None = None
    censored: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    order_checks: tuple[tuple[str, str], ...] = ()
    doc: str = ""
    bound_checks: tuple[tuple[str, str], ...] = ()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def optional_columns(self) -> list[str]:
        """Columns an input file may leave out (not in ``core``), in model order."""
        return [c.name for c in self.columns if c.name not in self.core]

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]


C = Column
FK = ForeignKey

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "customers",
            (
                C("customer_id", "id", doc="Customer or lead identifier."),
                C("signup_at", "datetime", doc="When the contact became known (lead creation)."),
                C("acquisition_channel", "str", doc="Channel that acquired the contact."),
                C("region", "str", doc="Sales region."),
                C("age", "int", required=False, nullable=True, min_value=14, max_value=110,
                  unit="years", doc="Age at sign-up."),
                C("name", "str", required=False, nullable=True, pii=True, doc="Full name."),
                C("email", "str", required=False, nullable=True, pii=True, doc="E-mail address."),
                C("phone", "str", required=False, nullable=True, pii=True, doc="Phone number."),
                C("marketing_consent", "str", required=False, nullable=True, allowed=CONSENT_VALUES,
                  doc="Agreed to receive marketing (`yes`/`no`; empty: not known, which counts as no). "
                      "Outreach lists leave out everyone without a `yes`."),
                C("do_not_contact", "str", required=False, nullable=True, allowed=CONSENT_VALUES,
                  doc="Asked not to be contacted or objected to direct marketing, incl. CCPA "
                      "\"do not sell or share\" (`yes`/`no`; empty: no request). Outreach lists "
                      "leave out every `yes`."),
            ),
            core=("customer_id",),
            time="signup_at",
            key=("customer_id",),
            doc="Everyone the company knows: leads and buyers. A customer is a contact with an order.",
        ),
        Table(
            "orders",
            (
                C("order_id", "id", generable=True,
                  doc="Order identifier (generated from the row position when absent)."),
                C("customer_id", "id", doc="Buyer."),
                C("ordered_at", "datetime", doc="When the order was placed."),
                C("amount", "float", min_value=0, unit="currency", doc="Amount paid, after discount."),
                C("discount", "float", min_value=0, unit="currency", doc="Discount granted."),
                C("channel", "str", allowed=ORDER_CHANNELS, doc="Purchase type: online, phone or in person."),
                C("platform", "str", nullable=True, allowed=PLATFORMS,
                  doc="Device of an online order; empty for phone and in-person orders."),
                C("promo_code", "str", required=False, nullable=True, doc="Promotion code used, if any."),
                C("status", "str", allowed=ORDER_STATUSES,
                  doc="completed, cancelled or returned (all completed when absent)."),
            ),
            required=True,
            core=("customer_id", "ordered_at", "amount"),
            time="ordered_at",
            key=("order_id",),
            foreign_keys=(FK("customer_id", "customers", "customer_id"),),
            doc="One row per order. The only table every client must give.",
        ),
        Table(
            "order_items",
            (
                C("order_id", "id", doc="Order the line belongs to."),
                C("product_id", "id", doc="Product identifier."),
                C("category", "str", doc="Product category."),
                C("quantity", "int", min_value=1, unit="units", doc="Units bought."),
                C("unit_price", "float", min_value=0, unit="currency", doc="Price per unit."),
            ),
            core=("order_id", "product_id"),
            key=("order_id", "product_id"),
            foreign_keys=(FK("order_id", "orders", "order_id"),),
            doc="Order lines (optional): needed for cross-sell and upsell.",
        ),
        Table(
            "events",
            (
                C("customer_id", "id", doc="Contact the event belongs to."),
                C("occurred_at", "datetime", doc="When it happened."),
                C("event", "str", doc="Event name (site, app, e-mail, ad, support, review, referral)."),
                C("session_id", "id", required=False, nullable=True, doc="Web or app session."),
                C("channel", "str", required=False, nullable=True, doc="Marketing channel of a touchpoint."),
                C("campaign_id", "id", required=False, nullable=True, doc="Campaign of a touchpoint."),
                C("platform", "str", required=False, nullable=True, allowed=PLATFORMS, doc="Device."),
                C("order_id", "id", required=False, nullable=True, doc="Order created by a purchase event."),
            ),
            core=("customer_id", "occurred_at", "event"),
            time="occurred_at",
            foreign_keys=(
                FK("customer_id", "customers", "customer_id"),
                FK("campaign_id", "campaigns", "campaign_id"),
            ),
            doc="Behaviour and touchpoints, one row per event.",
        ),
        Table(
            "campaigns",
            (
                C("campaign_id", "id", doc="Campaign identifier."),
                C("channel", "str", doc="Marketing channel."),
                C("name", "str", doc="Readable name."),
            ),
            core=("campaign_id",),
            key=("campaign_id",),
            doc="Marketing campaigns.",
        ),
        Table(
            "ad_spend",
            (
                C("campaign_id", "id", doc="Campaign."),
                C("date", "date", doc="Day."),
                C("impressions", "int", min_value=0, unit="impressions", doc="Ad views."),
                C("clicks", "int", min_value=0, unit="clicks", doc="Ad clicks (at most impressions)."),
                C("cost", "float", min_value=0, unit="currency", doc="Spend."),
            ),
            core=("campaign_id", "date", "cost"),
            time="date",
            key=("campaign_id", "date"),
            foreign_keys=(FK("campaign_id", "campaigns", "campaign_id"),),
            bound_checks=(("clicks", "impressions"),),
            doc="Daily delivery and spend per campaign.",
        ),
        Table(
            "tickets",
            (
                C("ticket_id", "id", generable=True, doc="Ticket identifier."),
                C("customer_id", "id", doc="Customer who contacted support."),
                C("opened_at", "datetime", doc="When the ticket was opened."),
                C("first_response_at", "datetime", nullable=True, doc="First reply from support."),
                C("resolved_at", "datetime", nullable=True, doc="When it was resolved; empty if open."),
                C("contacts", "int", min_value=1, unit="contacts", doc="Contacts needed (1 = first-contact resolution)."),
                C("csat", "int", nullable=True, min_value=1, max_value=5, unit="1-5", doc="Satisfaction score."),
            ),
            core=("ticket_id", "customer_id", "opened_at"),
            time="opened_at",
            censored=("first_response_at", "resolved_at"),
            key=("ticket_id",),
            foreign_keys=(FK("customer_id", "customers", "customer_id"),),
            order_checks=(("opened_at", "first_response_at"), ("opened_at", "resolved_at")),
            doc="Support tickets.",
        ),
        Table(
            "surveys",
            (
                C("customer_id", "id", doc="Respondent."),
                C("answered_at", "datetime", doc="When the survey was answered."),
                C("nps", "int", min_value=0, max_value=10, unit="0-10", doc="Likelihood to recommend."),
            ),
            core=("customer_id", "answered_at", "nps"),
            time="answered_at",
            foreign_keys=(FK("customer_id", "customers", "customer_id"),),
            doc="Net Promoter Score answers.",
        ),
        Table(
            "subscriptions",
            (
                C("customer_id", "id", doc="Subscriber."),
                C("started_at", "datetime", doc="Start of the subscription."),
                C("ended_at", "datetime", nullable=True, doc="End; empty while active (right-censored)."),
                C("plan", "str", doc="Plan name."),
                C("mrr", "float", min_value=0, unit="currency per month", doc="Monthly recurring revenue."),
            ),
            core=("customer_id", "started_at"),
            time="started_at",
            censored=("ended_at",),
            key=("customer_id", "started_at"),
            foreign_keys=(FK("customer_id", "customers", "customer_id"),),
            order_checks=(("started_at", "ended_at"),),
            doc="Subscriptions (optional): needed for contractual churn.",
        ),
    )
}

TABLE_ORDER: tuple[str, ...] = tuple(TABLES)


def _check_model() -> None:
    for table in TABLES.values():
        names = set(table.column_names)
        declared = set(table.core) | set(table.key) | set(table.censored)
        declared |= {table.time} if table.time else set()
        if not declared <= names:
            raise ValueError(f"table {table.name}: {sorted(declared - names)} are not its columns")


_check_model()


def lifecycle_events() -> tuple[str, ...]:
    """Return the model's event names in lifecycle order (the default stage map's order).

    The order of ``resources/stage_map.yaml``: stages first to last, each stage's events as
    listed (``ad_impression``, ``ad_click``, ``email_open``, ``site_visit``, ``signup``,
    ``product_view``, ...). It breaks ties between a contact's events at the same instant
    (:func:`crm_research.data.load.journey_order`): a visit before the product view it shows,
    a checkout before its purchase.

    Returns
    -------
    tuple of str
        Event names, each once.
    """
    from importlib import resources

    import yaml

    text = resources.files("crm_research").joinpath("resources", "stage_map.yaml").read_text()
    return tuple(dict.fromkeys(e for events in yaml.safe_load(text).values() for e in events))
