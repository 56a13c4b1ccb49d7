"""Request files ``runledger local run`` refuses before the local cloud starts, in this
process (tests/fuzz_checks.py's ``cli_in_process``: the cloud is a stand-in that only
says it was asked for): the failing examples of the fuzz tier (tests/fuzz), kept. Each is
refused with exit 2 and a message naming the file and the cause, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_checks import cli_in_process

PREFIX = b'{"pk": "RUN#refused", "sk": "REQUEST", "status": "REQUESTED", '


def nested(levels: int) -> bytes:
    return PREFIX + b'"d": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # Python's JSON reader refuses integers of more than 4,300 digits (ValueError).
        (PREFIX + b'"n": ' + b"7" * 4301 + b"}", "a number of more than 4,300 digits"),
        (nested(100_000), "nested too deeply to read (DynamoDB takes at most 32 levels)"),
        # Read, but too deep to convert to DynamoDB JSON (RecursionError in the admission).
        (nested(990), "attribute 'd': Nesting Levels have exceeded supported limits"),
        (nested(400), "attribute 'd': Nesting Levels have exceeded supported limits"),
        # JSON can write a lone surrogate, UTF-8 cannot (UnicodeEncodeError sizing it).
        (PREFIX + b'"notes": "\\ud800"}', "attribute 'notes' holds text that is not Unicode"),
        (PREFIX + b'"\\udfff": 1}', "attribute '\\udfff' holds text that is not Unicode"),
        (PREFIX + b'"input": {"uri": ["\\ud83d"]}}', "attribute 'input' holds text that is not"),
    ],
    ids=[
        "4301-digits",
        "100000-levels",
        "990-levels",
        "400-levels",
        "surrogate-value",
        "surrogate-name",
        "surrogate-nested",
    ],
)
def test_a_request_file_python_cannot_read_or_convert_is_refused_not_a_traceback(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "hostile.json"
    path.write_bytes(content)

    code, out, err = cli_in_process(path)

    assert code == 2, err
    assert err.startswith(f"runledger: error: {path}: ")
    assert message in err
    assert err.count("\n") == 1  # one line, no traceback
    assert "starting the local cloud" not in out


@pytest.mark.parametrize("name", ["line\nbreak.json", "tab\there.json", "plain.json"])
def test_a_refusal_is_one_line_whatever_the_file_is_called(tmp_path: Path, name: str) -> None:
    """Found by the fuzz tier: argparse's usage line came first, and a newline in a file's
    name broke the message in two."""
    path = tmp_path / name
    path.write_bytes(b"[]")

    code, _, err = cli_in_process(path)

    assert code == 2
    assert err.splitlines() == [
        f"runledger: error: {tmp_path}/{name.replace(chr(10), '\\x0a').replace(chr(9), '\\x09')}"
        ": a request is one JSON object (a table item), not an array"
    ]
