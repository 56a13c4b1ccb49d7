"""Fix: DynamoDB refuses what AWS refuses, and a failed UpdateItem changes nothing.

AWS validates a request before it touches a table; moto 5.2.5 lets through, or crashes on,
what AWS refuses with ``ValidationException`` (messages as AWS writes them, per the
DynamoDB API reference's constraints and AWS-recorded answers in LocalStack's
AWS-validated snapshots, error_handling/test_task_service_dynamodb):

- a missing ``Item`` (PutItem) or ``Key`` (GetItem, UpdateItem, DeleteItem): "1
  validation error detected: Value null at 'item' failed to satisfy constraint: Member
  must not be null" (moto: ``'NoneType' object has no attribute 'items'``);
- a table name outside ``[a-zA-Z0-9_.-]+`` or 3-255 characters (moto:
  ResourceNotFoundException);
- numbers that are not numbers (NaN, Infinity: moto refuses them in PutItem only), with
  more than 38 significant digits, or beyond 1E-130 .. 9.9E125 in magnitude (the
  "Data types" page of the developer guide);
- values nested deeper than 32 levels (the "Quotas" page: "DynamoDB supports nested
  attributes up to 32 levels deep");
- an attribute with an empty name (AWS's wording for this one is not in any recorded
  answer: ours says what is wrong);
- an attribute value with no type (``{}``: moto raised StopIteration, or IndexError inside
  a map or list) or more than one (moto kept the first), a binary set that is empty (moto
  refused empty string and number sets only), a set holding a member twice (``1`` and
  ``1.0`` are one number), and a number in Python's syntax only (``1_000``): AWS's
  messages as SDK users report them (the fuzz tier, tests/fuzz, found these);
- an empty string or binary in a ``Key`` (moto checks PutItem's only).

An UpdateItem whose expression fails part-way (``SET a = :a ADD n :s`` with a string
``:s``) applied its ``SET`` in moto, and created the item if it was missing; on AWS a
request either applies whole or not at all ("UpdateItem ... is atomic"). Here the item
(and the stream) are put back as they were. No moto issue found for either.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any, Final
from unittest import mock

from runledger_local.dynamodb_rules import request_problem
from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "dynamodb_validation"
_CALL_ACTION: Final = Seam(NAME, "moto.dynamodb.responses", "DynamoHandler.call_action", ("self",))
_UPDATE_ITEM: Final = Seam(NAME, "moto.dynamodb.models", "DynamoDBBackend.update_item")
_GET_KEYS_VALUE: Final = Seam(
    NAME, "moto.dynamodb.models", "DynamoDBBackend.get_keys_value", ("self", "table", "keys")
)
_VALIDATION_ERROR: Final = Seam(NAME, "moto.dynamodb.exceptions", "MockValidationException")
SEAMS: Final[tuple[Seam, ...]] = (_CALL_ACTION, _UPDATE_ITEM, _GET_KEYS_VALUE, _VALIDATION_ERROR)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    handler_class, action_attribute, original_call_action = _CALL_ACTION.resolve()
    backend_class, update_attribute, original_update_item = _UPDATE_ITEM.resolve()
    _GET_KEYS_VALUE.resolve()
    validation_error = _VALIDATION_ERROR.value

    def call_action(self: Any) -> Any:
        from moto.core.utils import camelcase_to_underscores

        action = camelcase_to_underscores(self._get_action())
        params = getattr(self, "params", None)
        problem = request_problem(action, params) if isinstance(params, Mapping) else None
        if problem:

            def refuse() -> Any:
                raise validation_error(problem)

            setattr(self, action, refuse)  # answered as moto answers its own refusals
        return original_call_action(self)

    def update_item(
        self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        table = self.get_table(table_name)
        try:
            hash_value, range_value = self.get_keys_value(table, key)
        except Exception:  # moto's own update answers for a bad key
            return original_update_item(self, table_name, key, *args, **kwargs)
        before = copy.deepcopy(table.get_item(hash_value, range_value))
        shard = table.stream_shard
        records = len(shard.items) if shard is not None else 0
        try:
            return original_update_item(self, table_name, key, *args, **kwargs)
        except Exception:
            # All or nothing: the item (or its absence) and the stream as they were.
            if before is None:
                partition = table.items.get(hash_value)
                if range_value is not None and isinstance(partition, dict):
                    partition.pop(range_value, None)
                elif range_value is None:
                    table.items.pop(hash_value, None)
            elif range_value is not None:
                table.items[hash_value][range_value] = before
            else:
                table.items[hash_value] = before
            if shard is not None:
                del shard.items[records:]
            raise

    with (
        mock.patch.object(handler_class, action_attribute, call_action),
        mock.patch.object(backend_class, update_attribute, update_item),
    ):
        yield
