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

from crm_research import _lazy

_EXPORTS = {
    "CRMData": "crm_research.data.crmdata:CRMData",
    "NA_TEXT": "crm_research.data.load:NA_TEXT",
    "DataSourceError": "crm_research.data.load:DataSourceError",
    "load": "crm_research.data.load:load",
    "Mapping": "crm_research.data.mapping:Mapping",
    "MappingError": "crm_research.data.mapping:MappingError",
    "OrdersFromEvents": "crm_research.data.mapping:OrdersFromEvents",
    "TableMapping": "crm_research.data.mapping:TableMapping",
    "read_mapping": "crm_research.data.mapping:read_mapping",
    "TABLE_ORDER": "crm_research.data.model:TABLE_ORDER",
    "TABLES": "crm_research.data.model:TABLES",
    "Column": "crm_research.data.model:Column",
    "ForeignKey": "crm_research.data.model:ForeignKey",
    "Table": "crm_research.data.model:Table",
    "PATH_TABLE_FILES": "crm_research.data.read:PATH_TABLE_FILES",
    "path_table_file": "crm_research.data.read:path_table_file",
    "CHECK_NAMES": "crm_research.data.schemas:CHECK_NAMES",
    "SCHEMAS": "crm_research.data.schemas:SCHEMAS",
    "dtype_of": "crm_research.data.schemas:dtype_of",
    "pii_columns": "crm_research.data.schemas:pii_columns",
    "table_schema": "crm_research.data.schemas:table_schema",
    "DatabaseSource": "crm_research.data.sources:DatabaseSource",
    "is_database_url": "crm_research.data.sources:is_database_url",
    "parse_source": "crm_research.data.sources:parse_source",
}
"""Public name -> the module it comes from: each module is imported on first use of one of its
names (:mod:`crm_research._lazy`), so the notebooks' imports do not load pandera, which only
validation needs."""

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

__getattr__, __dir__ = _lazy.install(__name__, _EXPORTS)
