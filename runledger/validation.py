"""Decide whether a request item can run, and if not, say why in words a person can act on.

The input is the REQUEST item (DynamoDB JSON, as StartRun's claim returns it) and its
``pk``. The result is a ``ValidationResult``: valid with the normalized ``RunRequest``, or
invalid with a reason of one line per problem, each naming the attribute
(``variants.1.name: duplicate variant name "od-1vcpu"``), and in both cases the claim's
``attempt``. Nothing a user can write into the table makes this raise: an invalid request
is an outcome the state machine records, not an error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from runledger.dynamo import from_dynamodb_json
from runledger.models import (
    IGNORED_ATTRIBUTES,
    MAX_REQUEST_BYTES,
    RunRequest,
    run_id_from_pk,
)
from runledger.storage import parse_location
from runledger.workflows import get_workflow, workflows

logger = Logger(child=True)


class RunLimits(BaseModel):
    """What bounds a run's duration, as the StartRun state passes them."""

    model_config = ConfigDict(extra="ignore")

    run_timeout_seconds: int = Field(gt=0, description="The execution's TimeoutSeconds.")
    max_concurrency: int = Field(ge=0, description="The Map's MaxConcurrency (0: no limit).")
    job_attempts: int = Field(ge=1, description="Batch attempts per job.")
    job_queue_seconds: int = Field(
        ge=0, description="RunJob's allowance for queueing and task starts, per job."
    )


class ValidationResult(BaseModel):
    """validate_request's result: ``{"valid", "request", "reason"}``."""

    valid: bool
    request: RunRequest | None = Field(description="The normalized request when valid.")
    reason: str | None = Field(description="One line per problem when invalid (<= 1000 chars).")
    attempt: int = Field(default=1, ge=1, description="This claim's attempt (next_attempt).")


#: Longest reason returned (the state machine writes it on the item).
MAX_REASON_CHARS = 1000
_MAX_LINE_CHARS = 300

_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown attribute",
    # pydantic's says "a valid dictionary or instance of <the model's Python class>".
    "model_type": "Input should be a map of attributes",
    "dict_type": "Input should be a map of attributes",
}


#: A whole ``attempt`` the next claim counts on; anything else starts again at 1.
_ATTEMPT = re.compile(r"[0-9]{1,9}")


def next_attempt(image: object) -> int:
    """This claim's attempt: the item's ``attempt`` + 1, or 1 when it is absent, not a
    whole number (reported as a problem: it must not fail the run) or over 9 digits (no
    run gets there: counting on could pass DynamoDB's 38 digits). Never raises."""
    attempt = image.get("attempt") if isinstance(image, Mapping) else None
    number = attempt.get("N") if isinstance(attempt, Mapping) else None
    if isinstance(number, str) and _ATTEMPT.fullmatch(number):
        return int(number) + 1
    return 1


def request_size(image: Any) -> int:
    """Size in bytes of the item as compact UTF-8 JSON of its DynamoDB JSON."""
    text = json.dumps(image, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode("utf-8"))


def validate_request(
    pk: object,
    image: object,
    input_locations: Sequence[str] | None = None,
    limits: RunLimits | None = None,
) -> ValidationResult:
    """Validate a request item given its key ``pk`` and the item (DynamoDB JSON).

    ``pk`` may be ``None``; the image's own ``pk`` is used then. ``input_locations`` are
    the URI prefixes the job may read (its role's S3 read grants, ``file://`` offline); an
    input outside them would fail in the job, so the request is invalid. A request whose
    worst case (``worst_case_seconds``) exceeds ``limits.run_timeout_seconds`` would be cut
    off by the execution's timeout, so it is invalid too. None: unchecked. Never raises.
    """
    try:
        run_id, outcome = _check(pk, image)
        if isinstance(outcome, RunRequest) and input_locations is not None:
            outcome = unreadable_inputs(outcome, input_locations) or outcome
        if isinstance(outcome, RunRequest) and limits is not None:
            outcome = _too_long(outcome, limits) or outcome
    except Exception as exc:  # bad input must end as a reason, never as an error
        logger.warning("request could not be checked", extra={"pk": repr(pk)[:200]}, exc_info=True)
        run_id, outcome = None, [f"request: could not be read ({type(exc).__name__}: {exc})"]
    attempt = next_attempt(image)
    if isinstance(outcome, RunRequest):
        logger.info("request is valid", extra={"run_id": run_id})
        return ValidationResult(valid=True, request=outcome, reason=None, attempt=attempt)
    reason = format_reason(outcome)
    logger.info("request is invalid", extra={"run_id": run_id, "reason": reason})
    return ValidationResult(valid=False, request=None, reason=reason, attempt=attempt)


