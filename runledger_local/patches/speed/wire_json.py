"""Speed: answers already in wire shape go out through ``json.dumps``.

DynamoDB item and Streams record answers and Step Functions execution histories are, in
moto, already the wire JSON (items as AttributeValue maps, history events as the API's
TypedDicts), so serializing them by the output shape only converts bytes and datetimes;
moto's shape-walking serializer did it slowly (SummarizeRun reads each run's ~100
events). The answer is byte-for-byte what moto's serializer gives
(tests/local/patches/test_wire_json.py).

Measured 2026-12-04, bench/bench_speed.py --mechanism wire_json --rounds 5 --runs 30:
engine CPU 1.79x with it off (median of 5 alternated pairs, range 1.49-1.83x), wall
1.52x (1.35-1.58x), the same memory.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "wire_json"


def _epoch(value: dt.datetime) -> float | int:
    """As moto's serializer (and the Smithy spec): epoch seconds, truncated to ms."""
    seconds = calendar.timegm(value.utctimetuple())
    return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds


def _history_wire(value: dict[str, Any]) -> dict[str, Any]:
    """The engine keeps history timestamps as ISO strings; the wire has epoch seconds."""
    events = [
        {**event, "timestamp": _epoch(dt.datetime.fromisoformat(event["timestamp"]))}
        if isinstance(event.get("timestamp"), str)
        else event
        for event in value.get("events", [])
    ]
    return {**value, "events": events}


#: Operations whose moto result is already the wire JSON, per response class (after the
#: operation's own fix-up, if it has one).
WIRE_SHAPED: Final[dict[str, dict[str, Callable[[dict[str, Any]], dict[str, Any]] | None]]] = {
    "moto.dynamodb.responses.DynamoHandler": dict.fromkeys(
        ("GetItem", "PutItem", "UpdateItem", "Query", "Scan", "BatchGetItem")
    ),
    "moto.dynamodbstreams.responses.DynamoDBStreamsHandler": dict.fromkeys(
        ("GetRecords", "GetShardIterator")
    ),
    "moto.stepfunctions.responses.StepFunctionResponse": {"GetExecutionHistory": _history_wire},
}
_ACTION_RESULT: Final = Seam(NAME, "moto.core.responses", "ActionResult")
_PAGINATED_RESULT: Final = Seam(NAME, "moto.core.responses", "PaginatedResult")
_SERIALIZERS: Final = tuple(
    Seam(
        NAME,
        path.rsplit(".", 1)[0],
        f"{path.rsplit('.', 1)[1]}.serialized",
        ("self", "action_result"),
    )
    for path in WIRE_SHAPED
)
SEAMS: Final[tuple[Seam, ...]] = (_ACTION_RESULT, _PAGINATED_RESULT, *_SERIALIZERS)


def _wire_default(value: Any) -> Any:
    """JSON for what moto's JSON serializer converts: blobs and timestamps."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return _epoch(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    action_result = _ACTION_RESULT.value
    paginated_result = _PAGINATED_RESULT.value

    def fast(
        original: Callable[..., Any],
        operations: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]] | None],
    ) -> Callable[..., Any]:
        def serialized(self: Any, result: Any) -> Any:
            value = result.result
            action = self._get_action()
            if (
                isinstance(value, dict)
                and isinstance(result, action_result)
                and not isinstance(result, paginated_result)
                and action in operations
            ):
                fix_up = operations[action]
                if fix_up is not None:
                    value = fix_up(value)
                body = json.dumps(value, default=_wire_default, separators=(",", ":"))
                headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
                return 200, headers, body
            return original(self, result)

        return serialized

    with contextlib.ExitStack() as stack:
        for seam, operations in zip(_SERIALIZERS, WIRE_SHAPED.values(), strict=True):
            owner, attribute, original = seam.resolve()
            stack.enter_context(mock.patch.object(owner, attribute, fast(original, operations)))
        yield
