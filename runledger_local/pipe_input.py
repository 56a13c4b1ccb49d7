"""A Pipes ``InputTemplate`` applied to one record (``render_input_template``), as the
local pipe runner (pipe_runner.py) hands records to its target."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["InputTemplateError", "render_input_template"]

_PLACEHOLDER = re.compile(r"<(\$[^<>\"\s]*|aws\.pipes\.[A-Za-z0-9.\-]+)>")
_PATH_TOKEN = re.compile(r"\.([A-Za-z0-9_\-/]+|\*)|\[(\d+|\*)\]")
_MISSING = object()


#: StartExecution's limit on an execution's input, in UTF-8 bytes (Step Functions quotas:
#: "Maximum input or output size for a task, state, or execution"): a pipe target input
#: over it starts no run (fixes/execution_input_size; admission refuses such a request).
MAX_EXECUTION_INPUT_BYTES: Final = 262_144


class InputTemplateError(ValueError):
    """An InputTemplate rendered to something that is not valid JSON."""


def _resolve_path(path: str, document: Any) -> Any:
    """Evaluate the JSONPath subset Pipes supports; ``_MISSING`` when nothing matches."""
    if not path.startswith("$"):
        return _MISSING
    rest = path[1:]
    tokens: list[str] = []
    position = 0
    for match in _PATH_TOKEN.finditer(rest):
        if match.start() != position:
            return _MISSING
        tokens.append(match.group(1) if match.group(1) is not None else f"[{match.group(2)}]")
        position = match.end()
    if position != len(rest):
        return _MISSING
    values = [document]
    wildcard = False
    for token in tokens:
        next_values: list[Any] = []
        for value in values:
            if token in ("*", "[*]"):
                wildcard = True
                if isinstance(value, dict):
                    next_values.extend(value.values())
                elif isinstance(value, list):
                    next_values.extend(value)
            elif token.startswith("["):
                index = int(token[1:-1])
                if isinstance(value, list) and index < len(value):
                    next_values.append(value[index])
            elif isinstance(value, dict) and token in value:
                next_values.append(value[token])
        values = next_values
    if wildcard:
        return values
    return values[0] if values else _MISSING


def _string_state_after(text: str, in_string: bool) -> bool:
    """Whether ``text``, read from a position inside/outside a JSON string, ends inside one."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


def render_input_template(
    template: str, event: Mapping[str, Any], variables: Mapping[str, Any] | None = None
) -> Any:
    """Apply a Pipes ``InputTemplate`` to one record and return the value to send.

    Placeholders are ``<$.json.path>`` (dot names, ``[n]``, ``*`` / ``[*]`` wildcards,
    which yield a list) and the reserved ``<aws.pipes.*>`` names found in ``variables``.

    - A template that is exactly one placeholder yields that value (``None`` if missing).
    - A template starting with ``{``, ``[`` or ``"`` is JSON: a placeholder inside a quoted
      string is inserted as text (strings as they are, other values as their JSON), escaped
      for the string, and ``""`` when the path is missing; outside quotes it is inserted as
      JSON (strings quoted, objects and arrays as they are), ``null`` when missing. The
      result must parse as JSON, or ``InputTemplateError`` is raised.
    - Any other template is free text: values are inserted as text; the result is a string.
    """
    reserved = dict(variables or {})

    def lookup(name: str) -> Any:
        if name.startswith("$"):
            return _resolve_path(name, event)
        return reserved.get(name, _MISSING)

    stripped = template.strip()
    whole = _PLACEHOLDER.fullmatch(stripped)
    if whole:
        value = lookup(whole.group(1))
        return None if value is _MISSING else value

    def as_text(value: Any) -> str:
        if value is _MISSING:
            return ""
        return value if isinstance(value, str) else json.dumps(value)

    if not stripped.startswith(("{", "[", '"')):
        return _PLACEHOLDER.sub(lambda m: as_text(lookup(m.group(1))), template)

    parts: list[str] = []
    in_string = False
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[position : match.start()]
        parts.append(literal)
        in_string = _string_state_after(literal, in_string)
        value = lookup(match.group(1))
        if in_string:
            parts.append(json.dumps(as_text(value))[1:-1])
        else:
            parts.append("null" if value is _MISSING else json.dumps(value))
        position = match.end()
    parts.append(template[position:])
    rendered = "".join(parts)
    try:
        return json.loads(rendered)
    except json.JSONDecodeError as error:
        raise InputTemplateError(f"InputTemplate rendered invalid JSON: {error}") from error
