"""Splitting query text into tokens, rejecting the characters and operators AWS does not support.

Words are runs of characters up to whitespace or one of ``( ) [ ] { } " : < >``. A backslash makes the next
character literal (``telemetry\\-agent``, ``a\\:b``). ``-`` and ``+`` are ordinary characters inside a word;
at the start of a token ``-`` is the exclusion operator. ``AND``, ``OR`` and ``NOT`` are operators only when
written in capitals and without escapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from iotfleet.query.errors import QuerySyntaxError, UnsupportedSyntaxError

TokenKind = Literal[
    "WORD",
    "PHRASE",
    "LPAREN",
    "RPAREN",
    "LBRACKET",
    "RBRACKET",
    "LBRACE",
    "RBRACE",
    "COLON",
    "COMPARE",
    "MINUS",
    "AND",
    "OR",
    "NOT",
    "EOF",
]

_SINGLE: dict[str, TokenKind] = {
    "(": "LPAREN",
    ")": "RPAREN",
    "[": "LBRACKET",
    "]": "RBRACKET",
    "{": "LBRACE",
    "}": "RBRACE",
    ":": "COLON",
}
_KEYWORDS: dict[str, TokenKind] = {"AND": "AND", "OR": "OR", "NOT": "NOT"}
_WORD_END = set('()[]{}":<>')
_WILDCARDS = ("*", "?")

# Characters that are never part of an unescaped word, with the reason given to the user.
_UNSUPPORTED = {
    "/": "regular expressions are not supported ('/' is reserved); escape a literal '/' as '\\/'",
    "~": "fuzzy and proximity searches ('~') are not supported",
    "^": "boosting ('^') is not supported",
    "!": "'!' is not supported: use NOT",
    "&": "'&' is not supported: use AND",
    "|": "'|' is not supported: use OR",
    "=": "'=' is not an operator: write field:value, or field>=value (escape a literal '=' as '\\=')",
    "`": "the character '`' is not supported outside quotes",
    "@": "the character '@' is not supported outside quotes (escape it as '\\@')",
    "#": "the character '#' is not supported outside quotes (escape it as '\\#')",
    "%": "the character '%' is not supported outside quotes (escape it as '\\%')",
    ";": "the character ';' is not supported outside quotes",
    ",": "the character ',' is not supported outside quotes (it is only for geo queries)",
    "'": "single quotes are not supported: use double quotes for a phrase",
}
SPECIAL_CHARACTERS = frozenset(_WORD_END | set(_UNSUPPORTED) | {"\\", "*", "?"})


@dataclass(frozen=True)
class Token:
    """One token. For words, ``value`` is the text with escapes removed and ``pattern`` the wildcard
    pattern (escapes kept only for literal ``*``, ``?`` and ``\\``) when the word has unescaped wildcards."""

    kind: TokenKind
    text: str
    position: int
    end: int
    value: str = ""
    pattern: str | None = None
    escaped: bool = False

    def touches(self, other: Token) -> bool:
        """Whether ``other`` starts right where this token ends, with no whitespace between."""
        return self.end == other.position


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an EOF token; raises a :class:`QuerySyntaxError` subclass."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        text = self.text
        while self.index < len(text):
            char = text[self.index]
            start = self.index
            if char.isspace():
                self.index += 1
            elif char in _SINGLE:
                self._emit(_SINGLE[char], start, start + 1)
            elif char in "<>":
                end = start + 2 if text[start + 1 : start + 2] == "=" else start + 1
                self._emit("COMPARE", start, end, value=text[start:end])
            elif char == '"':
                self._phrase()
            elif char == "-":
                self._emit("MINUS", start, start + 1)
            elif char == "+":
                raise UnsupportedSyntaxError(
                    "the '+' (required) operator is not supported: terms are required by default",
                    start,
                    text,
                )
            elif char in _UNSUPPORTED:
                raise self._unsupported(char, start)
            else:
                self._word()
        self.tokens.append(Token("EOF", "", len(text), len(text)))
        return self.tokens

    def _emit(self, kind: TokenKind, start: int, end: int, value: str = "") -> None:
        self.tokens.append(Token(kind, self.text[start:end], start, end, value=value))
        self.index = end

    def _unsupported(self, char: str, position: int) -> UnsupportedSyntaxError:
        message = _UNSUPPORTED[char]
        if char in "&|" and self.text[position + 1 : position + 2] == char:
            message = f"'{char * 2}' is not supported: use {'AND' if char == '&' else 'OR'}"
        return UnsupportedSyntaxError(message, position, self.text)

    def _phrase(self) -> None:
        text, start = self.text, self.index
        chars: list[str] = []
        index = start + 1
        while index < len(text):
            char = text[index]
            if char == "\\":
                if index + 1 >= len(text):
                    break
                chars.append(text[index + 1])
                index += 2
            elif char == '"':
                if not chars:
                    raise QuerySyntaxError("empty phrase: put a value between the quotes", start, text)
                self._emit("PHRASE", start, index + 1, value="".join(chars))
                return
            else:
                chars.append(char)
                index += 1
        raise QuerySyntaxError("unterminated phrase: missing closing '\"'", start, text)

    def _word(self) -> None:
        text, start = self.text, self.index
        value: list[str] = []
        pattern: list[str] = []
        wild = escaped = False
        index = start
        while index < len(text):
            char = text[index]
            if char.isspace() or char in _WORD_END:
                break
            if char == "\\":
                if index + 1 >= len(text):
                    raise QuerySyntaxError("a '\\' at the end of the query escapes nothing", index, text)
                literal = text[index + 1]
                value.append(literal)
                pattern.append("\\" + literal if literal in "*?\\" else literal)
                escaped = True
                index += 2
                continue
            if char in _UNSUPPORTED:
                raise self._unsupported(char, index)
            if char in _WILDCARDS:
                wild = True
            value.append(char)
            pattern.append(char)
            index += 1
        raw = text[start:index]
        kind: TokenKind = "WORD"
        if not escaped and raw in _KEYWORDS:
            kind = _KEYWORDS[raw]
        self.tokens.append(
            Token(
                kind,
                raw,
                start,
                index,
                value="".join(value),
                pattern="".join(pattern) if wild else None,
                escaped=escaped,
            )
        )
        self.index = index
