"""Open documents and the position codec (utf-8 / utf-16 / utf-32 code units).

Every LSP position goes through ``Document.offset_at`` (client units -> string
index) and ``Document.position_at`` (string index -> client units). Positions that
do not exist in the document are errors (``PositionError``), never silently
clamped: a suggestion placed at a guessed position corrupts the user's file.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["utf-8", "utf-16", "utf-32"]

_LINE_BREAKS = ("\r\n", "\n", "\r")


class DocumentError(Exception):
    """A request names a document or position that cannot be served."""


class UnknownDocument(DocumentError):
    def __init__(self, uri: str) -> None:
        super().__init__(
            f"document {uri} is not open on the server; the editor must send "
            "textDocument/didOpen before asking for completions"
        )
        self.uri = uri


class PositionError(DocumentError):
    pass


def _units(ch: str, encoding: Encoding) -> int:
    cp = ord(ch)
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    if encoding == "utf-8":
        if cp < 0x80:
            return 1
        if cp < 0x800:
            return 2
        if cp < 0x10000:
            return 3
        return 4
    return 1


def count_units(text: str, encoding: Encoding) -> int:
    if encoding == "utf-32":
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _line_starts(text: str) -> list[int]:
    starts = [0]
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            starts.append(i + 1)
        elif c == "\r":
            if i + 1 < n and text[i + 1] == "\n":
                i += 1
            starts.append(i + 1)
        i += 1
    return starts


def _fast_line_starts(text: str) -> list[int]:
    if "\r" in text:
        return _line_starts(text)
    starts = [0]
    find = text.find
    i = find("\n")
    while i != -1:
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts


@dataclass
class Document:
    uri: str
    text: str
    version: int = 0
    language_id: str = ""

    def __post_init__(self) -> None:
        self._starts = _fast_line_starts(self.text)

    # -- lines -------------------------------------------------------------
    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line_span(self, line: int) -> tuple[int, int]:
        """(start, end) string offsets of ``line`` without its line break."""
        start = self._starts[line]
        end = self._starts[line + 1] if line + 1 < len(self._starts) else len(self.text)
        for br in _LINE_BREAKS:
            if end - len(br) >= start and self.text.startswith(br, end - len(br)):
                end -= len(br)
                break
        return start, end

    def line_text(self, line: int) -> str:
        s, e = self.line_span(line)
        return self.text[s:e]

    # -- positions ---------------------------------------------------------
    def offset_at(self, line: int, character: int, encoding: Encoding) -> int:
        """String offset of an LSP position; ``PositionError`` if there is none."""
        if line < 0 or character < 0:
            raise PositionError(f"position {line}:{character} is negative")
        if line >= len(self._starts):
            raise PositionError(
                f"line {line} is beyond the end of the document ({len(self._starts)} lines)"
            )
        start, end = self.line_span(line)
        if encoding == "utf-32":
            if character > end - start:
                raise PositionError(
                    f"character {character} is beyond the end of line {line} "
                    f"({end - start} characters)"
                )
            return start + character
        units = 0
        i = start
        while units < character:
            if i >= end:
                raise PositionError(
                    f"character {character} ({encoding} code units) is beyond the end of "
                    f"line {line} ({units} code units)"
                )
            units += _units(self.text[i], encoding)
            i += 1
        if units != character:
            raise PositionError(
                f"character {character} ({encoding} code units) splits a character on line {line}"
            )
        return i

    def position_at(self, offset: int, encoding: Encoding) -> tuple[int, int]:
        if not 0 <= offset <= len(self.text):
            raise PositionError(f"offset {offset} is outside the document")
        line = bisect.bisect_right(self._starts, offset) - 1
        start = self._starts[line]
        return line, count_units(self.text[start:offset], encoding)

    # -- edits -------------------------------------------------------------
    def replace(
        self, start: tuple[int, int], end: tuple[int, int], new_text: str, encoding: Encoding
    ) -> None:
        s = self.offset_at(*start, encoding)
        e = self.offset_at(*end, encoding)
        if e < s:
            raise PositionError(f"edit range end {end} is before its start {start}")
        self.set_text(self.text[:s] + new_text + self.text[e:])

    def set_text(self, text: str) -> None:
        self.text = text
        self._starts = _fast_line_starts(text)


class DocumentStore:
    """The documents the editor has open, keyed by URI."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def open(self, uri: str, text: str, version: int, language_id: str) -> Document:
        doc = Document(uri=uri, text=text, version=version, language_id=language_id)
        self._docs[uri] = doc
        return doc

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def get(self, uri: str) -> Document:
        try:
            return self._docs[uri]
        except KeyError:
            raise UnknownDocument(uri) from None

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __iter__(self):
        return iter(list(self._docs.values()))

    def __len__(self) -> int:
        return len(self._docs)
