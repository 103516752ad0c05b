"""Errors raised for Fleet Indexing queries.

Every error knows the 0-based character offset it refers to, so the CLI can point at the offending spot
and the emulator can build an AWS-style message. ``str(err)`` renders the query with a caret under that
offset when the query text is known.

Hierarchy::

    QueryError
    ├── QuerySyntaxError          the text is not a valid query
    │   ├── UnsupportedSyntaxError    valid Lucene, but AWS does not support it (regex, fuzzy, boost...)
    │   └── QueryLimitError           over an AWS limit (12 terms, leading wildcards)
    ├── QueryFieldError           a field is wrong (carries ``field``)
    │   ├── UnknownFieldError         not a Fleet Indexing field at all
    │   ├── FieldValueError           the value cannot apply to that field (``connectivity.connected:maybe``)
    │   └── FieldNotIndexedError      the indexing configuration does not index that field
    └── IndexingDisabledError     thing indexing is OFF
"""

from __future__ import annotations


class QueryError(ValueError):
    """Base class: a query that cannot be run. ``position`` is a 0-based offset into ``query``."""

    def __init__(self, message: str, position: int = 0, query: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.query = query

    def render(self, query: str | None = None) -> str:
        """The message, then the query with a caret under ``position``."""
        text = query if query is not None else self.query
        if text is None:
            return f"{self.message} (at position {self.position})"
        line, column = _line_and_column(text, self.position)
        return f"{self.message}\n  {line}\n  {' ' * column}^"

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[QueryError], state: dict[str, object]) -> QueryError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message"))
    error.__dict__.update(state)
    return error


def _line_and_column(text: str, position: int) -> tuple[str, int]:
    """The line of ``text`` holding ``position`` (queries may span lines) and the caret column in it."""
    position = max(0, min(position, len(text)))
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    line = text[start : end if end != -1 else len(text)]
    # Tabs and other whitespace would shift the caret; show them as single spaces.
    shown = "".join(" " if ch.isspace() else ch for ch in line)
    return shown, position - start


class QuerySyntaxError(QueryError):
    """The query text does not follow the Fleet Indexing query syntax."""


class UnsupportedSyntaxError(QuerySyntaxError):
    """Syntax Lucene knows but AWS Fleet Indexing rejects: regex, fuzzy, boost, some characters."""


class QueryLimitError(QuerySyntaxError):
    """An AWS query limit is exceeded: more than 12 terms, or the leading-wildcard rules."""


class QueryFieldError(QueryError):
    """A problem with one field of the query; ``field`` names it."""

    def __init__(self, message: str, field: str, position: int = 0, query: str | None = None) -> None:
        super().__init__(message, position, query)
        self.field = field


class UnknownFieldError(QueryFieldError):
    """The field is not one Fleet Indexing knows (field names are case-sensitive)."""


class FieldValueError(QueryFieldError):
    """The value or operator cannot apply to the field, e.g. a range on a boolean."""


class FieldNotIndexedError(QueryFieldError):
    """The indexing configuration leaves this field out, so AWS would reject the query."""


class IndexingDisabledError(QueryError):
    """Thing indexing is OFF: no query can run."""
