"""What reaches the terminal: text from the table, escaped.

A run id, a reason or a cause comes from whoever wrote the table item. Printed raw, a
control character or a bidirectional override in it could rewrite what the terminal
shows (an ESC sequence recolouring or clearing lines, U+202E reversing the rest of a
line). ``runledger`` writes its standard output and error through ``EscapingStream``: such
characters appear as ``\\x1b`` or ``\\u202e``; newlines and tabs, and every printable
character in any script, are kept.
"""

from __future__ import annotations

import re
from typing import Any, Final, TextIO

#: C0 controls but tab and newline, DEL and C1 controls, zero-width and directional
#: marks, bidirectional embeddings, overrides and isolates, line/paragraph separators, BOM.
UNSAFE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escaped(text: str) -> str:
    """``text`` with every character that could change the terminal's display escaped."""
    return UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """``text`` escaped, its newlines and tabs too (``\\x0a``, ``\\x09``): one line of
    output, whatever it holds (an error naming a file, a run id in a table's row)."""
    return escaped(text).replace("\n", "\\x0a").replace("\t", "\\x09")


class EscapingStream:
    """A text stream that escapes (``escaped``) what is written to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escaped(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self._stream, name)
