"""Feature: ``QueryLanguage: JSONata`` through jsonata-python.

moto 5.2.5 ships no JSONata evaluator. Expressions are evaluated with $states and the
variables passed as bindings (moto splices them into the expression text, unescaped: a
quote, backslash or newline in any variable, as in a Batch Cause, broke every later
expression); the functions Step Functions adds ($partition, $range, $hash, $random,
$uuid, $parse) are registered natively; an evaluation error is
``States.QueryEvaluationError`` with an ``EvaluationFailed`` event, as on AWS, also from
the service tasks that turned every exception into their own error (its wording and the
field it names: features/jsonata_errors.py). ``$randomSeeded`` is not one of them: AWS
answers T1006, "Attempted to invoke a non-function", so moto's text declaration of it
is removed too.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, OncePerKey, Seam
from runledger_local.patches.features.jsonata_errors import query_evaluation_failure
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "jsonata"


_JSONATA: Final[str] = "moto.stepfunctions.parser.asl.jsonata.jsonata"
_STRING_EXPRESSION: Final[str] = (
    "moto.stepfunctions.parser.asl.component.common.string.string_expression"
)
_HASH_ALGORITHMS: Final[dict[str, str]] = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
_RANGE_LIMIT: Final[int] = 1000


def _jsonata_partition(array: Any, chunk_size: Any) -> list[list[Any]]:
    size = int(chunk_size)
    if not isinstance(array, list) or size < 1:
        raise ValueError("$partition expects an array and a chunk size >= 1")
    return [list(array[i : i + size]) for i in range(0, len(array), size)]


def _jsonata_range(start: Any, end: Any, step: Any) -> Any:
    """A JSONata sequence: one value is that value, not a list ($range(1, 9, 9) is 1 on AWS)."""
    if step == 0:
        raise ValueError("$range step must not be 0")
    values: list[Any] = []
    value = start
    while (step > 0 and value <= end) or (step < 0 and value >= end):
        values.append(value)
        if len(values) > _RANGE_LIMIT:
            raise ValueError(f"$range cannot return more than {_RANGE_LIMIT} items")
        value += step
    return values[0] if len(values) == 1 else values


def _jsonata_hash(data: Any, algorithm: Any) -> str:
    if not isinstance(data, str) or algorithm not in _HASH_ALGORITHMS:
        raise ValueError(f"$hash expects a string and one of {sorted(_HASH_ALGORITHMS)}")
    return hashlib.new(_HASH_ALGORITHMS[algorithm], data.encode()).hexdigest()


def _jsonata_random(seed: Any = None) -> float:
    if seed is None:
        return random.random()  # noqa: S311 - not for security
    return random.Random(int(seed)).random()  # noqa: S311


def _jsonata_uuid() -> str:
    return str(uuid.uuid4())


def _jsonata_parse(text: Any) -> Any:
    return json.loads(text)


#: The functions Step Functions adds to JSONata (jsonata-python has none of them, and its
#: $random takes no seed). Registered natively: moto's text declarations for them are
#: stubs ($hash, $uuid) or approximations, and are removed while the adaptation is on.
_AWS_JSONATA_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "partition": _jsonata_partition,
    "range": _jsonata_range,
    "hash": _jsonata_hash,
    "random": _jsonata_random,
    "uuid": _jsonata_uuid,
    "parse": _jsonata_parse,
}


def _compile_jsonata(jsonata_python: Any, text: str) -> Any:
    compiled = jsonata_python.Jsonata(text)
    for function_name, function in _AWS_JSONATA_FUNCTIONS.items():
        compiled.register_lambda(function_name, function)
    compiled.set_output_convert_nulls(False)  # tell JSON null from undefined
    return compiled


_compiled_jsonata = OncePerKey(_compile_jsonata, maxsize=2048)


def _evaluate_jsonata(
    jsonata_python: Any, text: str, bindings: Mapping[str, Any], *, cached: bool = True
) -> Any:
    """``text`` evaluated with ``bindings``; None means undefined, JSON null is NULL_VALUE.

    ``cached`` (speed on): the parsed expression is kept; each evaluation runs on a shallow
    copy of it, made the thread's current instance, because jsonata-python keeps
    evaluation state on the instance (``Jsonata.CURRENT``), so one instance cannot serve
    two threads at once. Not cached, every evaluation parses the expression anew.
    Measured 2026-12-04, bench/bench_speed.py --mechanism jsonata_cache --rounds 5 --runs
    30: engine CPU 1.23x with the cache off (median of 5 alternated pairs, range
    1.04-1.38x), wall 1.21x (1.04-1.39x), peak RSS 1.04x.
    """
    compiled = (_compiled_jsonata if cached else _compile_jsonata)(jsonata_python, text)
    instance = copy.copy(compiled)
    jsonata_python.Jsonata.CURRENT.jsonata = instance
    return instance.evaluate(None, dict(bindings))


def _python_value(value: Any) -> Any:
    """jsonata-python's results (JList sequences, NULL_VALUE, ...) as plain JSON values."""
    from jsonata.utils import Utils

    return _as_json(Utils.convert_nulls(value))