def readable_uri(uri: str) -> str:
    """``uri`` as the prefixes name it: ``s3://bucket/key``, or ``file://`` + absolute path."""
    location = parse_location(uri)
    return uri if location.scheme == "s3" else "file://" + location.path


def unreadable_inputs(request: RunRequest, input_locations: Sequence[str]) -> list[str]:
    """One problem per input of ``request`` outside every prefix of ``input_locations``."""
    workflow = get_workflow(request.workflow)
    where = " or ".join(input_locations) or "nowhere"
    problems = []
    for field, uri in workflow.inputs(request.input).items():
        if not any(readable_uri(uri).startswith(prefix) for prefix in input_locations):
            problems.append(
                f"input.{field}: the job cannot read {_short(uri)}; it may read only under "
                f"{where} (upload the input there, or deploy with InputBucketName)"
            )
    return problems


def worst_case_seconds(request: RunRequest, limits: RunLimits) -> int:
    """The longest the variants may take: the Map runs them in waves of MaxConcurrency,
    and each job may use every attempt up to its timeout, plus RunJob's queueing allowance.
    A bound, not a forecast: every wave is counted at the longest variant."""
    waves, longest = _waves_and_longest(request, limits)
    return waves * (longest * limits.job_attempts + limits.job_queue_seconds)


def _waves_and_longest(request: RunRequest, limits: RunLimits) -> tuple[int, int]:
    count = len(request.variants)
    waves = math.ceil(count / limits.max_concurrency) if limits.max_concurrency else 1
    return waves, max(v.timeout_seconds for v in request.variants)


def _too_long(request: RunRequest, limits: RunLimits) -> list[str]:
    worst = worst_case_seconds(request, limits)
    if worst <= limits.run_timeout_seconds:
        return []
    waves, longest = _waves_and_longest(request, limits)
    return [
        f"variants: the worst case takes {worst} s ({waves} wave(s) of up "
        f"to {limits.max_concurrency or len(request.variants)} variants, each {longest} s x "
        f"{limits.job_attempts} attempts + {limits.job_queue_seconds} s queueing), over the "
        f"run's limit of {limits.run_timeout_seconds} s; lower timeout_seconds or run fewer "
        "variants"
    ]


def _check(pk: object, image: object) -> tuple[str | None, RunRequest | list[str]]:
    """Return the run id (if known) and the valid request or the list of problems."""
    if not isinstance(image, Mapping):
        return None, ["image: must be a DynamoDB item (an object of attribute values)"]
    size = request_size(image)
    if size > MAX_REQUEST_BYTES:
        sizes = {name: request_size({name: value}) for name, value in image.items()}
        largest = max(sizes, key=sizes.__getitem__)
        return None, [
            f"request is {size} bytes; the limit is {MAX_REQUEST_BYTES} (its largest "
            f"attribute, {largest}, is {sizes[largest]} bytes)"
        ]
    item: dict[str, Any] = {}
    for name, value in image.items():  # one by one, to name the attribute
        try:
            item.update(from_dynamodb_json({name: value}))
        except ArithmeticError:  # decimal's signals: their text is a list of classes
            return None, [f"{name}: not valid DynamoDB JSON (a number DynamoDB cannot store)"]
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            return None, [f"{name}: not valid DynamoDB JSON ({exc})"]

    problems: list[str] = _workflow_attribute_problems(image)
    if pk is None:
        pk = item.get("pk")
    run_id: str | None = None
    if not isinstance(pk, str):
        problems.append("pk: required, a string like RUN#<run_id>")
    else:
        try:
            run_id = run_id_from_pk(pk)
        except ValueError as exc:
            problems.append(f"pk: {exc}, got {_short(pk)}")
    if "run_id" in item:
        problems.append("run_id: not an attribute of a request; the run id comes from pk")

    fields = {
        name: value
        for name, value in item.items()
        if name not in IGNORED_ATTRIBUTES and name != "run_id"
    }
    if run_id is not None:
        fields["run_id"] = run_id
    try:
        request = RunRequest.model_validate(fields)
    except ValidationError as exc:
        # The input's summary error gives way to its problems, each by attribute.
        errors = [e for e in exc.errors(include_url=False) if e["type"] != "workflow_input"]
        errors = sorted([*errors, *_input_errors(fields)], key=_field_order)  # as written
        described = _describe_errors(errors, run_id_known=run_id is not None)
        # pydantic checks unique names only once every variant is valid; say it anyway.
        for line in [*described, *_duplicate_names(fields.get("variants"))]:
            if line not in problems:
                problems.append(line)
    else:
        if not problems:
            return run_id, request
    return run_id, problems


def _field_order(error: ErrorDetails) -> int:
    """Where the error's field comes in RunRequest (its problems are reported that way)."""
    order = list(RunRequest.model_fields)
    first = error["loc"][0] if error["loc"] else None
    return order.index(first) if first in order else len(order)


