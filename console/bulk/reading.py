"""Reading an upload: strict UTF-8 CSV, record by record, in bounded memory.

Python's csv module parses (PostgreSQL's COPY would be faster, but it stops
at the first bad record and cannot say which file line a record started on,
and every problem here must name its line). The file is read twice from its
stream: once to refuse a file that is not UTF-8 text, naming the line of the
first bad byte, and once to parse it; neither holds more than a chunk.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

CHUNK_BYTES = 1 << 20
# A value may be as big as the upload (a note's content is unbounded); the
# csv module's default limit is 128 KiB.
FIELD_SIZE_LIMIT = 2**31 - 1


class UnreadableFile(ValueError):
    """The upload is not UTF-8 CSV text; the message says what to do."""


@dataclass(frozen=True)
class Record:
    line: int  # the file line the record starts on (the header is line 1)
    values: list[str]  # exactly as many as the header has columns
    problem: str | None  # why the record cannot be imported as it is


def check_text(stream: IO[bytes]) -> bool:
    """Refuse a binary or non-UTF-8 file; True if it holds a NUL byte
    (which the parse then pins to its records). Leaves the stream at 0."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    after_cr = False  # the last chunk ended in a CR (its LF may come next)
    has_nul = False
    first = True
    while chunk := stream.read(CHUNK_BYTES):
        if first and (chunk.startswith(b"PK\x03\x04") or b"\x00" in chunk[:4096]):
            raise UnreadableFile(
                "This is a binary file (a spreadsheet?), not CSV text. "
                "Save it as 'CSV UTF-8' and upload that."
            )
        first = False
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # exc.object is this chunk after at most 3 pending bytes of an
            # unfinished character, which hold no newline.
            line = newlines + line_breaks(exc.object[: exc.start], after_cr) + 1
            raise _not_utf8(line) from None
        newlines += line_breaks(chunk, after_cr)
        after_cr = chunk.endswith(b"\r")
        has_nul = has_nul or b"\x00" in chunk
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _not_utf8(newlines + 1) from None
    stream.seek(0)
    return has_nul


def line_breaks(data: bytes, after_cr: bool = False) -> int:
    """The line breaks in `data`: LF, CRLF and a lone CR (a CR-only file,
    as old Mac software writes) each end a line. `after_cr`: the data
    before ended in a CR, so a leading LF completes that CRLF."""
    breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return breaks - 1 if after_cr and data.startswith(b"\n") else breaks


def _not_utf8(line: int) -> UnreadableFile:
    return UnreadableFile(
        f"The file is not UTF-8 text: line {line} has a byte that is not "
        "UTF-8. Save it as 'CSV UTF-8' and upload it again."
    )


class Reader:
    """The header and then the records of a checked stream.

    Quoting is read strictly: a quote that is never closed would otherwise
    swallow the rest of the file into one value. Blank lines are skipped.
    """

    def __init__(self, stream: IO[bytes], *, has_nul: bool) -> None:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._text, strict=True)
        self._has_nul = has_nul
        self._start = 1
        self.header: list[str] = []
        try:
            self.header = next((record for record in self._reader if record), [])
        except csv.Error as exc:
            raise self._error(exc) from None
        self._start = self._reader.line_num + 1

    def __iter__(self) -> Iterator[Record]:
        width = len(self.header)
        try:
            for values in self._reader:
                line, self._start = self._start, self._reader.line_num + 1
                if values:
                    yield self._record(line, values, width)
        except csv.Error as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Let go of the stream without closing it (the caller owns it)."""
        self._text.detach()

    def _record(self, line: int, values: list[str], width: int) -> Record:
        # Fewer values than columns is common (editors drop trailing empty
        # cells) and loses nothing; more would silently drop data.
        problem = None
        if len(values) != width:
            if len(values) > width:
                problem = f"{len(values)} values, but the header has {width} columns"
            values = (values + [""] * width)[:width]
        if self._has_nul:
            nul = next((n for n, value in enumerate(values, 1) if "\x00" in value), 0)
            if nul:
                problem = (
                    problem or f"value {nul} holds a NUL byte, which text cannot hold"
                )
                values = [value.replace("\x00", "") for value in values]
        return Record(line, values, problem)

    def _error(self, exc: csv.Error) -> UnreadableFile:
        error = str(exc)
        if "unexpected end of data" in error:
            return UnreadableFile(
                f"Line {self._start} opens a quoted value that is never closed: "
                "everything after it would be read as one value. Close the quote "
                '(a quote inside a value is written twice: "").'
            )
        return UnreadableFile(
            f"Line {self._reader.line_num} is not valid CSV: {error}."
        )


def normalize_header(names: list[str]) -> list[str]:
    return [str(name or "").lstrip("\ufeff").strip().lower() for name in names]
