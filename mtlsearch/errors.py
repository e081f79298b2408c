"""Errors mtlsearch raises at its boundaries (spec files, data sources, the store)."""

from __future__ import annotations


class MtlsearchError(Exception):
    """Base class: an error a user can act on; the CLI prints it without a traceback."""

    exit_code = 1


class SpecError(MtlsearchError):
    """A search spec is invalid. Each problem names the file, the line, the field and what was expected."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid spec {path}:\n{lines}")


class UsageError(MtlsearchError):
    """A command-line argument is out of range for the spec it is used with."""

    exit_code = 2


class DataError(MtlsearchError):
    """A data source is missing, truncated or malformed."""

    exit_code = 2


class StoreError(MtlsearchError):
    """The results store does not hold what was asked for."""

    exit_code = 1
