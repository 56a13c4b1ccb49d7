"""Fix: a string in ``Assign`` is the JSON string the definition wrote, escapes decoded.

moto 5.2.5 keeps an Assign string literal as its raw JSON text without the quotes, so
``"jsonString": "{\\"key\\":\\"value\\"}"`` is assigned with its backslashes and
``States.StringToJson($jsonString)`` then fails with a JSONDecodeError (States.Runtime).
AWS assigns the decoded string: the recorded answer for that definition (LocalStack's
AWS-validated snapshot, BASE_REFERENCE_IN_INTRINSIC_FUNCTION) is
``"parsedJson": {"key": "value"}``; the Amazon States Language is JSON, so a string
is what JSON decodes it to (the ASL specification, "Structure of a State Machine").
Other string fields go through moto's ``from_string_literal``, which decodes escapes.
No moto issue found.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "assign_literals"

_PREPROCESSOR: Final = "moto.stepfunctions.parser.asl.parse.preprocessor"
_STRING_LITERAL: Final = Seam(
    NAME,
    _PREPROCESSOR,
    "Preprocessor.visitAssign_template_value_terminal_string_literal",
    ("self", "ctx"),
)
_STRING_JSONATA: Final = Seam(
    NAME,
    _PREPROCESSOR,
    "Preprocessor.visitAssign_template_value_terminal_string_jsonata",
    ("self", "ctx"),
)
_LIT: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.common.assign.assign_template_value_terminal",
    "AssignTemplateValueTerminalLit",
)


def _decoded(original: Callable[..., Any], child: str, lit: Any) -> Callable[..., Any]:
    """The visitor, with a literal's string value decoded as JSON from its token text."""

    def visit(self: Any, ctx: Any) -> Any:
        component = original(self, ctx)
        if not isinstance(component, lit) or not isinstance(component.value, str):
            return component  # a JSONata expression (JSONata mode): evaluated, not kept
        try:
            value = json.loads(getattr(ctx, child)().getText())
        except (ValueError, AttributeError):
            return component
        return lit(value=value) if isinstance(value, str) else component

    return visit


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    _, _, lit = _LIT.resolve()
    with contextlib.ExitStack() as stack:
        for seam, child in (
            (_STRING_LITERAL, "string_literal"),
            (_STRING_JSONATA, "string_jsonata"),
        ):
            owner, attr, original = seam.resolve()
            stack.enter_context(mock.patch.object(owner, attr, _decoded(original, child, lit)))
        yield


SEAMS: Final[tuple[Seam, ...]] = (_STRING_LITERAL, _STRING_JSONATA, _LIT)
