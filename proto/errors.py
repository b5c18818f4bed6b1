"""One exception family for domain errors: bad input from a peer, a file or a user.

Every error a peer or a user can cause is a :class:`HafError` whose message names the file,
line or field at fault. The CLI turns one into a single line and exit code 2; anything else
that escapes is a bug and shows its traceback (exit 1). Services count and drop them.
"""

from __future__ import annotations


class HafError(ValueError):
    """Bad input: the message says where (file, line, field) and what is wrong.

    A subclass of ValueError so that code written against ``ValueError`` keeps working.
    """


class InputError(HafError):
    """A file, option or document that cannot be read as what it should be; ``line`` and
    ``col`` (1-based) point into the text when known."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message)
        self.line, self.col = line, col


class MeasurementError(HafError):
    """An E2 measurement value out of its documented range; ``field`` names it."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


class ConfigError(HafError):
    """An xApp or rApp configuration that does not validate."""
