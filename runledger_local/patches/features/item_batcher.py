"""Feature: a Distributed Map's ``ItemBatcher``, in JSONPath and in JSONata.

AWS (Developer Guide, "ItemBatcher (Map)"): a Distributed Map with ``ItemBatcher`` hands
each child workflow execution a batch, ``{"Items": [...]}`` plus ``"BatchInput"`` when
that is given, of at most ``MaxItemsPerBatch`` items and ``MaxInputBytesPerBatch`` bytes
(at most 256 KiB, the limit of an execution's input, either way). In JSONPath the limits
may be read from the state input or a variable (``MaxItemsPerBatchPath``,
``MaxInputBytesPerBatchPath``: ``"$.size"``, ``"$size"``) and ``BatchInput`` is a payload
template; in JSONata ``MaxItemsPerBatch``, ``MaxInputBytesPerBatch`` and ``BatchInput``
may be ``"{% ... %}"`` expressions. Items are batched after ``ItemSelector`` is applied to
each of them (the ASL specification: "batch selected items"). LocalStack's AWS-validated
test_reference_in_map_state_max_items_path[MAP_STATE_REFERENCE_IN_MAX_PER_BATCH_PATH]
records AWS taking ``"2"`` (a string) from a variable as two items per batch.

moto 5.2.5's ASL grammar has no ``ItemBatcher`` at all (LocalStack added it after the
copy moto vendors), so such a definition was refused with ``InvalidDefinition``
("mismatched input '"ItemBatcher"'"). Regenerating moto's ANTLR parser was not needed
and not chosen (a new grammar rule means vendoring the whole generated ``ASLParser.py``,
~20k lines, to keep in step with moto): the field is taken out of the definition before
moto parses it, and carried through moto's parser in the Map state's ``Comment`` (which
the grammar accepts on any state and the engine never evaluates), JSON-encoded (in base64) behind a
marker together with the state's own comment, which is put back. Carried in the text, it
keeps two definitions that differ only in their batchers apart in the parse cache
(speed/asl_parse_cache). When moto builds the Map state the batcher is checked (refused
as InvalidDefinition otherwise) and its expressions are built by moto's own parser, as a
Pass state's ``Parameters`` (JSONPath) or ``Output`` (JSONata), so they are evaluated as
moto evaluates those, with the Map state's input, variables and context, when the Map
run starts. A definition refused while moto builds it leaves no QueryLanguage scope
behind in moto's Preprocessor (which shares them between instances and popped them only
on success, so every later JSONPath definition was refused). No moto issue found.

Not from an AWS recording: the wording of the definition errors; an item larger than
``MaxInputBytesPerBatch`` alone is a batch of its own; a limit that is not a positive
integer (or a string of one) fails the state with States.Runtime (JSONPath) or
States.QueryEvaluationError (JSONata); a child's ``$$.Map.Item`` is its batch and the
batch's index; the Map run's item counters count batches. The variable-reference check
of moto's static analyser does not see the batcher's ``$var`` references.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "item_batcher"

_ASL_PARSER: Final = "moto.stepfunctions.parser.asl.parse.asl_parser"
_STATE_MAP: Final = "moto.stepfunctions.parser.asl.component.state.exec.state_map"
_PARSE: Final = Seam(NAME, _ASL_PARSER, "AmazonStateLanguageParser.parse", ("definition",))
_PARSER_EXCEPTION: Final = Seam(NAME, _ASL_PARSER, "ASLParserException")
_SYNTAX_ERROR_LISTENER: Final = Seam(NAME, _ASL_PARSER, "SyntaxErrorListener")
_ASL_LEXER_CLASS: Final = Seam(NAME, _ASL_PARSER, "ASLLexer")
_ASL_PARSER_CLASS: Final = Seam(NAME, _ASL_PARSER, "ASLParser")
_INPUT_STREAM: Final = Seam(NAME, _ASL_PARSER, "InputStream")
_TOKEN_STREAM: Final = Seam(NAME, _ASL_PARSER, "CommonTokenStream")
_PREPROCESSOR: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.parse.preprocessor", "Preprocessor"
)
_FROM_STATE_PROPS: Final = Seam(
    NAME, f"{_STATE_MAP}.state_map", "StateMap.from_state_props", ("self", "state_props")
)
_MAP_RUN: Final = Seam(
    NAME,
    f"{_STATE_MAP}.iteration.distributed_iteration_component",
    "DistributedIterationComponent._map_run",
    ("self", "env", "eval_input"),
)
_COMMENT: Final = Seam(NAME, "moto.stepfunctions.parser.asl.component.common.comment", "Comment")
_MAP_DATA: Final = Seam(NAME, "moto.stepfunctions.parser.asl.eval.states", "MapData")
_ITEM_DATA: Final = Seam(NAME, "moto.stepfunctions.parser.asl.eval.states", "ItemData")
SEAMS: Final[tuple[Seam, ...]] = (
    _PARSE,
    _PARSER_EXCEPTION,
    _SYNTAX_ERROR_LISTENER,
    _ASL_LEXER_CLASS,
    _ASL_PARSER_CLASS,
    _INPUT_STREAM,
    _TOKEN_STREAM,
    _PREPROCESSOR,
    _FROM_STATE_PROPS,
    _MAP_RUN,
    _COMMENT,
    _MAP_DATA,
    _ITEM_DATA,
)

#: Where the carried batcher starts in the Map state's Comment.
MARKER: Final = "runledger_local ItemBatcher carried past moto's parser: "
#: The largest batch (AWS: MaxInputBytesPerBatch is at most 256 KiB, an execution input's limit).
MAX_BATCH_BYTES: Final = 262_144
_ATTRIBUTE: Final = "_runledger_item_batcher"
_LIMITS: Final = ("MaxItemsPerBatch", "MaxInputBytesPerBatch")
_JSONPATH_FIELDS: Final = frozenset(
    (*_LIMITS, *(f"{limit}Path" for limit in _LIMITS), "BatchInput")
)
_JSONATA_FIELDS: Final = frozenset((*_LIMITS, "BatchInput"))


# ------------------------------------------------------------------- the definition
def carry_item_batchers(definition: str) -> str:
    """``definition`` with each Map state's ItemBatcher moved into its Comment (the
    definition itself when it has none, or is no JSON object moto could parse)."""
    if '"ItemBatcher"' not in definition:
        return definition
    try:
        document = json.loads(definition)
    except ValueError:
        return definition
    if not isinstance(document, dict) or not _carry_in_machine(document):
        return definition
    return json.dumps(document, ensure_ascii=False)


def _carry_in_machine(machine: Any) -> bool:
    states = machine.get("States") if isinstance(machine, dict) else None
    if not isinstance(states, dict):
        return False
    carried = False
    for state in states.values():
        if not isinstance(state, dict):
            continue
        for key in ("ItemProcessor", "Iterator"):
            carried |= _carry_in_machine(state.get(key))
        branches = state.get("Branches")
        for branch in branches if isinstance(branches, list) else ():
            carried |= _carry_in_machine(branch)
        comment = state.get("Comment", "")
        if state.get("Type") == "Map" and "ItemBatcher" in state and isinstance(comment, str):
            carry = {"ItemBatcher": state.pop("ItemBatcher")}
            if "Comment" in state:
                carry["Comment"] = comment
            state["Comment"] = MARKER + _encoded(carry)
            carried = True
    return carried


def uncarried(comment: str | None) -> tuple[Any, str | None] | None:
    """(the ItemBatcher, the state's own Comment or None) carried in ``comment``; None
    when it carries none."""
    if comment is None or not comment.startswith(MARKER):
        return None
    carry = json.loads(base64.urlsafe_b64decode(comment[len(MARKER) :]))
    return carry["ItemBatcher"], carry.get("Comment")


def _encoded(carry: dict[str, Any]) -> str:
    # base64: no quote or backslash, which moto's parser would hand on still escaped.
    return base64.urlsafe_b64encode(json.dumps(carry).encode()).decode("ascii")


def definition_errors(batcher: Any, *, jsonata: bool, distributed: bool) -> list[str]:
    """What is wrong with a Map state's ``ItemBatcher`` value (empty: nothing)."""
    if not distributed:
        return [
            "ItemBatcher is only allowed in a Map state whose ItemProcessor Mode is DISTRIBUTED"
        ]
    if not isinstance(batcher, dict):
        return ["ItemBatcher must be a JSON object"]
    allowed = _JSONATA_FIELDS if jsonata else _JSONPATH_FIELDS
    errors = [
        f"ItemBatcher field {field!r} is not supported"
        + (" in JSONata (use an expression in the field without Path)" if jsonata else "")
        for field in sorted(set(batcher) - allowed)
    ]
    for limit in _LIMITS:
        value, path = batcher.get(limit), batcher.get(f"{limit}Path")
        if limit in batcher and f"{limit}Path" in batcher:
            errors.append(f"ItemBatcher may not have both {limit} and {limit}Path")
        if limit in batcher and not (_positive_int(value) or (jsonata and _is_jsonata(value))):
            errors.append(f"ItemBatcher {limit} must be a positive integer, got {value!r}")
        if f"{limit}Path" in batcher and not (isinstance(path, str) and path.startswith("$")):
            errors.append(f"ItemBatcher {limit}Path must be a reference path, got {path!r}")
    if "BatchInput" in batcher:
        batch_input = batcher["BatchInput"]
        if not (isinstance(batch_input, dict) or (jsonata and _is_jsonata(batch_input))):
            errors.append("ItemBatcher BatchInput must be a JSON object")
    return errors


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_jsonata(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def fragment(batcher: dict[str, Any], *, jsonata: bool) -> str | None:
    """A one-state definition whose Pass state evaluates the batcher's dynamic fields
    (JSONata ``Output``, JSONPath ``Parameters``); None when every field is static."""
    if jsonata:
        fields = {key: value for key, value in batcher.items() if key in _JSONATA_FIELDS}
        if "BatchInput" not in fields and not any(map(_is_jsonata, fields.values())):
            return None
        state: dict[str, Any] = {"Type": "Pass", "Output": fields, "End": True}
        machine: dict[str, Any] = {"QueryLanguage": "JSONata"}
    else:
        parameters: dict[str, Any] = {
            f"{limit}.$": batcher[f"{limit}Path"] for limit in _LIMITS if f"{limit}Path" in batcher
        }
        if "BatchInput" in batcher:
            parameters["BatchInput"] = batcher["BatchInput"]
        if not parameters:
            return None
        state = {"Type": "Pass", "Parameters": parameters, "End": True}
        machine = {}
    machine.update(StartAt="ItemBatcher", States={"ItemBatcher": state})
    return json.dumps(machine, ensure_ascii=False)


# ------------------------------------------------------------------------- batching
def batches(
    items: list[Any], *, max_items: int | None, max_bytes: int, batch_input: Any = None
) -> list[dict[str, Any]]:
    """``items`` in batches of at most ``max_items`` items and ``max_bytes`` bytes of
    compact JSON each (a batch input counted in); an item too large alone is a batch."""
    base: dict[str, Any] = {"Items": []}
    if batch_input is not None:
        base["BatchInput"] = batch_input
    empty = _size(base)
    out: list[dict[str, Any]] = []
    current: list[Any] = []
    size = empty
    for item in items:
        item_size = _size(item) + (1 if current else 0)  # a comma before every item but one
        full = max_items is not None and len(current) >= max_items
        if current and (full or size + item_size > max_bytes):
            out.append({**base, "Items": current})
            current, size = [], empty
            item_size = _size(item)
        current.append(item)
        size += item_size
    if current:
        out.append({**base, "Items": current})
    return out


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(frozen=True)
class ItemBatcher:
    """A Map state's batcher: its static fields and the component for the dynamic ones."""

    spec: dict[str, Any]
    jsonata: bool
    dynamic: Any  # a moto Parameters / Output component, or None

    def evaluate(self, env: Any, state_input: Any) -> tuple[int | None, int, Any]:
        """(max items, max bytes, batch input) for this Map run."""
        values = {key: value for key, value in self.spec.items() if key in _JSONATA_FIELDS}
        if self.dynamic is not None:
            if self.jsonata:
                self.dynamic.jsonata_template_value.eval(env=env)
                evaluated = env.stack.pop()
            else:
                env.stack.append(state_input)  # a payload template reads its input there
                self.dynamic.eval(env=env)
                evaluated = env.stack.pop()
                env.stack.pop()
            values.update(
                {key.removesuffix(".$"): value for key, value in evaluated.items()}
                if isinstance(evaluated, dict)
                else {}
            )
        max_items = self._limit(env, "MaxItemsPerBatch", values)
        max_bytes = self._limit(env, "MaxInputBytesPerBatch", values)
        bytes_cap = MAX_BATCH_BYTES if max_bytes is None else min(max_bytes, MAX_BATCH_BYTES)
        return max_items, bytes_cap, values.get("BatchInput")

    def _limit(self, env: Any, field: str, values: dict[str, Any]) -> int | None:
        if field not in values:
            return None
        value = values[field]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if _positive_int(value):
            return int(value)
        raise _runtime_failure(
            env,
            jsonata=self.jsonata,
            cause=f"The value of the field '{field}' must be a positive integer, "
            f"but was: {json.dumps(value)}",
        )


def _runtime_failure(env: Any, *, jsonata: bool, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import (
        EvaluationFailedEventDetails,
        HistoryEventType,
        TaskFailedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if jsonata:
        typ = StatesErrorNameType.StatesQueryEvaluationError
        event_type = HistoryEventType.EvaluationFailed
        details = EventDetails(  # type: ignore[typeddict-item]
            evaluationFailedEventDetails=EvaluationFailedEventDetails(
                error=typ.to_name(), cause=cause
            )
        )
    else:
        typ = StatesErrorNameType.StatesRuntime
        event_type = HistoryEventType.TaskFailed
        details = EventDetails(  # type: ignore[typeddict-item]
            taskFailedEventDetails=TaskFailedEventDetails(error=typ.to_name(), cause=cause)
        )
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=typ),
            event_type=event_type,
            event_details=details,
        )
    )


# ---------------------------------------------------------------------------- apply
@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    parse_owner, parse_attribute, current_parse = _PARSE.resolve()
    parser_exception = _PARSER_EXCEPTION.value
    listener_class = _SYNTAX_ERROR_LISTENER.value
    lexer_class, parser_class = _ASL_LEXER_CLASS.value, _ASL_PARSER_CLASS.value
    input_stream, token_stream = _INPUT_STREAM.value, _TOKEN_STREAM.value
    preprocessor = _PREPROCESSOR.value
    map_owner, map_attribute, original_from_state_props = _FROM_STATE_PROPS.resolve()
    run_owner, run_attribute, original_map_run = _MAP_RUN.resolve()
    comment_class, map_data, item_data = _COMMENT.value, _MAP_DATA.value, _ITEM_DATA.value

    scopes = getattr(preprocessor, "_query_language_per_scope", None)
    if not isinstance(scopes, list):
        raise AdaptationBrokenError(NAME, "Preprocessor._query_language_per_scope is no list")

    def parse(definition: str) -> Any:
        # moto's Preprocessor keeps its QueryLanguage scopes in a list shared by every
        # instance (a class attribute) and pops them only on success: a definition
        # refused mid-visit (as a bad ItemBatcher is, here) left its scopes behind, and
        # every later JSONPath definition was read in a stale JSONata scope
        # ("Unsupported declaration in QueryLanguage=JSONPath block").
        depth = len(scopes)
        try:
            return current_parse(carry_item_batchers(definition))
        except BaseException:
            del scopes[depth:]
            raise

    def build(text: str) -> Any:
        # moto's parser, not the patched parse: this runs inside a (cached) parse.
        listener = listener_class()
        parser = parser_class(token_stream(lexer_class(input_stream(text))))
        parser.removeErrorListeners()
        parser.addErrorListener(listener)
        tree = parser.state_machine()
        if listener.errors:
            raise parser_exception(errors=[f"ItemBatcher: {error}" for error in listener.errors])
        state = preprocessor().visit(tree).states.states["ItemBatcher"]
        output = getattr(state, "output", None)
        return output if output is not None else state.parameters

    def from_state_props(self: Any, state_props: Any) -> None:
        original_from_state_props(self, state_props)
        comment = getattr(self, "comment", None)
        carried = uncarried(getattr(comment, "comment", None))
        if carried is None:
            return
        spec, own_comment = carried
        self.comment = None if own_comment is None else comment_class(comment=own_comment)
        jsonata = not self._is_language_query_jsonpath()
        distributed = isinstance(self.iteration_component, run_owner)
        errors = definition_errors(spec, jsonata=jsonata, distributed=distributed)
        if errors:
            raise parser_exception(errors=errors)
        text = fragment(spec, jsonata=jsonata)
        dynamic = None if text is None else build(text)
        setattr(self.iteration_component, _ATTRIBUTE, ItemBatcher(spec, jsonata, dynamic))

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        batcher: ItemBatcher | None = getattr(self, _ATTRIBUTE, None)
        if batcher is None:
            original_map_run(self, env, eval_input)
            return
        items = env.stack.pop()
        state_input = env.stack[-1]  # the Map state's input, as moto's workers read it
        selector = eval_input.item_selector or eval_input.parameters
        if selector is not None:
            items = [
                _selected(env, selector, state_input, index, item)
                for index, item in enumerate(items)
            ]
        max_items, max_bytes, batch_input = batcher.evaluate(env, state_input)
        env.stack.append(
            batches(items, max_items=max_items, max_bytes=max_bytes, batch_input=batch_input)
        )
        batched_input = copy.copy(eval_input)
        batched_input.item_selector = None  # applied to each item above
        batched_input.parameters = None
        original_map_run(self, env, batched_input)

    def _selected(env: Any, selector: Any, state_input: Any, index: int, item: Any) -> Any:
        frame = env.open_inner_frame()
        try:
            context = frame.states.context_object.context_object_data
            context["Map"] = map_data(Item=item_data(Index=index, Value=item))
            frame.states.reset(input_value=state_input)
            frame.stack.append(state_input)
            selector.eval(frame)
            return frame.stack.pop()
        finally:
            env.delete_frame(frame)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(parse_owner, parse_attribute, staticmethod(parse)))
        stack.enter_context(mock.patch.object(map_owner, map_attribute, from_state_props))
        stack.enter_context(mock.patch.object(run_owner, run_attribute, map_run))
        yield
