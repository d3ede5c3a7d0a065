"""Reading an uploaded file's text: pure, no database."""

from __future__ import annotations

import io

import pytest

from console.bulk import reading


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_a_byte_that_is_not_utf8_is_reported_on_its_line(newline):
    """In a CR-only file too (only LF was counted: line 1)."""
    data = newline.join([b"name,bio", b"Ada,ok", b"Bob,caf\xe9", b""])
    with pytest.raises(reading.UnreadableFile, match="line 3 has a byte"):
        reading.check_text(io.BytesIO(data))


def test_line_breaks_count_crlf_once_even_across_chunks():
    assert reading.line_breaks(b"a\r\nb\rc\n") == 3
    assert reading.line_breaks(b"a\r") == 1
    assert reading.line_breaks(b"\nb", after_cr=True) == 0
