"""Load, convert and validate a company's CRM tables against the data model.

>>> from crm_research import data
>>> crm = data.load("data/client", mapping="data/client/mapping.yaml")  # doctest: +SKIP
>>> crm.orders.dtypes                                                      # doctest: +SKIP

Only ``orders`` (``customer_id``, ``ordered_at``, ``amount``) is required: absent tables are
``None``, tables the loader built are in ``CRMData.derived`` and what it did in
``CRMData.notes``. A PostgreSQL database or a DuckDB file is read by URL
(``postgresql://user@host/db?schema=crm``, ``duckdb:///path/file.duckdb``; see
:mod:`crm_research.data.sources`). :func:`load` returns a :class:`CRMData` or raises one
:class:`~crm_research.errors.DataValidationError` listing every problem (see
``docs/data-model.md`` for the tables, the mapping format and the checks).
"""

from crm_research.data.crmdata import CRMData
from crm_research.data.load import NA_TEXT, DataSourceError, load
from crm_research.data.mapping import (
    Mapping,
    MappingError,
    OrdersFromEvents,
    TableMapping,
    read_mapping,
)
from crm_research.data.model import TABLE_ORDER, TABLES, Column, ForeignKey, Table
from crm_research.data.read import PATH_TABLE_FILES, path_table_file
from crm_research.data.schemas import CHECK_NAMES, SCHEMAS, dtype_of, pii_columns, table_schema
from crm_research.data.sources import DatabaseSource, is_database_url, parse_source

__all__ = [
    "CHECK_NAMES",
    "CRMData",
    "Column",
    "DataSourceError",
    "DatabaseSource",
    "ForeignKey",
    "Mapping",
    "MappingError",
    "NA_TEXT",
    "PATH_TABLE_FILES",
    "OrdersFromEvents",
    "SCHEMAS",
    "TABLES",
    "TABLE_ORDER",
    "Table",
    "TableMapping",
    "dtype_of",
    "is_database_url",
    "load",
    "parse_source",
    "path_table_file",
    "pii_columns",
    "read_mapping",
    "table_schema",
]
