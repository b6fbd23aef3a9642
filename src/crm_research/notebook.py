"""Support for the analysis notebooks: the run folder, data loading, client-safe outputs.

A notebook starts with :func:`setup`, which returns a :class:`RunContext` bound to a run folder:

* ``run_dir`` given (the runner passes the new run folder): outputs go there;
* ``run_dir`` None (a JupyterLab session): outputs go to the scratch run folder
  ``reports/scratch``.

Everything a notebook writes goes through the context, which keeps client-facing output
clean: :meth:`RunContext.save_table` refuses personal columns and pseudonymises person-linked
ids before writing ``tables/<name>.csv``; :meth:`RunContext.save_figure` writes
``figures/<name>.png``; :meth:`RunContext.headline` records the few numbers the run index shows.
Paths are resolved from the project root (:mod:`crm_research.paths`), whatever the kernel's
working directory.

The *first tables* at the end of this module are the modest opening analysis of each notebook
(row counts, orders per customer, event counts, spend per campaign, recency); later analyses
replace or extend them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_research import paths, privacy
from crm_research.errors import CRMError, ParameterError

__all__ = [
    "RunContext",
    "setup",
    "load_data",
    "parse_as_of",
    "check_period",
    "write_csv",
    "SCRATCH",
    "row_counts",
    "activity_by_period",
    "orders_per_customer",
    "event_counts",
    "spend_by_campaign",
    "recency_distribution",
    "days_since_last_order",
    "line_chart",
    "bar_chart",
    "show",
]

SCRATCH = "scratch"
"""Name of the run folder under ``reports/`` used when a notebook runs without ``run_dir``."""

PERIODS = {"M": "M", "W": "W-SUN"}
"""Accepted ``period`` values: calendar months or ISO weeks (Monday to Sunday)."""

META = "meta"


# ---------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------


def parse_as_of(as_of: str | date | pd.Timestamp) -> pd.Timestamp:
    """Parse the ``as_of`` parameter: only data strictly before this UTC instant counts.

    Parameters
    ----------
    as_of : str, date or Timestamp
        ISO date (``"2026-01-01"``) or timestamp; naive values are taken as UTC.

    Returns
    -------
    Timestamp
        Timezone-aware (UTC).

    Raises
    ------
    ParameterError
        The value is not a date.
    """
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"as_of={as_of!r} is not a date: use YYYY-MM-DD, e.g. '2026-01-01'") from exc
    if ts is pd.NaT:
        raise ParameterError(f"as_of={as_of!r} is not a date: use YYYY-MM-DD, e.g. '2026-01-01'")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def check_period(period: str) -> str:
    """Return the pandas frequency of ``period`` (``"M"`` months, ``"W"`` weeks).

    Raises
    ------
    ParameterError
        Any other value.
    """
    if period not in PERIODS:
        raise ParameterError(f"period={period!r} is not supported: use 'M' (months) or 'W' (weeks)")
    return PERIODS[period]


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """Return the data folder: ``data_dir`` (relative paths from the project root) or the demo.

    ``None`` means the demo company in ``data/demo``, generated on first use.

    Raises
    ------
    ParameterError
        ``data_dir`` does not exist.
    """
    if data_dir is None or str(data_dir) == "":
        from crm_research import synthetic

        return Path(synthetic.ensure_demo(paths.demo_data_dir()))
    folder = Path(data_dir).expanduser()
    if not folder.is_absolute():
        folder = paths.project_root() / folder
    if not folder.is_dir():
        raise ParameterError(f"data_dir={str(data_dir)!r}: folder {folder} does not exist")
    return folder


def load_data(data_dir: str | os.PathLike | None = None):
    """Load and validate the CRM tables of ``data_dir`` (``None``: the demo company).

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with one file per table; relative paths start at the project root. ``None``
        means the demo company in ``data/demo``, generated on first use. A client mapping
        saved as ``mapping.yaml`` in the folder is applied.

    Returns
    -------
    CRMData
        Tables as attributes (``customers``, ``orders``, ...), ``tables()`` and
        ``fingerprint()``; see :func:`crm_research.data.load`.

    Raises
    ------
    DataValidationError
        The data breaks the data model (every problem listed).
    """
    return _load(resolve_data_dir(data_dir))


MAPPING_FILES = ("mapping.yaml", "mapping.yml")
"""A client mapping saved under one of these names in the data folder is applied on load."""


def mapping_file(folder: Path) -> Path | None:
    """Return the mapping YAML kept in the data folder, if any (see :data:`MAPPING_FILES`)."""
    for name in MAPPING_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _load(folder: Path):
    from crm_research import data

    return data.load(folder, mapping=mapping_file(folder))


# ---------------------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------------------


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as CSV with fixed formatting, so equal frames give equal bytes.

    Floats are rounded to 6 decimals; timestamps at midnight UTC are written as dates.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            ts = s.dt.tz_convert("UTC") if getattr(s.dt, "tz", None) is not None else s
            midnight = ts.dropna().eq(ts.dropna().dt.normalize()).all()
            out[col] = ts.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%dT%H:%M:%SZ")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.round(6)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    out.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    os.replace(tmp, path)


def _check_name(name: str, what: str) -> str:
    ok = name and all(ch.isalnum() or ch in "_-" for ch in name)
    if not ok:
        raise ValueError(f"{what} name {name!r}: use letters, digits, '_' or '-' only")
    return name


@dataclass
class RunContext:
    """Where one notebook writes its outputs, and how.

    Attributes
    ----------
    notebook : str
        Notebook stem (``01_baseline``).
    run_dir : Path
        The run folder (``tables/``, ``figures/``, ``meta/``, ``private/``).
    seed : int
        Seed of the notebook's random numbers; ``rng`` is drawn from it.
    rng : numpy.random.Generator
    """

    notebook: str
    run_dir: Path
    seed: int = 0
    rng: np.random.Generator = field(init=False, repr=False)
    _meta: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._meta = {"notebook": self.notebook, "data": None, "headlines": [], "tables": [],
                      "figures": []}

    @property
    def tables_dir(self) -> Path:
        return self.run_dir / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.run_dir / "figures"

    @property
    def meta_path(self) -> Path:
        return self.run_dir / META / f"{self.notebook}.json"

    def _write_meta(self) -> None:
        self.meta_path.parent.mkdir(parents=True, exist_ok=True)
        self.meta_path.write_text(json.dumps(self._meta, indent=2, default=str) + "\n", encoding="utf-8")

    def _owner_of(self, kind: str, name: str) -> str | None:
        for f in sorted((self.run_dir / META).glob("*.json")):
            if f.stem == self.notebook:
                continue
            try:
                other = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if name in other.get(kind, []):
                return f.stem
        return None

    def load_data(self, data_dir: str | os.PathLike | None = None, *, keep_pii: bool = False):
        """Load the data (see :func:`load_data`) and record its folder and fingerprint.

        Parameters
        ----------
        data_dir : path-like, optional
            ``None``: the demo company, generated on first use.
        keep_pii : bool
            Keep names, e-mail addresses and phone numbers. Default: dropped at load, so no
            later cell can show them.

        Returns
        -------
        CRMData
        """
        folder = resolve_data_dir(data_dir)
        crm = _load(folder)
        mapping = mapping_file(folder)
        self._meta["data"] = {"folder": str(folder), "fingerprint": crm.fingerprint(),
                              "mapping": mapping.name if mapping else None}
        self._write_meta()
        return crm if keep_pii else crm.without_pii()

    def save_table(self, df: pd.DataFrame, name: str, *, pseudonymise: tuple[str, ...] | None = None,
                   key: str | None = None) -> pd.DataFrame:
        """Write ``tables/<name>.csv`` and return the client-safe table that was written.

        Parameters
        ----------
        df : DataFrame
            The table; the index is written only if it is named (reset into columns).
        name : str
            File name without extension; unique within the run.
        pseudonymise : tuple of str, optional
            Id columns to replace by pseudonyms. Default: every person-linked id column
            (``customer_id``, ``order_id``, ``ticket_id``, ``session_id``).
        key : str, optional
            Pseudonymisation key (default: ``$CRM_RESEARCH_PSEUDO_KEY`` or the run's key).

        Returns
        -------
        DataFrame
            What was written: display this, not ``df``.

        Raises
        ------
        PIIError
            The table holds names, e-mail addresses or phone numbers.
        CRMError
            Another notebook of this run already wrote a table of that name.
        """
        _check_name(name, "table")
        owner = self._owner_of("tables", name)
        if owner is not None:
            raise CRMError(f"table {name!r} is already written by notebook {owner} in this run: "
                           f"pick another name")
        out = df.reset_index() if any(n is not None for n in df.index.names) else df.reset_index(drop=True)
        privacy.check_no_pii(out, name)
        cols = [c for c in out.columns if c in privacy.ID_PREFIXES] if pseudonymise is None else list(pseudonymise)
        if cols:
            out = privacy.pseudonymise(out, key=key, columns=cols, run_dir=self.run_dir)
        write_csv(out, self.tables_dir / f"{name}.csv")
        if name not in self._meta["tables"]:
            self._meta["tables"].append(name)
            self._write_meta()
        return out

    def save_figure(self, fig, name: str, *, dpi: int = 120) -> None:
        """Write ``figures/<name>.png`` (the figure still shows in the notebook).

        Returns nothing, so no file path appears in the client report.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
        name : str
            File name without extension; unique within the run.
        dpi : int
            Resolution.

        """
        _check_name(name, "figure")
        owner = self._owner_of("figures", name)
        if owner is not None:
            raise CRMError(f"figure {name!r} is already written by notebook {owner} in this run: "
                           f"pick another name")
        path = self.figures_dir / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        if name not in self._meta["figures"]:
            self._meta["figures"].append(name)
            self._write_meta()

    def headline(self, name: str, value: Any, fmt: str = "{:,}") -> str:
        """Record one headline number for the run index; returns its text.

        Parameters
        ----------
        name : str
            What it is, in client words (``"Active customers"``).
        value : int, float or str
        fmt : str
            ``str.format`` pattern of the shown text (``"{:.1%}"`` for a share).

        Returns
        -------
        str
            The formatted value.
        """
        if isinstance(value, np.generic):
            value = value.item()
        text = fmt.format(value) if not isinstance(value, str) else value
        entry = {"name": name, "value": value, "text": text}
        self._meta["headlines"] = [h for h in self._meta["headlines"] if h["name"] != name] + [entry]
        self._write_meta()
        return text


def setup(notebook: str, run_dir: str | os.PathLike | None = None, seed: int = 0) -> RunContext:
    """Bind a notebook to its run folder and set display defaults.

    Parameters
    ----------
    notebook : str
        The notebook's stem (``01_baseline``); names its metadata in the run folder.
    run_dir : path-like, optional
        Run folder (the runner passes a new one). ``None``: ``reports/scratch``, so a notebook
        run by hand in JupyterLab works; relative paths start at the project root.
    seed : int
        Seed of ``RunContext.rng``.

    Returns
    -------
    RunContext
    """
    if run_dir is None or str(run_dir) == "":
        folder = paths.reports_dir() / SCRATCH
    else:
        folder = Path(run_dir).expanduser()
        if not folder.is_absolute():
            folder = paths.project_root() / folder
    folder.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(notebook=notebook, run_dir=folder, seed=int(seed))
    # a re-run of the same notebook in the same folder replaces its previous outputs
    if ctx.meta_path.exists():
        try:
            old = json.loads(ctx.meta_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        for t in old.get("tables", []):
            (ctx.tables_dir / f"{t}.csv").unlink(missing_ok=True)
        for f in old.get("figures", []):
            (ctx.figures_dir / f"{f}.png").unlink(missing_ok=True)
    ctx._write_meta()
    pd.set_option("display.max_rows", 40)
    pd.set_option("display.float_format", lambda v: f"{v:,.2f}")
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.figsize": (8, 4), "figure.dpi": 100, "axes.grid": True,
                             "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:  # pragma: no cover
        pass
    return ctx


# ---------------------------------------------------------------------------------------
# first tables
# ---------------------------------------------------------------------------------------

TIME_COLUMNS = {
    "customers": "signup_at",
    "orders": "ordered_at",
    "events": "occurred_at",
    "ad_spend": "date",
    "tickets": "opened_at",
    "surveys": "answered_at",
    "subscriptions": "started_at",
}


def row_counts(crm, as_of) -> pd.DataFrame:
    """Rows per table, with the time span they cover.

    Parameters
    ----------
    crm : CRMData
    as_of : date-like
        Analysis date; ``rows_before_as_of`` counts rows strictly before it.

    Returns
    -------
    DataFrame
        ``table``, ``rows``, ``rows_before_as_of``, ``first``, ``last`` (dates, empty for
        tables without a time column), in data-model order.
    """
    cut = parse_as_of(as_of)
    rows = []
    for name, df in crm.tables().items():
        col = TIME_COLUMNS.get(name)
        if col and col in df.columns and len(df):
            t = df[col]
            rows.append({"table": name, "rows": len(df), "rows_before_as_of": int((t < cut).sum()),
                         "first": t.min().strftime("%Y-%m-%d"), "last": t.max().strftime("%Y-%m-%d")})
        else:
            rows.append({"table": name, "rows": len(df), "rows_before_as_of": len(df),
                         "first": "", "last": ""})
    return pd.DataFrame(rows, columns=["table", "rows", "rows_before_as_of", "first", "last"])


def _completed(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    o = orders[orders["ordered_at"] < as_of]
    if "status" in o.columns:
        o = o[o["status"] == "completed"]
    return o


def activity_by_period(crm, as_of, period: str = "M", periods: int = 24,
                       active_window_days: int = 90) -> pd.DataFrame:
    """New contacts, orders, revenue and active customers per period.

    Parameters
    ----------
    crm : CRMData
    as_of : date-like
        Only data strictly before this day counts; the last period ends there.
    period : {"M", "W"}
        Months or weeks (Monday start).
    periods : int
        Number of periods shown, counting back from ``as_of``.
    active_window_days : int
        A customer is active at a period's end if they placed a completed order in the
        ``active_window_days`` before it.

    Returns
    -------
    DataFrame
        ``period_start`` (date), ``new_contacts``, ``orders``, ``revenue`` (completed orders,
        currency), ``active_customers``; oldest first.
    """
    freq = check_period(period)
    cut = parse_as_of(as_of)
    if periods < 1 or active_window_days < 1:
        raise ParameterError("periods and active_window_days must be at least 1")
    last = cut - pd.Timedelta(microseconds=1)
    starts = pd.period_range(end=last.tz_localize(None).to_period(freq), periods=periods, freq=freq)
    start_ts = [p.start_time.tz_localize("UTC") for p in starts]
    end_ts = [min((p + 1).start_time.tz_localize("UTC"), cut) for p in starts]
    orders = _completed(crm.orders, cut)
    signups = crm.customers["signup_at"]
    window = pd.Timedelta(days=active_window_days)
    rows = []
    for s, e in zip(start_ts, end_ts, strict=True):
        in_p = orders[(orders["ordered_at"] >= s) & (orders["ordered_at"] < e)]
        act = orders[(orders["ordered_at"] >= e - window) & (orders["ordered_at"] < e)]
        rows.append({
            "period_start": s,
            "new_contacts": int(((signups >= s) & (signups < e)).sum()),
            "orders": len(in_p),
            "revenue": float(in_p["amount"].sum()),
            "active_customers": int(act["customer_id"].nunique()),
        })
    return pd.DataFrame(rows)


def orders_per_customer(crm, as_of, lookback_days: int = 365, max_orders: int = 10) -> pd.DataFrame:
    """How many contacts placed 0, 1, 2, ... completed orders in the look-back window.

    Parameters
    ----------
    crm : CRMData
    as_of : date-like
    lookback_days : int
        Window length before ``as_of``.
    max_orders : int
        Counts above this are grouped as ``"<max_orders>+"``.

    Returns
    -------
    DataFrame
        ``orders`` (label), ``contacts``, ``share`` (of all contacts known at ``as_of``).
    """
    if max_orders < 1 or lookback_days < 1:
        raise ParameterError("max_orders and lookback_days must be at least 1")
    cut = parse_as_of(as_of)
    o = _completed(crm.orders, cut)
    o = o[o["ordered_at"] >= cut - pd.Timedelta(days=lookback_days)]
    contacts = crm.customers.loc[crm.customers["signup_at"] < cut, "customer_id"]
    n = o.groupby("customer_id").size().reindex(contacts.to_numpy(), fill_value=0)
    capped = n.clip(upper=max_orders)
    counts = capped.value_counts().reindex(range(max_orders + 1), fill_value=0)
    labels = [str(i) for i in range(max_orders)] + [f"{max_orders}+"]
    total = int(counts.sum())
    return pd.DataFrame({
        "orders": labels,
        "contacts": counts.to_numpy().astype(int),
        "share": counts.to_numpy() / total if total else np.zeros(len(labels)),
    })


def event_counts(crm, as_of, lookback_days: int = 365, top_events: int = 15) -> pd.DataFrame:
    """Events by name in the look-back window, most frequent first.

    Parameters
    ----------
    crm : CRMData
    as_of : date-like
    lookback_days : int
    top_events : int
        Names beyond the most frequent ``top_events`` are grouped as ``"(other)"``.

    Returns
    -------
    DataFrame
        ``event``, ``events``, ``contacts`` (distinct), ``share`` (of events).
    """
    if top_events < 1 or lookback_days < 1:
        raise ParameterError("top_events and lookback_days must be at least 1")
    cut = parse_as_of(as_of)
    ev = crm.events
    ev = ev[(ev["occurred_at"] < cut) & (ev["occurred_at"] >= cut - pd.Timedelta(days=lookback_days))]
    g = (ev.groupby("event").agg(events=("event", "size"), contacts=("customer_id", "nunique"))
         .reset_index().sort_values(["events", "event"], ascending=[False, True]))
    if len(g) > top_events:
        rest = g.iloc[top_events:]
        other_contacts = ev.loc[ev["event"].isin(rest["event"]), "customer_id"].nunique()
        g = pd.concat([g.iloc[:top_events],
                       pd.DataFrame({"event": ["(other)"], "events": [int(rest["events"].sum())],
                                     "contacts": [other_contacts]})])
    total = g["events"].sum()
    g["share"] = g["events"] / total if total else 0.0
    g["event"] = g["event"].astype(str)
    return g.reset_index(drop=True)


def spend_by_campaign(crm, as_of, lookback_days: int = 365, min_spend: float = 0.0) -> pd.DataFrame:
    """Impressions, clicks and cost per campaign in the look-back window, biggest spend first.

    Parameters
    ----------
    crm : CRMData
    as_of : date-like
    lookback_days : int
    min_spend : float
        Campaigns that spent less (currency) are left out.

    Returns
    -------
    DataFrame
        ``campaign_id``, ``campaign_name``, ``channel``, ``impressions``, ``clicks``, ``cost``,
        ``ctr`` (clicks per impression), ``cpc`` (cost per click, empty without clicks).
    """
    cut = parse_as_of(as_of)
    s = crm.ad_spend
    s = s[(s["date"] < cut) & (s["date"] >= cut - pd.Timedelta(days=lookback_days))]
    g = s.groupby("campaign_id").agg(impressions=("impressions", "sum"), clicks=("clicks", "sum"),
                                     cost=("cost", "sum")).reset_index()
    camp = crm.campaigns.rename(columns={"name": "campaign_name"})[["campaign_id", "campaign_name", "channel"]]
    g = g.merge(camp, on="campaign_id", how="left")
    g = g[g["cost"] >= min_spend]
    g["ctr"] = np.where(g["impressions"] > 0, g["clicks"] / g["impressions"].where(g["impressions"] > 0), np.nan)
    g["cpc"] = g["cost"] / g["clicks"].where(g["clicks"] > 0)
    g = g.sort_values(["cost", "campaign_id"], ascending=[False, True])
    cols = ["campaign_id", "campaign_name", "channel", "impressions", "clicks", "cost", "ctr", "cpc"]
    out = g[cols].reset_index(drop=True)
    for c in ("campaign_id", "campaign_name", "channel"):
        out[c] = out[c].astype(str)
    return out


def recency_distribution(crm, as_of, bin_days: int = 30, max_days: int = 720) -> pd.DataFrame:
    """Customers by days since their last completed order, in bins of ``bin_days``.

    Parameters
    ----------
    crm : CRMData
    as_of : date-like
    bin_days : int
        Bin width in days.
    max_days : int
        Recencies beyond this fall in the last, open bin.

    Returns
    -------
    DataFrame
        ``days_since_last_order`` (bin label ``"0-29"``, ..., ``"720+"``), ``customers``,
        ``share``, ``cumulative_share``.
    """
    if bin_days < 1 or max_days < bin_days:
        raise ParameterError("bin_days must be at least 1 and max_days at least bin_days")
    cut = parse_as_of(as_of)
    o = _completed(crm.orders, cut)
    last = o.groupby("customer_id")["ordered_at"].max()
    days = ((cut - last).dt.total_seconds() // 86400).astype(int)
    n_bins = -(-max_days // bin_days)
    idx = np.minimum(days.to_numpy() // bin_days, n_bins)
    counts = np.bincount(idx, minlength=n_bins + 1)
    labels = [f"{i * bin_days}-{(i + 1) * bin_days - 1}" for i in range(n_bins)] + [f"{n_bins * bin_days}+"]
    total = counts.sum()
    share = counts / total if total else np.zeros(len(counts))
    return pd.DataFrame({"days_since_last_order": labels, "customers": counts.astype(int),
                         "share": share, "cumulative_share": np.cumsum(share)})


def days_since_last_order(crm, as_of) -> pd.Series:
    """Days since each customer's last completed order before ``as_of`` (index: customer_id)."""
    cut = parse_as_of(as_of)
    last = _completed(crm.orders, cut).groupby("customer_id")["ordered_at"].max()
    return ((cut - last).dt.total_seconds() // 86400).astype(int).rename("days_since_last_order")


# ---------------------------------------------------------------------------------------
# display
# ---------------------------------------------------------------------------------------

PERCENT_HINTS = ("share", "rate", "ctr")


def show(df: pd.DataFrame, percent: tuple[str, ...] | None = None, decimals: int = 2):
    """Display a table for a client: no index, dates as days, thousands separators, percentages.

    Parameters
    ----------
    df : DataFrame
    percent : tuple of str, optional
        Columns shown as percentages. Default: numeric columns whose name contains
        ``share``, ``rate`` or ``ctr``.
    decimals : int
        Decimals of other float columns.

    Returns
    -------
    pandas.io.formats.style.Styler
        Renders as an HTML table in the notebook and the report.
    """
    if percent is None:
        percent = tuple(c for c in df.columns if any(h in str(c) for h in PERCENT_HINTS)
                        and pd.api.types.is_float_dtype(df[c]))
    fmt: dict[str, Any] = {}
    for c in df.columns:
        s = df[c]
        if c in percent:
            fmt[c] = "{:.1%}"
        elif pd.api.types.is_datetime64_any_dtype(s):
            midnight = s.dropna().eq(s.dropna().dt.normalize()).all()
            fmt[c] = (lambda v, m=midnight: "" if pd.isna(v) else v.strftime("%Y-%m-%d" if m else "%Y-%m-%d %H:%M"))
        elif pd.api.types.is_bool_dtype(s):
            continue
        elif pd.api.types.is_integer_dtype(s):
            fmt[c] = "{:,}"
        elif pd.api.types.is_float_dtype(s):
            fmt[c] = "{:,." + str(decimals) + "f}"
    return df.style.format(fmt, na_rep="").hide(axis="index")


# ---------------------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------------------


def line_chart(df: pd.DataFrame, x: str, y: str, *, title: str = "", xlabel: str = "",
               ylabel: str = ""):
    """A line chart of ``df[y]`` over ``df[x]``; returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(df[x], df[y], marker="o", linewidth=1.5)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.autofmt_xdate()
    return fig


def bar_chart(df: pd.DataFrame, x: str, y: str, *, title: str = "", xlabel: str = "",
              ylabel: str = "", horizontal: bool = False):
    """A bar chart of ``df[y]`` per ``df[x]`` (in row order); returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    labels = df[x].astype(str).tolist()
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.35 * len(labels))) if horizontal else None)
    if horizontal:
        ax.barh(labels[::-1], df[y].to_numpy()[::-1])
        ax.set(title=title, xlabel=ylabel, ylabel=xlabel)
    else:
        ax.bar(labels, df[y].to_numpy())
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if len(labels) > 12 or max((len(s) for s in labels), default=0) > 6:
            ax.tick_params(axis="x", labelrotation=45)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
    return fig
