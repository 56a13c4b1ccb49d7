"""Speed: a definition is parsed and built once, not once per execution.

moto lexes and parses the whole definition with ANTLR, then builds the evaluation
components, for every execution. Both are kept per definition; the components hold no
execution state (an execution's lives in its Environment), which is why moto's own Map
iterations already share them. Every component gets its heap key before executions share
it. A JSONPath (ResultPath, InputPath, ...) is parsed once per path, not at every use
(~1 ms a use, 18 uses a run).

Measured 2026-12-04, bench/bench_speed.py --mechanism asl_parse_cache --rounds 5 --runs 30:
engine CPU 1.87x with it off (median of 5 alternated pairs, range 1.59-1.97x), wall
1.74x (1.50-1.80x), peak RSS 1.07x (244 -> 262 MB).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, OncePerKey, Seam, import_module
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "asl_parse_cache"


_SFN_PARSER: Final[str] = "moto.stepfunctions.parser."
_ASL_PARSER: Final[str] = "moto.stepfunctions.parser.asl.parse.asl_parser"
_RESULT_PATH: Final[str] = "moto.stepfunctions.parser.asl.component.common.path.result_path"
_JSON_PATH: Final[str] = "moto.stepfunctions.parser.asl.utils.json_path"


def _assign_heap_keys(program: Any, eval_component: Any) -> None:
    """Give every component of ``program`` its heap key now, before executions share it.

    A component makes its key (under which evaluations keep values in their heap) on
    first use, unlocked: two threads using it first at once could each make one and one
    of them would look its value up under the other's key.
    """
    seen: set[int] = set()
    stack: list[Any] = [program]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, eval_component):
            value.heap_key  # noqa: B018  (the property assigns the key)
        if type(value).__module__.startswith(_SFN_PARSER) and hasattr(value, "__dict__"):
            stack.extend(vars(value).values())  # components, and declarations holding them
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())


_AMAZON_STATE_LANGUAGE_PARSER_PARSE: Final = Seam(
    NAME, _ASL_PARSER, "AmazonStateLanguageParser.parse", ("definition",)
)
_PREPROCESSOR: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.parse.preprocessor", "Preprocessor"
)
_EVAL_COMPONENT: Final = Seam(
    NAME, "moto.stepfunctions.parser.asl.component.eval_component", "EvalComponent"
)
_SYNTAX_ERROR_LISTENER: Final = Seam(NAME, _ASL_PARSER, "SyntaxErrorListener")
_ASLPARSER_EXCEPTION: Final = Seam(NAME, _ASL_PARSER, "ASLParserException")
_PARSE: Final = Seam(NAME, "jsonpath_ng", "parse", ("string",))
_PARSE_: Final = Seam(NAME, "jsonpath_ng.ext", "parse", ("path", "debug"))


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attribute, _ = _AMAZON_STATE_LANGUAGE_PARSER_PARSE.resolve()
    module = import_module(NAME, _ASL_PARSER)
    for needed in ("InputStream", "ASLLexer", "CommonTokenStream", "ASLParser"):
        if not hasattr(module, needed):
            raise AdaptationBrokenError(NAME, f"{_ASL_PARSER} no longer imports {needed}")
    _, _, preprocessor = _PREPROCESSOR.resolve()
    _, _, eval_component = _EVAL_COMPONENT.resolve()
    if not isinstance(getattr(eval_component, "heap_key", None), property):
        raise AdaptationBrokenError(NAME, "EvalComponent.heap_key is no longer a property")
    _, _, listener_class = _SYNTAX_ERROR_LISTENER.resolve()
    _, _, parser_exception = _ASLPARSER_EXCEPTION.resolve()

    def parse_tree(definition: str) -> Any:
        listener = listener_class()
        parser = module.ASLParser(
            module.CommonTokenStream(module.ASLLexer(module.InputStream(definition)))
        )
        parser.removeErrorListeners()
        parser.addErrorListener(listener)
        tree = parser.state_machine()
        if listener.errors:
            raise parser_exception(errors=listener.errors)
        return tree

    syntax_tree = OncePerKey(parse_tree, maxsize=64)

    def build_program(definition: str) -> Any:
        program = preprocessor().visit(syntax_tree(definition))
        _assign_heap_keys(program, eval_component)
        return program

    programs = OncePerKey(build_program, maxsize=64)

    def parse(definition: str) -> tuple[Any, Any]:
        # moto lexes and parses the whole definition with ANTLR, then builds the
        # evaluation components, for every execution: a third of the engine's CPU in a
        # 20-run profile, and a tenth once the tree was kept. Both are kept per
        # definition. The components hold no execution state (an execution's lives in
        # its Environment), which is why moto's own Map iterations already share them.
        return programs(definition), syntax_tree(definition)

    # Every Task state's ResultPath (default "$", JSONata states included) and every
    # JSONPath the engine reads builds a new jsonpath-ng parser (ply's tables) and parses
    # its path at each use: ~1 ms a use, 18 uses a run. A parsed path is not changed by
    # find or update_or_create, so one per path string serves every thread.
    path_users = [
        (import_module(NAME, module_name), OncePerKey(original, maxsize=1024))
        for module_name, original in (
            (_RESULT_PATH, _PARSE.resolve()[2]),
            (_JSON_PATH, _PARSE_.resolve()[2]),
        )
    ]
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(owner, attribute, staticmethod(parse)))
        for user, cached in path_users:
            if getattr(user, "parse", None) is not cached._compute:
                raise AdaptationBrokenError(NAME, f"{user.__name__} no longer imports parse")
            stack.enter_context(mock.patch.object(user, "parse", cached))
        yield


SEAMS: Final[tuple[Seam, ...]] = (
    _AMAZON_STATE_LANGUAGE_PARSER_PARSE,
    _PREPROCESSOR,
    _EVAL_COMPONENT,
    _SYNTAX_ERROR_LISTENER,
    _ASLPARSER_EXCEPTION,
    _PARSE,
    _PARSE_,
)