def _as_json(value: Any, encode: Callable[[Any], str] = json.dumps) -> Any:
    """``json.loads(encode(value))`` without the text in between.

    Dicts with string keys, lists, tuples and JSON atoms are rebuilt directly, into new
    containers; anything else (datetimes, enums, non-string keys, ...) takes the round
    trip through ``encode`` itself, so the result is the same either way.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            if type(key) is not str:
                return json.loads(encode(value))
            plain[key] = _as_json(item, encode)
        return plain
    if isinstance(value, list | tuple):
        return [_as_json(item, encode) for item in value]
    return json.loads(encode(value))


def _jsonata_literal(value: Any) -> str:
    from moto.stepfunctions.parser.asl.utils.encoding import _DateTimeEncoder

    return json.dumps(value, cls=_DateTimeEncoder, separators=(",", ":"), ensure_ascii=False)


def _encode_declarations(bindings: dict[str, Any]) -> str:
    # moto writes string values as f'"{value}"', unescaped: a quote, backslash or newline
    # in any variable (a Batch Cause is JSON text) breaks every later expression.
    return "".join(f"{ref}:={_jsonata_literal(value)};" for ref, value in bindings.items())


_ENCODER_USERS: Final = tuple(
    Seam(NAME, module, "encode_jsonata_variable_declarations", ("bindings",))
    for module in (
        _JSONATA,
        "moto.stepfunctions.parser.asl.eval.states",
        "moto.stepfunctions.parser.asl.eval.variable_store",
    )
)
_EVAL_JSONATA: Final = Seam(NAME, _JSONATA, "_eval_jsonata")
_JSONATA_EXCEPTION: Final = Seam(NAME, _JSONATA, "JSONataException")
_DECLARATION_BY_VARIABLE_REFERENCE: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.intrinsic.jsonata",
    "_DECLARATION_BY_VARIABLE_REFERENCE",
)
_STRING_JSONATA_EVAL_BODY: Final = Seam(
    NAME, _STRING_EXPRESSION, "StringJSONata._eval_body", ("self", "env")
)
_TO_JSON_STR: Final = Seam(NAME, "moto.stepfunctions.parser.asl.utils.encoding", "to_json_str")
_STRING_VARIABLE_SAMPLE_EVAL_BODY: Final = Seam(
    NAME, _STRING_EXPRESSION, "StringVariableSample._eval_body", ("self", "env")
)
_EXTRACT_JSONATA_VARIABLE_REFERENCES: Final = Seam(
    NAME, _JSONATA, "extract_jsonata_variable_references", ("jsonata_expression",)
)
_FAILURE_EVENT_EXCEPTION: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.common.error_name.failure_event",
    "FailureEventException",
)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    try:
        import jsonata as jsonata_python
    except ImportError as exc:
        raise AdaptationBrokenError(NAME, "jsonata-python is not installed") from exc
    jsonata_module, evaluator_attr, current = _EVAL_JSONATA.resolve()
    _, _, jsonata_exception = _JSONATA_EXCEPTION.resolve()
    _, _, declarations = _DECLARATION_BY_VARIABLE_REFERENCE.resolve()
    encoder_users = [seam.resolve()[0] for seam in _ENCODER_USERS]
    string_owner, _, _ = _STRING_JSONATA_EVAL_BODY.resolve()
    _, _, to_json_str = _TO_JSON_STR.resolve()
    sample_owner, _, original_sample_body = _STRING_VARIABLE_SAMPLE_EVAL_BODY.resolve()
    _, _, extract_references = _EXTRACT_JSONATA_VARIABLE_REFERENCES.resolve()
    if current is not None:
        raise AdaptationBrokenError(NAME, "moto now ships a JSONata evaluator; drop this patch")
    _, _, failure_exception = _FAILURE_EVENT_EXCEPTION.resolve()
    swallowing = _error_swallowing_task_classes()

    def eval_jsonata(expression: str) -> Any:
        # moto's own entry point (expressions with declarations spliced in as text); our
        # StringJSONata/StringVariableSample bodies below bypass it with real bindings.
        try:
            return _python_value(
                _evaluate_jsonata(jsonata_python, expression, {}, cached=cloud.speed)
            )
        except Exception as exc:
            raise jsonata_exception("States.QueryEvaluationError", str(exc)) from exc

    def bindings_of(env: Any) -> dict[str, Any]:
        store = env.variable_store
        try:
            values = {**store._outer_scope, **store._inner_scope}
            values["states"] = env.states._states_data
        except AttributeError as exc:  # a moto upgrade renamed them
            raise AdaptationBrokenError(NAME, f"moto's variable stores changed: {exc}") from exc
        # Every variable and $states, as JSON values (the context holds datetimes), the way
        # moto encodes them, and copies: an expression cannot change the execution's data.
        return {binding: _as_json(value, to_json_str) for binding, value in values.items()}

    def eval_body(self: Any, env: Any) -> None:
        # Parse each expression once and pass $states and the variables as bindings: moto
        # splices them into the expression text as JSON, so every evaluation re-parses
        # the whole state data (most of the engine's CPU time).
        extract_references(self.expression)  # rejects $ and $$ as moto does (raises)
        try:
            bindings = bindings_of(env)
            result = _evaluate_jsonata(
                jsonata_python, self.expression, bindings, cached=cloud.speed
            )
        except Exception as exc:
            raise query_evaluation_failure(env, self.expression, exc) from exc
        if result is None:  # undefined (JSON null is NULL_VALUE until converted)
            raise query_evaluation_failure(env, self.expression, None)
        env.stack.append(_python_value(result))

    def sample_body(self: Any, env: Any) -> None:
        if str(self.query_language_mode.name) != "JSONata":
            original_sample_body(self, env)
            return
        extract_references(self.expression)  # rejects $ and $$ as moto does (raises)
        try:
            bindings = bindings_of(env)
            result = _evaluate_jsonata(
                jsonata_python, self.expression, bindings, cached=cloud.speed
            )
        except Exception as exc:
            raise query_evaluation_failure(env, self.expression, exc) from exc
        env.stack.append(None if result is None else _python_value(result))

    def keep_failure_events(original: Callable[..., Any]) -> Callable[..., Any]:
        # Some service tasks turn every non-client exception into their own error
        # (DynamoDB.AmazonDynamoDBException, ...), so an Arguments expression that fails
        # would not surface as States.QueryEvaluationError as on AWS.
        def from_error(self: Any, env: Any, ex: Exception) -> Any:
            if isinstance(ex, failure_exception):
                return ex.failure_event
            return original(self, env, ex)

        return from_error

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(jsonata_module, evaluator_attr, eval_jsonata))
        stack.enter_context(mock.patch.dict(declarations, {}, clear=True))
        for module in encoder_users:
            stack.enter_context(
                mock.patch.object(
                    module, "encode_jsonata_variable_declarations", _encode_declarations
                )
            )
        stack.enter_context(mock.patch.object(string_owner, "_eval_body", eval_body))
        stack.enter_context(mock.patch.object(sample_owner, "_eval_body", sample_body))
        for task_class in swallowing:
            stack.enter_context(
                mock.patch.object(
                    task_class, "_from_error", keep_failure_events(task_class._from_error)
                )
            )
        yield


_TASK_SERVICES: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service"
)


_STATE_TASK_SERVICE: Final = Seam(NAME, _TASK_SERVICES, "StateTaskService")
_SERVICE_MODULES: Final = tuple(
    Seam(NAME, f"{_TASK_SERVICES}_{suffix}")
    for suffix in ("dynamodb", "sqs", "sns", "events", "glue", "sfn", "aws_sdk", "api_gateway")
)


def _error_swallowing_task_classes() -> list[Any]:
    """Service task classes whose own ``_from_error`` never delegates FailureEventException."""
    _, _, base = _STATE_TASK_SERVICE.resolve()
    classes: list[Any] = []
    for seam in _SERVICE_MODULES:
        module = seam.value
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, base)
                and value.__module__ == module.__name__
                and "_from_error" in vars(value)
            ):
                classes.append(value)
    if not classes:
        raise AdaptationBrokenError(NAME, "no service task defines _from_error any more")
    return classes


SEAMS: Final[tuple[Seam, ...]] = (
    *_SERVICE_MODULES,
    *_ENCODER_USERS,
    _EVAL_JSONATA,
    _JSONATA_EXCEPTION,
    _DECLARATION_BY_VARIABLE_REFERENCE,
    _STRING_JSONATA_EVAL_BODY,
    _TO_JSON_STR,
    _STRING_VARIABLE_SAMPLE_EVAL_BODY,
    _EXTRACT_JSONATA_VARIABLE_REFERENCES,
    _FAILURE_EVENT_EXCEPTION,
    _STATE_TASK_SERVICE,
)
