"""Parsing Fleet Indexing query text into a :class:`~iotfleet.query.nodes.Query`.

Grammar, loosest binding first (this is the precedence AWS applies)::

    query    := sequence EOF
    sequence := or_expr (or_expr)*                 implicit AND: whitespace, looser than OR
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := unary ("AND" unary)*
    unary    := "NOT" unary | "-" unary | primary  NOT and "-" bind tightest
    primary  := "(" sequence ")"
              | FIELD ":" value | FIELD ":" "(" sequence ")" | FIELD ":" range
              | FIELD (">" | ">=" | "<" | "<=") value   written without spaces
              | value                                 a bare term: every registry and shadow value
    value    := WORD | PHRASE
    range    := ("[" | "{") bound "TO" bound ("]" | "}")   bound := value | "*"

So ``a OR b c`` is ``(a OR b) AND c`` while ``a OR b AND c`` is ``a OR (b AND c)``, and
``a AND b NOT c`` is ``(a AND b) AND (NOT c)``.

AWS limits are checked too: at most 12 terms, and a leading wildcard (``*abc``, ``?bc``) in at most one
term, in which case the whole query may be at most 100 characters.
"""

from __future__ import annotations

from typing import cast

from iotfleet.query.errors import FieldValueError, QueryLimitError, QuerySyntaxError
from iotfleet.query.fields import FieldSpec, resolve_field
from iotfleet.query.lexer import Token, tokenize
from iotfleet.query.nodes import (
    Bound,
    Compare,
    CompareOp,
    Exists,
    Match,
    MatchAll,
    Node,
    Not,
    Query,
    Range,
    Wildcard,
    iter_leaves,
    make_and,
    make_or,
)
from iotfleet.query.values import is_number

MAX_TERMS = 12
MAX_LEADING_WILDCARD_QUERY_LENGTH = 100
MAX_NESTING = 40

_BOOLEANS = ("true", "false")

def parse(text: str) -> Query:
    """Parse ``text``; raises a :class:`~iotfleet.query.errors.QueryError` subclass pointing at the problem."""
    if not isinstance(text, str):
        raise TypeError(f"a query is a string, not {type(text).__name__}")
    parser = _Parser(text, tokenize(text))
    root = parser.parse_query()
    _check_limits(root, text)
    return Query(root, text)


