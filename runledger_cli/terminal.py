"""What reaches the terminal: text from the table, escaped.

A run id, a reason or a cause comes from whoever wrote the table item. Printed raw, a
control character or a bidirectional override in it could rewrite what the terminal
shows (an ESC sequence recolouring or clearing lines, U+202E reversing the rest of a
line). ``runledger`` writes its standard output and error through ``EscapingStream``: such
characters appear as ``\\x1b``, ``\\u202e`` or ``\\U000e0041``; newlines and tabs, and
every printable character in any script, are kept.
"""

from __future__ import annotations

from typing import Any, Final, TextIO

#: Kept though Python does not call them printable: they lay out lines, not rewrite them.
_LAYOUT: Final = frozenset("\n\t")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escaped(text: str) -> str:
    """``text`` with every character that could change the terminal's display escaped:
    every one Python's ``str.isprintable`` refuses (as ``repr`` escapes them) but newline
    and tab. That is controls (C0, DEL, C1), format characters (bidirectional marks,
    embeddings, overrides and isolates, the Arabic letter mark, zero-width and invisible
    ones, soft hyphens, tags, the BOM), separators other than the space (line, paragraph,
    no-break), private-use and unassigned code points, and lone surrogates."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in _LAYOUT else _escape(c) for c in text)


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
