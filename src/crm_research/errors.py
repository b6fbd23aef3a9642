"""Exceptions a user can cause. Each message says what to fix.

The CLI prints these without a traceback and exits non-zero; anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


class CRMError(Exception):
    """Base class of every error a user of crm_research can cause."""


@dataclass(frozen=True)
class Problem:
    """One problem found in the input data.

    Attributes
    ----------
    table : str
        Table name (``customers``, ``orders``, ...).
    column : str or None
        Column name, or None for a table-level problem (missing or empty table).
    check : str
        Short name of the failed check (``missing_column``, ``duplicate_key``, ...).
    message : str
        What is wrong, in plain words.
    examples : tuple
        A few offending values or row numbers (at most five).
    hint : str
        How to fix it.
    """

    table: str
    column: str | None
    check: str
    message: str
    examples: tuple = ()
    hint: str = ""

    def render(self) -> str:
        where = self.table if self.column is None else f"{self.table}.{self.column}"
        text = f"- [{where}] {self.check}: {self.message}"
        if self.examples:
            text += f"\n    e.g. {', '.join(str(e) for e in self.examples)}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class DataValidationError(CRMError):
    """The input data breaks the data model. Lists every problem found, not only the first."""

    def __init__(self, problems: list[Problem], source: str = "input data"):
        self.problems = list(problems)
        self.source = source
        n = len(self.problems)
        lines = [f"{source}: {n} problem{'s' if n != 1 else ''} found"]
        lines += [p.render() for p in self.problems]
        super().__init__("\n".join(lines))


class ParameterError(CRMError):
    """A notebook or function parameter is unknown or has the wrong type or value."""


class NotebookFailed(CRMError):
    """A notebook raised while executing; the message names the notebook, cell and error."""