def _input_errors(fields: Mapping[str, Any]) -> list[ErrorDetails]:
    """The problems of ``fields["input"]`` against its workload's model, located under
    ``input`` (none when the workload is unknown or the input is not a map: the request's
    own errors say so)."""
    name, raw = fields.get("workflow"), fields.get("input")
    known = workflows()
    if not isinstance(name, str) or name not in known or not isinstance(raw, Mapping):
        return []
    try:
        known[name].validated(raw)
    except ValidationError as exc:
        return [
            ErrorDetails(**{**error, "loc": ("input", *error["loc"])})
            for error in exc.errors(include_url=False)
        ]
    return []


#: DynamoDB type key -> what a person calls it.
_TYPE_NAMES = {
    "S": "a string",
    "N": "a number",
    "B": "binary",
    "BOOL": "a boolean",
    "NULL": "null",
    "M": "a map",
    "L": "a list",
    "SS": "a string set",
    "NS": "a number set",
    "BS": "a binary set",
}


def _workflow_attribute_problems(image: Mapping[str, Any]) -> list[str]:
    """Attributes the workflow itself keeps on the item, written with the wrong type.

    ``attempt`` counts the run's attempts (``next_attempt``: the item's + 1). The run goes
    on whatever it holds (counting from 1 again), so that such a request ends INVALID with
    this reason instead of failing and staying unfinished.
    """
    attempt = image.get("attempt")
    if attempt is None:
        return []
    kinds = list(attempt) if isinstance(attempt, Mapping) else []
    if kinds == ["N"]:
        if str(attempt["N"]).isdigit():
            return []
        got = f"the number {_short(str(attempt['N']))}"
    elif len(kinds) == 1:
        got = _TYPE_NAMES.get(kinds[0], "not a DynamoDB value")
    else:
        got = "not valid"
    return [
        "attempt: written by the workflow (the run's attempt count), so it must be a whole "
        f"number or absent; got {got}"
    ]


def _duplicate_names(variants: object) -> list[str]:
    """``variants.<i>.name: duplicate variant name "x"`` for every repeat in the raw list."""
    if not isinstance(variants, list):
        return []
    seen: set[str] = set()
    lines = []
    for index, variant in enumerate(variants):
        name = variant.get("name") if isinstance(variant, Mapping) else None
        if isinstance(name, str):
            if name in seen:
                lines.append(f'variants.{index}.name: duplicate variant name "{_clip(name)}"')
            seen.add(name)
    return lines


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_errors(errors: list[ErrorDetails], *, run_id_known: bool) -> list[str]:
    unknown_workflow = any(error["loc"][:1] == ("workflow",) for error in errors)
    lines: list[str] = []
    for error in errors:
        loc = list(error["loc"])
        if loc[:1] == ["run_id"]:
            if not run_id_known:
                continue  # already reported as a pk problem
            loc[0] = "pk"
        if unknown_workflow and loc[:1] == ["input"] and loc != ["input"]:
            continue  # input cannot be judged without a known workflow
        ctx = error.get("ctx") or {}
        message = _MESSAGES.get(error["type"], error["msg"])
        if error["type"] == "duplicate_variant_name":
            loc += [ctx["index"], "name"]
        elif "attribute" in ctx:  # raised for the variant as a whole (compute.problems)
            loc.append(ctx["attribute"])
        elif loc == ["pk"] and error["type"] == "string_pattern_mismatch":
            message = f"run id {_short(str(error['input']))} must match {ctx['pattern']}"
        path = ".".join(str(part) for part in loc) or "request"
        lines.append(f"{path}: {message}")
    return lines


def _short(value: str, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_reason(problems: list[str]) -> str:
    """Join problems one per line, each line at most 300 chars, the whole at most 1000.

    Control characters (from attribute names a user wrote) are escaped so that one
    problem stays one line. When problems are left out, the last line says how many.
    """
    lines = []
    for problem in problems:
        line = problem if problem.isprintable() else problem.encode("unicode_escape").decode()
        lines.append(line if len(line) <= _MAX_LINE_CHARS else line[: _MAX_LINE_CHARS - 3] + "...")
    kept: list[str] = []
    for index, line in enumerate(lines):
        remaining = len(lines) - index - 1
        suffix = f"\n{_more(remaining)}" if remaining else ""
        candidate = "\n".join([*kept, line])
        if len(candidate + suffix) > MAX_REASON_CHARS:
            omitted = len(lines) - len(kept)
            return "\n".join([*kept, _more(omitted)])
        kept.append(line)
    return "\n".join(kept)


def _more(count: int) -> str:
    return f"... and {count} more problem{'' if count == 1 else 's'}"
