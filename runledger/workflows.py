"""The workload registry: which workloads a run request may name, and what each one needs.

A workload is declared once, in template.yaml: a job definition named
``<stack>-workload-<name>`` whose ``Metadata.Workload`` gives its name, description, the
JSON Schema of a request's ``input``, the container environment each input property
becomes, and which properties are locations the job reads. ``make workloads`` copies
every declaration into ``workloads.json`` beside this module (the Lambda functions cannot
read the template; a test keeps the copy current), and this module builds each one's
input model from it. Adding a workload changes no Python.

The input schema is a subset of JSON Schema, translated into a strict pydantic model so
that an input is checked exactly as the rest of the request is (same messages, each
naming its attribute): ``type: object`` with ``properties`` and ``required``, no other
property allowed; each property a ``string``, ``integer``, ``number`` or ``boolean`` with
``minimum``, ``maximum``, ``minLength``, ``maxLength``, ``pattern``, ``enum``,
``description`` and, for strings, ``format: location`` (``s3://bucket/key``, or a local
path offline). Anything else is refused when the registry loads (``WorkloadError``).

``RUNLEDGER_WORKLOADS`` names another file to read (the local cloud writes one from the
template it runs, so that a changed template needs no ``make workloads`` offline).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from runledger.storage import LocationError, parse_location

#: The catalogue file's name, beside this module.
WORKLOADS_FILE = "workloads.json"
#: The variable naming another catalogue file (the local cloud's, from its template).
WORKLOADS_ENV = "RUNLEDGER_WORKLOADS"

_TYPES: Mapping[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
_NUMERIC = frozenset({"minimum", "maximum"})
_TEXT = frozenset({"minLength", "maxLength", "pattern", "format"})
_COMMON = frozenset({"type", "description", "enum"})
_ROOT = frozenset({"type", "required", "properties", "description"})


class WorkloadError(ValueError):
    """A workload declaration this module cannot use (an unsupported schema keyword, an
    environment variable naming no input property, ...)."""


class UnknownWorkflowError(ValueError):
    """A workflow name that is not a declared workload."""


def _is_location(uri: str) -> str:
    try:
        parse_location(uri)
    except LocationError as exc:
        raise PydanticCustomError("location", "{problem}", {"problem": str(exc)}) from exc
    return uri


def _property_type(workload: str, name: str, schema: Mapping[str, Any]) -> Any:
    """The pydantic annotation for one input property's schema."""
    where = f"workload {workload!r}: input property {name!r}"
    kind = str(schema.get("type"))
    if kind not in _TYPES:
        raise WorkloadError(f"{where}: type must be one of {', '.join(_TYPES)}, got {kind!r}")
    allowed = _COMMON | (_NUMERIC if kind in ("integer", "number") else set())
    allowed |= _TEXT if kind == "string" else set()
    unknown = sorted(set(schema) - allowed)
    if unknown:
        raise WorkloadError(f"{where}: unsupported keyword(s) {', '.join(unknown)}")
    if "format" in schema and schema["format"] != "location":
        raise WorkloadError(f"{where}: the only format is 'location', got {schema['format']!r}")
    if "enum" in schema:
        values = tuple(schema["enum"])
        if not values or any(not isinstance(v, _TYPES[kind]) for v in values):
            raise WorkloadError(f"{where}: enum must list {kind} values")
        annotation: Any = Literal[values]
    else:
        annotation = float | int if kind == "number" else _TYPES[kind]
    field = Field(
        description=schema.get("description"),
        ge=schema.get("minimum"),
        le=schema.get("maximum"),
        min_length=schema.get("minLength"),
        max_length=schema.get("maxLength"),
        pattern=schema.get("pattern"),
    )
    if schema.get("format") == "location":
        return Annotated[annotation, field, AfterValidator(_is_location)]
    return Annotated[annotation, field]


