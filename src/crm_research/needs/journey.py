"""The sections of the journey notebook and what each needs (see :mod:`crm_research.needs.core`)."""

from __future__ import annotations

from crm_research.needs import facts  # noqa: F401 - registers the shared facts
from crm_research.needs.core import Section

NOTEBOOK = "03_journey"

SECTIONS: tuple[Section, ...] = ()
