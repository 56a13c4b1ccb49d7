"""Speed: moto's DynamoDB items are built, projected and updated without repeated work.

- A projection converts only the projected top-level attributes, not the whole item once
  per projected path (status polls of 100 runs spent 6% of the CPU there).
- An UpdateExpression is parsed once per text, not twice per UpdateItem (~1 ms each, the
  same few expressions every run). The tree is only read (find_clauses) or copied
  (UpdateExpressionValidator works on a deep copy), so one per text serves them all.
- An item's size is checked once when it is built: moto's LimitedSizeDict sums the size
  of every attribute already set each time one is set (quadratic: ~0.7 ms for a run's
  request item). The sum only grows, so moto's own check, made when the last attribute
  is set, fails exactly when one of the n checks would.

Measured 2026-12-04, bench/bench_speed.py --mechanism dynamodb_items --rounds 5 --runs 30:
engine CPU 1.06x with it off (median of 5 alternated pairs, range 0.97-1.18x; medians
3.75 -> 4.25 CPU-s), wall 1.05x (0.98-1.14x), the same memory.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import AdaptationBrokenError, OncePerKey, Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "dynamodb_items"
_DYNAMO_TYPE_MODULE: Final = "moto.dynamodb.models.dynamo_type"
_ITEM_PROJECT: Final = Seam(
    NAME, _DYNAMO_TYPE_MODULE, "Item.project", ("self", "projection_expressions")
)
_UPDATE_EXPRESSION_PARSER_MAKE: Final = Seam(
    NAME, "moto.dynamodb.parsing.expressions", "UpdateExpressionParser.make"
)
_ITEM_INIT: Final = Seam(
    NAME, _DYNAMO_TYPE_MODULE, "Item.__init__", ("self", "hash_key", "range_key", "attrs")
)
_DYNAMO_TYPE: Final = Seam(NAME, _DYNAMO_TYPE_MODULE, "DynamoType")
SEAMS: Final[tuple[Seam, ...]] = (
    _ITEM_PROJECT,
    _UPDATE_EXPRESSION_PARSER_MAKE,
    _ITEM_INIT,
    _DYNAMO_TYPE,
)
_LIST_INDEX: Final[re.Pattern[str]] = re.compile(r"(\[\d+\])+$")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    item_class, _, project = _ITEM_PROJECT.resolve()
    update_parser, _, _ = _UPDATE_EXPRESSION_PARSER_MAKE.resolve()
    make = update_parser.__dict__.get("make")
    if not isinstance(make, classmethod):
        raise AdaptationBrokenError(NAME, "UpdateExpressionParser.make is not a classmethod")
    update_trees = OncePerKey(make.__func__, maxsize=1024)
    item_init = _ITEM_INIT.value
    dynamo_type = _DYNAMO_TYPE.value

    def project_named(self: Any, projection_expressions: list[list[str]]) -> Any:
        # Only the top-level attributes the paths start with can match.
        tops = {path[0] for path in projection_expressions if path}
        tops |= {_LIST_INDEX.sub("", top) for top in tops}
        subset = copy.copy(self)
        # A snapshot first (one C call, so no other thread runs in between): a workflow's
        # UpdateItem may add attributes to this item while a status poll projects it.
        attrs = list(self.attrs.items())
        subset.attrs = {key: value for key, value in attrs if key in tops}
        return project(subset, projection_expressions)

    def item_checked_once(self: Any, hash_key: Any, range_key: Any, attrs: Any) -> None:
        item_init(self, hash_key, range_key, {})
        converted = [(key, dynamo_type(value)) for key, value in attrs.items()]
        if converted:
            dict.update(self.attrs, converted[:-1])
            last_key, last_value = converted[-1]
            self.attrs[last_key] = last_value  # the size check, over the whole item

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(update_parser, "make", classmethod(update_trees)))
        stack.enter_context(mock.patch.object(item_class, "__init__", item_checked_once))
        stack.enter_context(mock.patch.object(item_class, "project", project_named))
        yield