def input_model(workload: str, schema: Mapping[str, Any]) -> type[BaseModel]:
    """The strict pydantic model of a workload's ``input`` schema (the subset above)."""
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        raise WorkloadError(f"workload {workload!r}: input must be type: object with properties")
    unknown = sorted(set(schema) - _ROOT)
    if unknown:
        raise WorkloadError(f"workload {workload!r}: input has unsupported keyword(s) {unknown}")
    required = set(schema.get("required", ()))
    properties = schema["properties"]
    missing = sorted(required - set(properties))
    if missing:
        raise WorkloadError(f"workload {workload!r}: required names no property: {missing}")
    fields: dict[str, Any] = {}
    for name, spec in properties.items():
        annotation = _property_type(workload, name, spec)
        fields[name] = (annotation, ...) if name in required else (annotation | None, None)
    return create_model(
        f"{workload} input",
        __config__=ConfigDict(extra="forbid", strict=True, frozen=True),
        __doc__=schema.get("description"),
        **fields,
    )


def _text(value: object) -> str:
    """An input value as the container's environment holds it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Workflow:
    """One declared workload.

    Attributes:
        name: the value of a request's ``workflow`` attribute.
        description: one line for docs and the CLI.
        input_model: the pydantic model of the request's ``input``.
        environment: container variable -> the input property it holds.
        reads: the input properties that are locations the job reads.
    """

    name: str
    description: str
    input_model: type[BaseModel]
    environment: Mapping[str, str]
    reads: tuple[str, ...]

    def validated(self, raw_input: Mapping[str, Any] | BaseModel) -> BaseModel:
        """``raw_input`` checked against the input model (raises pydantic's ValidationError)."""
        if isinstance(raw_input, BaseModel):
            raw_input = raw_input.model_dump()
        return self.input_model.model_validate(raw_input)

    def job_environment(self, raw_input: Mapping[str, Any] | BaseModel) -> dict[str, str]:
        """Validate ``raw_input`` and build the job's workload-specific environment (a
        property left out of the input leaves its variable out)."""
        data = self.validated(raw_input)
        values = {name: getattr(data, prop) for name, prop in self.environment.items()}
        return {name: _text(value) for name, value in values.items() if value is not None}

    def inputs(self, raw_input: Mapping[str, Any] | BaseModel) -> dict[str, str]:
        """The locations the job reads, by their property in ``input``."""
        data = self.validated(raw_input)
        values = {prop: getattr(data, prop) for prop in self.reads}
        return {prop: value for prop, value in values.items() if value is not None}


def workflow_from_declaration(declaration: Mapping[str, Any]) -> Workflow:
    """A ``Workflow`` from one ``Metadata.Workload`` declaration (see the module)."""
    name = declaration.get("Name")
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"a workload declaration needs a Name, got {name!r}")
    model = input_model(name, declaration.get("Input") or {})
    environment = dict(declaration.get("Environment") or {})
    reads = tuple(declaration.get("Reads") or ())
    for what, props in (("Environment", environment.values()), ("Reads", reads)):
        unknown = sorted(set(props) - set(model.model_fields))
        if unknown:
            raise WorkloadError(f"workload {name!r}: {what} names no input property: {unknown}")
    return Workflow(
        name=name,
        description=str(declaration.get("Description") or ""),
        input_model=model,
        environment=environment,
        reads=reads,
    )


@cache
def _load(path: str | None) -> dict[str, Workflow]:
    if path:
        with open(path, encoding="utf-8") as file:
            declarations = json.load(file)
    else:
        text = resources.files("runledger").joinpath(WORKLOADS_FILE).read_text(encoding="utf-8")
        declarations = json.loads(text)
    found = [workflow_from_declaration(d) for d in declarations]
    return {workflow.name: workflow for workflow in found}


def workflows() -> Mapping[str, Workflow]:
    """Every declared workload, by name (``RUNLEDGER_WORKLOADS``, else ``workloads.json``)."""
    return _load(os.environ.get(WORKLOADS_ENV) or None)


def get_workflow(name: str) -> Workflow:
    """The declared workload called ``name``.

    Raises:
        UnknownWorkflowError: no such workload.
    """
    known = workflows()
    try:
        return known[name]
    except KeyError:
        raise UnknownWorkflowError(
            f"unknown workflow {name!r}; known: {', '.join(sorted(known))}"
        ) from None
