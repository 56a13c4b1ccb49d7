r"""Fix: an intrinsic function whose string literal holds an illegal escape is refused.

AWS: in an intrinsic function's string literal the characters ``'``, ``{``, ``}`` and
``\`` are reserved and are escaped with a backslash, and "the following escaped character
sequences are used with intrinsic functions": ``\'``, ``\{``, ``\}``, ``\\`` (Developer
Guide, "Intrinsic functions for JSONPath states", reserved characters); any other
backslash sequence is no escape of the language, and CreateStateMachine refuses the
definition with ``InvalidDefinition`` (LocalStack's AWS-validated scenario
test_escape_sequences_illegal_intrinsic_function, on
``States.StringToJson('{"text":"An \"escaped double quote\" here"}')`` and
``States.Format('He said, \"Hello, {}!\"', ...)``; its snapshot is not among the
recordings here, so the message below is not AWS's wording). moto 5.2.5 accepted them
(``\"`` became ``"``), so such a machine was created and answered differently when run.

Here, at definition time, a string literal of an intrinsic function with any other
escape is an ``ASLParserException``, which moto's backend answers as InvalidDefinition
(with fixes/parser_error_codes, AWS's code and framing). moto's ASL parser hands an
intrinsic function on as the definition's raw JSON text, so the literal is JSON-decoded
before it is checked: a JSON ``\"`` is a plain quote and a JSON ``\n`` a real newline,
both accepted. Not fixed here: moto evaluates the four legal escapes wrongly (``\'``
ends its literal, ``\{`` fails States.Format, ``\\`` stays two backslashes). No moto
issue found.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "intrinsic_escapes"
_TEXT_OF_STR: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.parse.intrinsic.preprocessor",
    "Preprocessor._text_of_str",
    ("parse_tree",),
)
_PARSER_EXCEPTION: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.parse.asl_parser", "ASLParserException"
)
SEAMS: Final[tuple[Seam, ...]] = (_TEXT_OF_STR, _PARSER_EXCEPTION)
#: The escapes intrinsic functions know; a backslash before anything else is illegal.
_LEGAL: Final = frozenset("'{}\\")
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)


def illegal_escapes(literal: str) -> list[str]:
    """The escape sequences of an intrinsic string literal's text (between its quotes, as
    the definition's JSON decodes it) that intrinsic functions do not allow, in order
    (each ``\\\\`` is one legal escape)."""
    return [match.group(0) for match in _ESCAPE.finditer(literal) if match.group(1) not in _LEGAL]


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attribute, original_text_of_str = _TEXT_OF_STR.resolve()
    parser_exception = _PARSER_EXCEPTION.value

    def text_of_str(parse_tree: Any) -> str:
        # moto's ASL parser hands the intrinsic function on as the definition's JSON text:
        # its escapes (\" a quote, \n a newline) are JSON's, decoded first.
        literal = str(parse_tree.getText())
        try:
            text = json.loads(f'"{literal[1:-1]}"')
        except ValueError:
            text = literal[1:-1]
        illegal = illegal_escapes(text)
        if illegal:
            raise parser_exception(
                errors=[
                    f"Illegal escape sequence {illegal[0]!r} in the intrinsic function string "
                    f"literal {literal}: only \\', \\{{, \\}} and \\\\ are escapes there"
                ]
            )
        return str(original_text_of_str(parse_tree))

    with mock.patch.object(owner, attribute, staticmethod(text_of_str)):
        yield