def _check_limits(root: Node, text: str) -> None:
    leaves = list(iter_leaves(root))
    if len(leaves) > MAX_TERMS:
        raise QueryLimitError(
            f"too many terms: a query may have at most {MAX_TERMS}, this one has {len(leaves)}",
            leaves[MAX_TERMS].position,
            text,
        )
    leading = [leaf for leaf in leaves if isinstance(leaf, Wildcard) and leaf.leading]
    if len(leading) > 1:
        raise QueryLimitError(
            "a leading wildcard ('*abc' or '?bc') is allowed in only one term of a query",
            leading[1].position,
            text,
        )
    if leading and len(text) > MAX_LEADING_WILDCARD_QUERY_LENGTH:
        raise QueryLimitError(
            f"a query with a leading wildcard may be at most {MAX_LEADING_WILDCARD_QUERY_LENGTH} characters, "
            f"this one has {len(text)}",
            MAX_LEADING_WILDCARD_QUERY_LENGTH,
            text,
        )


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        # Where the field of each enclosing field group (``field:(...)``) is written.
        self.group_positions: list[int] = []

    # -- token helpers -------------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def error(self, message: str, position: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, position, self.text)

    def field_error(self, message: str, spec: FieldSpec, position: int) -> FieldValueError:
        return FieldValueError(message, spec.name, position, self.text)

    # -- grammar -------------------------------------------------------------------------------------

    def parse_query(self) -> Node:
        if self.peek().kind == "EOF":
            raise self.error("empty query", 0)
        node = self.sequence(None, 0)
        token = self.peek()
        if token.kind == "RPAREN":
            raise self.error("unmatched ')'", token.position)
        if token.kind != "EOF":
            raise self.error(f"unexpected '{token.text}'", token.position)
        return node

    def sequence(self, default: FieldSpec | None, depth: int) -> Node:
        start = self.peek().position
        items = [self.or_expr(default, depth)]
        while self.peek().kind not in ("EOF", "RPAREN"):
            items.append(self.or_expr(default, depth))
        return make_and(items, implicit=True, position=start)

    def or_expr(self, default: FieldSpec | None, depth: int) -> Node:
        start = self.peek().position
        items = [self.and_expr(default, depth)]
        while self.peek().kind == "OR":
            self.operand_after(self.take())
            items.append(self.and_expr(default, depth))
        return make_or(items, position=start)

    def and_expr(self, default: FieldSpec | None, depth: int) -> Node:
        start = self.peek().position
        items = [self.unary(default, depth)]
        while self.peek().kind == "AND":
            self.operand_after(self.take())
            items.append(self.unary(default, depth))
        return make_and(items, implicit=False, position=start)

    def operand_after(self, operator: Token) -> None:
        """An AND/OR must be followed by something it can combine."""
        following = self.peek()
        if following.kind in ("EOF", "RPAREN", "AND", "OR"):
            raise self.error(f"'{operator.text}' needs a term on its right", following.position)

    def unary(self, default: FieldSpec | None, depth: int) -> Node:
        if depth > MAX_NESTING:
            raise self.error(f"the query nests more than {MAX_NESTING} levels deep", self.peek().position)
        token = self.peek()
        if token.kind == "NOT":
            self.take()
            if self.peek().kind in ("EOF", "RPAREN", "AND", "OR"):
                raise self.error("'NOT' needs a term on its right", self.peek().position)
            return Not(self.unary(default, depth + 1), "NOT", token.position)
        if token.kind == "MINUS":
            self.take()
            following = self.peek()
            if not token.touches(following) or following.kind in ("EOF", "RPAREN", "AND", "OR"):
                raise self.error("'-' must be directly followed by the term it excludes", token.position)
            return Not(self.unary(default, depth + 1), "-", token.position)
        return self.primary(default, depth)

    def primary(self, default: FieldSpec | None, depth: int) -> Node:
        token = self.peek()
        kind = token.kind
        if kind == "LPAREN":
            return self.parenthesised(default, depth)
        if kind == "WORD":
            following = self.peek(1)
            if following.kind == "COLON":
                if not token.touches(following):
                    raise self.error("no space is allowed before ':'", following.position)
                return self.field_clause(depth)
            if following.kind == "COMPARE":
                if not token.touches(following):
                    raise self.error(
                        "comparisons are written without spaces, e.g. attributes.num>5", following.position
                    )
                return self.comparison()
            self.take()
            return self.word_leaf(token, default, self.default_position(default, token))
        if kind == "PHRASE":
            self.take()
            return self.phrase_leaf(token, default, self.default_position(default, token))
        if kind in ("LBRACKET", "LBRACE"):
            if default is None:
                raise self.error("a range needs a field: field:[low TO high]", token.position)
            return self.range(default, self.default_position(default, token))
        if kind in ("AND", "OR"):
            raise self.error(f"'{token.text}' needs a term on its left", token.position)
        if kind == "RPAREN":
            raise self.error("unexpected ')'", token.position)
        if kind == "EOF":
            raise self.error("the query ends where a term was expected", token.position)
        if kind == "COLON":
            raise self.error("':' needs a field name directly before it", token.position)
        if kind == "COMPARE":
            raise self.error(
                f"'{token.text}' needs a field name directly before it, e.g. attributes.num{token.text}5",
                token.position,
            )
        if kind == "MINUS":
            raise self.error("'-' must be directly followed by the term it excludes", token.position)
        raise self.error(f"unexpected '{token.text}'", token.position)

    def default_position(self, default: FieldSpec | None, token: Token) -> int:
        """Where the field of a term is written: its field group's name, or the term itself if bare."""
        return self.group_positions[-1] if default is not None and self.group_positions else token.position

    def parenthesised(self, default: FieldSpec | None, depth: int) -> Node:
        opening = self.take()
        if self.peek().kind == "RPAREN":
            raise self.error("empty parentheses", opening.position)
        node = self.sequence(default, depth + 1)
        if self.peek().kind != "RPAREN":
            raise self.error("unclosed '(': missing ')'", opening.position)
        self.take()
        return node

    # -- fields ----------------------------------------------------------------------------------

    def field_spec(self, token: Token) -> FieldSpec:
        if token.pattern is not None:
            raise self.error("wildcards are not allowed in field names", token.position)
        return resolve_field(token.value, token.position, self.text)

    def field_clause(self, depth: int) -> Node:
        name = self.take()
        spec = self.field_spec(name)
        colon = self.take()
        value = self.peek()
        if value.kind == "EOF":
            raise self.error(f"missing value after '{name.text}:'", colon.end)
        if not colon.touches(value):
            raise self.error("no space is allowed after ':'", colon.end)
        if value.kind == "LPAREN":
            self.group_positions.append(name.position)
            node = self.parenthesised(spec, depth)
            self.group_positions.pop()
        elif value.kind in ("LBRACKET", "LBRACE"):
            node = self.range(spec, name.position)
        elif value.kind == "WORD":
            self.take()
            node = self.word_leaf(value, spec, name.position)
        elif value.kind == "PHRASE":
            self.take()
            node = self.phrase_leaf(value, spec, name.position)
        elif value.kind == "MINUS":
            node = self.negative_number_leaf(spec, name.position)
        elif value.kind in ("AND", "OR", "NOT"):
            raise self.error(
                f"'{value.text}' is an operator: quote it (\"{value.text}\") to search for it as a value",
                value.position,
            )
        else:
            raise self.error(f"expected a value after '{name.text}:'", value.position)
        following = self.peek()
        if following.kind == "COLON" and self.tokens[self.index - 1].touches(following):
            raise self.error("unexpected ':' in a value: escape a literal ':' as '\\:'", following.position)
        return node

    def negative_number_leaf(self, spec: FieldSpec, field_position: int) -> Node:
        minus = self.take()
        number = self.peek()
        if number.kind == "WORD" and minus.touches(number) and is_number("-" + number.text):
            self.take()
            return self.match(spec, "-" + number.value, False, minus.position, field_position)
        raise self.error(
            "a value cannot start with '-': to exclude, write -field:value; for a literal '-', escape it as '\\-'",
            minus.position,
        )

    def comparison(self) -> Node:
        name = self.take()
        spec = self.field_spec(name)
        operator = self.take()
        value = self.peek()
        if value.kind == "EOF":
            raise self.error(f"missing value after '{operator.text}'", operator.end)
        if not operator.touches(value):
            raise self.error(
                f"comparisons are written without spaces, e.g. {name.text}{operator.text}5", operator.end
            )
        if value.kind == "MINUS":
            minus = self.take()
            number = self.peek()
            if not (number.kind == "WORD" and minus.touches(number) and is_number("-" + number.text)):
                raise self.error(f"expected a number after '{operator.text}-'", minus.position)
            self.take()
            text, quoted = "-" + number.value, False
        elif value.kind == "WORD":
            self.take()
            if value.pattern is not None:
                raise self.error("wildcards are not allowed in a comparison", value.position)
            text, quoted = value.value, False
        elif value.kind == "PHRASE":
            self.take()
            text, quoted = value.value, True
        else:
            raise self.error(f"expected a value after '{operator.text}'", value.position)
        self.check_ordered(spec, [text], name.position)
        op = cast(CompareOp, operator.value)
        return Compare(spec.name, op, text, quoted, name.position, name.position)

    def range(self, spec: FieldSpec, field_position: int) -> Node:
        opening = self.take()
        low = self.bound(opening)
        to = self.peek()
        if not (to.kind == "WORD" and to.text == "TO"):
            raise self.error("expected 'TO' in the range, e.g. [75 TO 80]", to.position)
        self.take()
        high = self.bound(opening)
        closing = self.peek()
        if closing.kind not in ("RBRACKET", "RBRACE"):
            raise self.error("unclosed range: expected ']' or '}'", closing.position)
        self.take()
        self.check_ordered(spec, [b.value for b in (low, high) if b is not None], field_position)
        return Range(
            spec.name,
            low,
            high,
            opening.kind == "LBRACKET",
            closing.kind == "RBRACKET",
            opening.position,
            field_position,
        )

    def bound(self, opening: Token) -> Bound | None:
        token = self.peek()
        if token.kind == "WORD":
            self.take()
            if token.text == "*":
                return None
            if token.pattern is not None:
                raise self.error("wildcards are not allowed in a range bound", token.position)
            if token.text == "TO":
                raise self.error("a range bound is missing before 'TO'", token.position)
            return Bound(token.value)
        if token.kind == "PHRASE":
            self.take()
            return Bound(token.value, True)
        if token.kind == "MINUS":
            minus = self.take()
            number = self.peek()
            if number.kind == "WORD" and minus.touches(number) and is_number("-" + number.text):
                self.take()
                return Bound("-" + number.value)
            raise self.error("a range bound cannot start with '-' unless it is a number", minus.position)
        if token.kind in ("RBRACKET", "RBRACE", "EOF"):
            raise self.error("incomplete range: expected [low TO high]", token.position)
        raise self.error(
            f"unexpected '{token.text}' in a range (quote a bound that holds special characters)", token.position
        )

    # -- leaves ----------------------------------------------------------------------------------

    def word_leaf(self, token: Token, spec: FieldSpec | None, field_position: int) -> Node:
        if token.pattern is None:
            return self.match(spec, token.value, False, token.position, field_position)
        if token.text == "*":
            if spec is None:
                return MatchAll(token.position)
            return Exists(spec.name, token.position, field_position)
        if spec is not None and spec.value_type in ("boolean", "number"):
            raise self.field_error(
                f"wildcards cannot match {spec.name}, which holds a {spec.value_type}", spec, token.position
            )
        return Wildcard(spec.name if spec else None, token.pattern, token.position, field_position)

    def phrase_leaf(self, token: Token, spec: FieldSpec | None, field_position: int) -> Node:
        return self.match(spec, token.value, True, token.position, field_position)

    def match(
        self, spec: FieldSpec | None, value: str, quoted: bool, position: int, field_position: int
    ) -> Node:
        if spec is not None:
            if spec.value_type == "boolean" and value.lower() not in _BOOLEANS:
                raise self.field_error(f"{spec.name} is true or false, not '{value}'", spec, position)
            if spec.value_type == "number" and not is_number(value):
                raise self.field_error(f"{spec.name} is a number, not '{value}'", spec, position)
        return Match(spec.name if spec else None, value, quoted, position, field_position)

    def check_ordered(self, spec: FieldSpec, values: list[str], position: int) -> None:
        """Ranges and comparisons need an ordered field and, on numeric fields, numbers."""
        if spec.value_type == "boolean":
            raise self.field_error(f"{spec.name} is true or false: it has no ranges", spec, position)
        if spec.is_package_version:
            raise self.field_error(
                f"{spec.name} is a version string: ranges and comparisons are not supported on it",
                spec,
                position,
            )
        if spec.value_type == "number":
            for value in values:
                if not is_number(value):
                    raise self.field_error(f"{spec.name} is a number, not '{value}'", spec, position)
