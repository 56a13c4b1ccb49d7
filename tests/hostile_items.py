"""Hostile request items, generated with Hypothesis: what the fuzz tier (tests/fuzz, make
test-fuzz) and its slice in make test (tests/local/test_fuzz_slice.py) write to the runs
table and hand to ``runledger local run``.

Each item is the valid sample request (events/requests/kmer-valid-local.json) broken by one
to four ``Change``\\ s, each on its own top-level attribute:

* a request field (``workflow``, ``cost_center``, ``input`` and its ``uri`` and ``k``,
  ``variants`` and each variant's fields) removed, of a wrong type, or of the right type
  but outside the contract (``runledger.models``: patterns, Fargate sizes, bounds); an
  unknown attribute, ``run_id``; one variant's name repeated; no or too many variants;
* the key: a ``pk`` without ``RUN#``, with a run id the contract refuses (control
  characters, right-to-left overrides, too long), empty, over 2,048 bytes or not a string;
  an ``sk`` other than ``REQUEST``, empty or not a string;
* the attributes the workflow itself writes: ``status`` (anything but ``REQUESTED``),
  ``attempt`` (wrong types, which make the request INVALID; whole numbers, which do not),
  ``execution``, ``claimed_at``, ``summary``, ``cost``, ... (anything: the claim replaces
  or removes them);
* size: a 70 KB attribute (over the request limit of 64 KiB), a 300 KB one (over an
  execution's 256 KB input: DynamoDB stores it, and the pipe sends only its key, so it
  ends INVALID too) and a 420 KB one (over DynamoDB's 400 KB).

Values come in two forms. ``table_items()`` are DynamoDB's low-level JSON (``{"S": ...}``)
and hold every type the table can: S (unicode, control characters, bidirectional
overrides, long), N (38 significant digits, 1E-130 and 9.9E125, and the numbers DynamoDB
refuses: 39 digits, 1E126, NaN, ``1_000``), B, SS, NS, BS (with the empty and duplicated
sets DynamoDB refuses), M, L, NULL, BOOL, nesting past DynamoDB's 32 levels, and malformed
values (no type, two types). ``file_items()`` are plain JSON, as a request file holds it:
no sets or binary, but what JSON can say and DynamoDB cannot store (NaN, Infinity, 1e-200,
40- and 5,000-digit integers, 100,000 levels of nesting), and whole files that are not one
request (not JSON, not an object, not UTF-8).

Every item carries at least one change that makes the request INVALID by the contract, so
none of them may run. What must become of it, ``Hostile.kind``: ``refused`` (DynamoDB's
PutItem refuses it; ``runledger local run`` refuses it, exit 2), ``filtered`` (the pipe's
filter, read from template.yaml, drops its stream record: it starts nothing), or
``invalid`` (it runs, and ends INVALID with a reason naming one of ``Hostile.names``).
``runledger local run`` refuses what the table would refuse or the pipe would not run, so
a file is ``refused`` or ``invalid``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from runledger.dynamo import to_attribute_value, to_dynamodb_json
from runledger.models import (
    COST_CENTER_PATTERN,
    FARGATE_MEMORY_MIB,
    IGNORED_ATTRIBUTES,
    PK_PREFIX,
    REQUEST_SK,
    VARIANT_NAME_PATTERN,
    Capacity,
    RunRequest,
    Variant,
)
from runledger.workflows import get_workflow, workflows
from runledger_cli.sam_template import REPO_ROOT, load_both, resources_of_type
from runledger_local.local_paths import localize_request
from runledger_local.pipe_records import PipeFilter

# ------------------------------------------------------------------ Hypothesis settings
#: The tier's runs are reproducible (derandomized: the same examples every run, as CI
#: needs) and keep no example database; ``RUNLEDGER_FUZZ_PROFILE=explore`` draws new
#: examples each run (Hypothesis prints the seed of a failure).
settings.register_profile(
    "fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    # A batch of items is large, and its items' strategies filter (values of a wrong
    # type, texts outside a pattern).
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
settings.register_profile("explore", settings.get_profile("fuzz"), derandomize=False)
PROFILE: Final = settings.get_profile(os.environ.get("RUNLEDGER_FUZZ_PROFILE", "fuzz"))

SAMPLE = REPO_ROOT / "events" / "requests" / "kmer-valid-local.json"
#: Item kinds: what must become of an item (the module's docstring).
KINDS: Final = ("refused", "filtered", "invalid")
#: DynamoDB's limits (the developer guide's "Quotas" and "Data types" pages).
MAX_DEPTH: Final = 32
#: Sizes of the one large attribute an item may carry: over the request limit, over an
#: execution's input (both INVALID), over DynamoDB's item size (refused).
OVERSIZED: Final = {"request": 70_000, "execution-input": 300_000, "refused": 420_000}


def sample_request() -> dict[str, Any]:
    """The valid sample request (plain JSON), its input path absolute, without its pk."""
    item = localize_request(json.loads(SAMPLE.read_text(encoding="utf-8")), REPO_ROOT)
    del item["pk"]
    return item


# ------------------------------------------------------------------ values
@dataclass(frozen=True)
class Value:
    """One value in its form (a DynamoDB attribute value, or plain JSON) and what DynamoDB
    makes of it: ``refused`` if PutItem refuses an item holding it; ``depth``, the levels
    of maps and lists inside it (DynamoDB refuses more than 32 in all)."""

    form: Any
    refused: bool = False
    depth: int = 0

    def __repr__(self) -> str:  # what Hypothesis shows of a failing example
        text = repr(self.form)
        return text if len(text) <= 200 else f"{text[:120]}...<{len(text)} chars>"


#: Texts that have broken terminals, parsers and pattern checks.
NASTY_TEXTS: Final = (
    "",
    " ",
    "\x00",
    "\x1b[2J\x1b[31mred",
    "\u202eevil.exe",
    "\u2066isolated\u2069",
    "line\nbreak",
    "carriage\rreturn",
    "tab\there",
    "\u0085next line",
    "\u2028separator",
    "\ufeffbom",
    "\u200bzero width",
    "null",
    "REQUESTED",
    "RUN#",
    "${Partition}",
    "{% $states.input %}",
    '"quoted"',
    "back\\slash",
    "<$.dynamodb.Keys.pk.S>",
    "\U0001d54f\U0001f642",  # outside the BMP: a surrogate pair in JSON
    "é" * 3,
    "%s%n",
    "../../etc/passwd",
)
texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(NASTY_TEXTS),
    st.tuples(st.sampled_from(NASTY_TEXTS[1:]), st.integers(10, 100)).map(lambda t: t[0] * t[1]),
)

#: Numbers (as DynamoDB JSON's N text) DynamoDB stores: 38 significant digits, magnitude
#: 1E-130 to 9.9E125.
EDGE_NUMBERS: Final = (
    "0",
    "0.0",
    "1e5",
    "1E-130",
    "9.9E125",
    "-9.9E125",
    "9" * 38,
    "-" + "9" * 38,
    "0." + "0" * 129 + "1",
    "1" + "0" * 125,
    "12345678901234567890123456789012345678E-50",
)
#: Numbers DynamoDB refuses.
BAD_NUMBERS: Final = (
    "9" * 39,
    "1" * 40,
    "1" + "2" * 38 + "E5",
    "1E126",
    "10E125",
    "1E-131",
    "NaN",
    "Infinity",
    "-Infinity",
    "abc",
    "",
    "0x10",
    "1_000",
    "1e",
    "1.2.3",
    "--1",
)


def _number_text(digits: int, exponent: int) -> str | None:
    """``digits``E``exponent`` if DynamoDB stores it (38 digits, magnitude in range)."""
    number = Decimal(f"{digits}E{exponent}")
    if number.is_zero() or -130 <= number.adjusted() <= 125:
        return f"{digits}E{exponent}"
    return None


number_texts = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1).map(str),
    st.builds(_number_text, st.integers(-(10**38) + 1, 10**38 - 1), st.integers(-170, 130)).filter(
        bool
    ),
    st.sampled_from(EDGE_NUMBERS),
)


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def unique_numbers(members: list[str]) -> bool:
    values = [_decimal(m) for m in members]
    return len(set(values)) == len(values)


class Dialect:
    """How one form writes values, and the hostile values of that form."""

    name: str

    def plain(self, value: Any) -> Value:
        """A plain JSON value of the sample request, in this form."""
        raise NotImplementedError

    def mapping(self, members: Mapping[str, Value]) -> Value:
        raise NotImplementedError

    def sequence(self, members: Iterable[Value]) -> Value:
        raise NotImplementedError

    def is_string(self, value: Value) -> bool:
        raise NotImplementedError

    def string_of(self, value: Value) -> str | None:
        """The text of a string value, else None."""
        raise NotImplementedError

    def number_of(self, value: Value) -> Decimal | None:
        """The number of a number value DynamoDB stores, else None."""
        raise NotImplementedError

    def scalars(self) -> st.SearchStrategy[Value]:
        raise NotImplementedError

    def deep(self, levels: int) -> Value:
        """``levels`` nested lists around a string."""
        value = self.plain("deep")
        for _ in range(levels):
            value = self.sequence([value])
        return value

    def strings(self) -> st.SearchStrategy[Value]:
        return texts.map(self.plain)

    def values(self) -> st.SearchStrategy[Value]:
        """Any value: scalars of every type, maps and lists of them, deep nesting."""
        nested = st.recursive(
            self.scalars(),
            lambda children: st.one_of(
                st.lists(children, max_size=3).map(self.sequence),
                st.dictionaries(texts.filter(bool), children, max_size=3).map(self.mapping),
            ),
            max_leaves=6,
        )
        deep = st.sampled_from((30, 33, 40, 100)).map(self.deep)
        return weighted((12, nested), (1, deep))

    def not_strings(self) -> st.SearchStrategy[Value]:
        return self.values().filter(lambda v: not self.is_string(v))

    def not_numbers(self) -> st.SearchStrategy[Value]:
        return self.values().filter(lambda v: self.number_of(v) is None and not v.refused)


class TableDialect(Dialect):
    """DynamoDB's low-level JSON, as PutItem takes it."""

    name = "table"

    def plain(self, value: Any) -> Value:
        return Value(to_attribute_value(value), depth=_depth(value))

    def mapping(self, members: Mapping[str, Value]) -> Value:
        return Value(
            {"M": {k: v.form for k, v in members.items()}},
            refused=any(v.refused for v in members.values()) or "" in members,
            depth=1 + max((v.depth for v in members.values()), default=0),
        )

    def sequence(self, members: Iterable[Value]) -> Value:
        members = list(members)
        return Value(
            {"L": [v.form for v in members]},
            refused=any(v.refused for v in members),
            depth=1 + max((v.depth for v in members), default=0),
        )

    def is_string(self, value: Value) -> bool:
        return list(value.form) == ["S"]

    def string_of(self, value: Value) -> str | None:
        return value.form["S"] if self.is_string(value) else None

    def number_of(self, value: Value) -> Decimal | None:
        if list(value.form) != ["N"] or value.refused:
            return None
        return _decimal(value.form["N"])

    def scalars(self) -> st.SearchStrategy[Value]:
        binaries = st.binary(max_size=16)
        stored = st.one_of(
            texts.map(lambda t: Value({"S": t})),
            number_texts.map(lambda n: Value({"N": n})),
            binaries.map(lambda b: Value({"B": b})),
            st.booleans().map(lambda b: Value({"BOOL": b})),
            st.just(Value({"NULL": True})),
            st.lists(texts, min_size=1, max_size=3, unique=True).map(lambda m: Value({"SS": m})),
            st.lists(number_texts, min_size=1, max_size=3)
            .filter(unique_numbers)
            .map(lambda m: Value({"NS": m})),
            st.lists(binaries, min_size=1, max_size=3, unique=True).map(lambda m: Value({"BS": m})),
        )
        refused = st.one_of(
            st.sampled_from(BAD_NUMBERS).map(lambda n: {"N": n}),
            st.sampled_from(BAD_NUMBERS).map(lambda n: {"NS": ["1", n]}),
            st.sampled_from(({"SS": []}, {"NS": []}, {"BS": []})),  # no empty sets
            st.one_of(
                texts.map(lambda t: {"SS": [t, t]}),  # nor duplicates
                binaries.map(lambda b: {"BS": [b, b]}),
                st.just({"NS": ["1", "1.0"]}),  # one number twice
            ),
            st.just({"NULL": False}),
            st.just({}),  # no type
            st.just({"S": "REQUESTED", "N": "1"}),  # two types
        ).map(lambda form: Value(form, refused=True))
        return weighted((6, stored), (1, refused))


class FileDialect(Dialect):
    """Plain JSON, as a request file holds it (``runledger local run`` reads it)."""

    name = "file"

    def plain(self, value: Any) -> Value:
        return Value(value, depth=_depth(value))

    def mapping(self, members: Mapping[str, Value]) -> Value:
        return Value(
            {k: v.form for k, v in members.items()},
            refused=any(v.refused for v in members.values()) or "" in members,
            depth=1 + max((v.depth for v in members.values()), default=0),
        )

    def sequence(self, members: Iterable[Value]) -> Value:
        members = list(members)
        return Value(
            [v.form for v in members],
            refused=any(v.refused for v in members),
            depth=1 + max((v.depth for v in members), default=0),
        )

    def is_string(self, value: Value) -> bool:
        return isinstance(value.form, str)

    def string_of(self, value: Value) -> str | None:
        return value.form if self.is_string(value) else None

    def number_of(self, value: Value) -> Decimal | None:
        form = value.form
        if isinstance(form, bool) or not isinstance(form, int | float) or value.refused:
            return None
        return Decimal(str(form))

    def scalars(self) -> st.SearchStrategy[Value]:
        stored = st.one_of(
            texts.map(Value),
            st.integers(-(10**38) + 1, 10**38 - 1).map(Value),
            st.floats(allow_nan=False, allow_infinity=False).map(_float_value),
            st.sampled_from((1e-130, 9.9e125, -0.0)).map(_float_value),
            st.booleans().map(Value),
            st.just(Value(None)),
        )
        refused = st.sampled_from(
            (float("nan"), float("inf"), -float("inf"), 1e-200, 1e200, 5e-324, 10**39, 10**126)
        ).map(lambda n: Value(n, refused=True))
        return weighted((6, stored), (1, refused))


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn with its weight's share (it shrinks to the first)."""
    bounds = []
    total = 0
    for weight, strategy in choices:
        total += weight
        bounds.append((total, strategy))
    return st.integers(1, total).flatmap(lambda n: next(s for top, s in bounds if n <= top))


def _float_value(number: float) -> Value:
    """A float and whether DynamoDB stores it (magnitude 1E-130 to 9.9E125)."""
    decimal = Decimal(str(number))
    return Value(number, refused=not decimal.is_zero() and not -130 <= decimal.adjusted() <= 125)


def _depth(value: Any) -> int:
    if isinstance(value, Mapping):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


TABLE: Final = TableDialect()
FILE: Final = FileDialect()


# ------------------------------------------------------------------ changes and items
DELETE: Final = object()  # a Change's value: the attribute is removed


@dataclass(frozen=True)
class Change:
    """One hostile change to the sample request: ``path`` (``("variants", 0, "vcpus")``)
    set to ``value`` (or removed: ``DELETE``).

    ``names`` are the attributes an INVALID reason may name for it (empty: it does not
    make the request invalid); ``refused``, whether PutItem refuses it whatever its
    value (a key DynamoDB refuses, an item over 400 KB); ``cli_refused``, whether
    ``runledger local run`` refuses it though DynamoDB would store it (a pk without RUN#).
    """

    path: tuple[str | int, ...]
    value: Value | object
    names: tuple[str, ...] = ()
    refused: bool = False
    cli_refused: bool = False

    def __repr__(self) -> str:
        where = ".".join(map(str, self.path))
        return f"{where} <- {'(removed)' if self.value is DELETE else self.value!r}"


def tag(serial: int) -> str:
    """What makes an item's pk unique, and finds its run in ``runledger local run``'s table."""
    return f"fz{serial:06d}"


#: The pk a Hostile is written with: ``prefix + tag(serial) + suffix``, or
#: a value of its own (an empty or wrong-typed key), or None (no pk).
PkShape = tuple[str, str] | Value | None


@dataclass(frozen=True)
class Hostile:
    """A generated request item: the sample request with ``changes``, in ``dialect``'s form.

    ``attributes`` holds everything but the pk; ``item(serial)`` the item to write,
    with a pk unique for ``serial``.
    """

    dialect: str
    attributes: dict[str, Any] = field(repr=False)
    pk: PkShape
    changes: tuple[Change, ...]
    refused: bool  # DynamoDB refuses it
    cli_refused: bool
    names: tuple[str, ...]

    def pk_value(self, serial: int) -> Value | None:
        dialect = TABLE if self.dialect == "table" else FILE
        if isinstance(self.pk, tuple):
            return dialect.plain(f"{self.pk[0]}{tag(serial)}{self.pk[1]}")
        return self.pk

    def item(self, serial: int) -> dict[str, Any]:
        pk = self.pk_value(serial)
        return {**({"pk": pk.form} if pk is not None else {}), **self.attributes}

    def kind(self, pipe_filter: PipeFilter, serial: int = 0) -> str:
        """What must become of the item written to the table (``KINDS``)."""
        if self.refused:
            return "refused"
        image = self.item(serial) if self.dialect == "table" else to_dynamodb_json(self.item(0))
        if not pipe_filter.passes(insert_record(image)):
            return "filtered"
        return "invalid"

    def cli_kind(self, pipe_filter: PipeFilter) -> str:
        """What ``runledger local run`` must do with the item as a request file."""
        if self.refused or self.cli_refused or self.kind(pipe_filter) != "invalid":
            return "refused"
        return "invalid"

    def __repr__(self) -> str:
        return f"Hostile({self.dialect}, pk={self.pk!r}, changes={list(self.changes)!r})"


def insert_record(image: Mapping[str, Any]) -> dict[str, Any]:
    """The stream record of ``image`` (DynamoDB JSON) put as a new item, as Pipes sees it."""
    keys = {name: image[name] for name in ("pk", "sk") if name in image}

    def jsonable(value: Any) -> Any:  # binary travels base64, as in the stream
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: jsonable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [jsonable(v) for v in value]
        return value

    dynamodb = {"Keys": keys, "NewImage": image, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return jsonable({"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": dynamodb})


def pipe_filter() -> PipeFilter:
    """The filter of template.yaml's pipe."""
    ((pipe),) = resources_of_type(load_both()[0], "AWS::Pipes::Pipe").values()
    return PipeFilter.of(pipe["Properties"].get("SourceParameters"))


# ------------------------------------------------------------------ what breaks the contract
def _bounds(model: type[Any], name: str) -> tuple[int, int]:
    """A number field's ``ge``/``le`` bounds, from the model."""
    metadata = model.model_fields[name].metadata
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high


def _numbers(dialect: Dialect, allowed: Callable[[Decimal], bool]) -> st.SearchStrategy[Value]:
    """Numbers DynamoDB stores that ``allowed`` refuses, or DynamoDB refuses itself."""
    if dialect is TABLE:
        stored = st.one_of(number_texts, st.integers(-(10**9), 10**9).map(str)).map(
            lambda n: Value({"N": n})
        )
    else:
        stored = st.one_of(
            st.integers(-(10**9), 10**9).map(Value),
            st.integers(-(10**38) + 1, 10**38 - 1).map(Value),
            st.floats(-1e9, 1e9).map(_float_value),
        )
    return stored.filter(
        lambda v: (n := dialect.number_of(v)) is not None and not allowed(n)
    ) | dialect.scalars().filter(lambda v: v.refused)


def _texts(dialect: Dialect, allowed: Callable[[str], bool]) -> st.SearchStrategy[Value]:
    return dialect.strings().filter(lambda v: not allowed(dialect.string_of(v) or ""))


def _matches(pattern: str) -> Callable[[str], bool]:
    return lambda text: re.fullmatch(pattern, text) is not None


def _wrong(
    path: tuple[str | int, ...], *values: st.SearchStrategy[Value], required: bool = True
) -> st.SearchStrategy[Change]:
    """``path`` set to one of ``values`` (of a wrong type, or outside the contract), or
    removed if it is ``required``."""
    named = ".".join(map(str, path))
    changes = st.one_of(*values).map(lambda v: Change(path, v, names=(named,)))
    return (
        st.one_of(st.just(Change(path, DELETE, names=(named,))), changes) if required else changes
    )


def request_changes(dialect: Dialect, sample: Mapping[str, Any]) -> st.SearchStrategy[Change]:
    """Changes that make the request INVALID by its contract."""
    d = dialect
    not_strings, not_numbers = d.not_strings(), d.not_numbers()
    cost_center = _wrong(("cost_center",), not_strings, _texts(d, _matches(COST_CENTER_PATTERN)))
    workflow = _wrong(("workflow",), not_strings, _texts(d, lambda t: t in workflows()))
    k_low, k_high = _bounds(get_workflow("kmer-count").input_model, "k")
    uri_bad = st.one_of(
        st.sampled_from(("", "s3://", "s3://bucket/", "gopher://x/y", "file://host/x")).map(
            d.plain
        ),
        texts.map(lambda t: d.plain(f"s3://elsewhere-not-readable/{t or 'x'}")),
        st.just(d.plain("s3://b/" + "k" * 2100)),
    )
    t_low, t_high = _bounds(Variant, "timeout_seconds")
    capacities = typing.get_args(Capacity)

    def whole_in(low: int, high: int) -> Callable[[Decimal], bool]:
        return lambda n: n == n.to_integral_value() and low <= n <= high

    def variant_field(index: int) -> st.SearchStrategy[Change]:
        vcpus = sample["variants"][index]["vcpus"]
        at = ("variants", index)
        return st.one_of(
            _wrong((*at, "name"), not_strings, _texts(d, _matches(VARIANT_NAME_PATTERN))),
            _wrong((*at, "vcpus"), not_numbers, _numbers(d, lambda n: n in FARGATE_MEMORY_MIB)),
            _wrong(
                (*at, "memory_mib"),
                not_numbers,
                _numbers(d, lambda n: n in FARGATE_MEMORY_MIB[vcpus]),
            ),
            _wrong((*at, "capacity"), not_strings, _texts(d, lambda t: t in capacities)),
            _wrong(
                (*at, "timeout_seconds"),
                not_numbers,
                _numbers(d, whole_in(t_low, t_high)),
                required=False,  # it has a default
            ),
            _unknown(d, at),
            _wrong(at, d.values().filter(lambda v: not v.refused), required=False),
        )

    first = sample["variants"][0]
    too_many = [{**first, "name": f"v{i}"} for i in range(51)]
    variants = st.one_of(
        _wrong(("variants",), d.values().filter(lambda v: not _is_list(d, v))),
        st.just(Change(("variants",), d.plain([]), names=("variants",))),
        st.just(Change(("variants",), d.plain(too_many), names=("variants",))),
        st.just(Change(("variants", 1), d.plain(first), names=("variants.1.name",))),
        st.integers(0, len(sample["variants"]) - 1).flatmap(variant_field),
    )
    inputs = st.one_of(
        _wrong(("input",), d.values().filter(lambda v: not _is_map(d, v))),
        _wrong(("input", "uri"), not_strings, uri_bad),
        _wrong(("input", "k"), not_numbers, _numbers(d, whole_in(k_low, k_high))),
        _unknown(d, ("input",)),
    )
    return st.one_of(
        cost_center,
        workflow,
        inputs,
        variants,
        _unknown(d, ()),
        d.values().map(lambda v: Change(("run_id",), v, names=("run_id",))),
        _oversized(d, "request"),
        _oversized(d, "execution-input"),
        _attempt(d, invalid=True),
        pk_changes(d).filter(lambda c: bool(c.names)),
    )


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def _is_list(dialect: Dialect, value: Value) -> bool:
    return isinstance(value.form, list) if dialect is FILE else list(value.form) == ["L"]


def _is_map(dialect: Dialect, value: Value) -> bool:
    return isinstance(value.form, dict) if dialect is FILE else list(value.form) == ["M"]


#: The attributes a request may have: its fields, and those the workflow writes.
KNOWN: Final = frozenset(RunRequest.model_fields) | IGNORED_ATTRIBUTES


def _unknown(dialect: Dialect, at: tuple[str | int, ...]) -> st.SearchStrategy[Change]:
    """An attribute the model does not know, at ``at`` (top level: ``()``)."""
    known = KNOWN if not at else frozenset(("uri", "k", *Variant.model_fields))
    names = texts.filter(lambda t: t not in known and t != "run_id")

    def change(name: str, value: Value) -> Change:
        if not at and name == "":  # PutItem refuses an empty attribute name
            return Change((name,), value, refused=True)
        return Change((*at, name), value, names=(".".join(map(str, (*at, name))),))

    return st.builds(change, names, dialect.values())


def _oversized(dialect: Dialect, kind: str) -> st.SearchStrategy[Change]:
    """The unknown attribute ``notes`` holding ``OVERSIZED[kind]`` characters."""
    value = dialect.plain("x" * OVERSIZED[kind])
    return st.just(Change(("notes",), value, names=("notes",), refused=kind == "refused"))


def _attempt(dialect: Dialect, *, invalid: bool) -> st.SearchStrategy[Change]:
    """``attempt`` (StartRun counts the run's attempts in it): a whole number (fine), or
    anything else (INVALID, naming it)."""
    if not invalid:
        whole = st.integers(0, 10**12)
        if dialect is TABLE:
            return whole.map(lambda n: Change(("attempt",), Value({"N": str(n)})))
        return whole.map(lambda n: Change(("attempt",), Value(n)))
    not_whole = dialect.values().filter(
        lambda v: (
            not v.refused
            and not ((n := dialect.number_of(v)) is not None and n >= 0 and n == int(n))
        )
    )
    return not_whole.map(lambda v: Change(("attempt",), v, names=("attempt",)))


def pk_changes(dialect: Dialect) -> st.SearchStrategy[Change]:
    """The key ``pk``: a string that is no run's key (INVALID; the CLI refuses one without
    RUN#), or a key DynamoDB refuses. ``Change.value`` is a PkShape here."""
    # A character no run id may hold (RUN_ID_PATTERN), in a key DynamoDB stores.
    run_ids = st.one_of(st.sampled_from(NASTY_TEXTS), texts).filter(
        lambda t: re.search(r"[^A-Za-z0-9._-]", t) is not None and _utf8(t) <= 1000
    )
    long_run_id = st.just("x" * 81)
    return st.one_of(
        run_ids.map(lambda t: Change(("pk",), (PK_PREFIX, t), names=("pk",))),
        run_ids.map(lambda t: Change(("pk",), (PK_PREFIX + t, ""), names=("pk",))),
        long_run_id.map(lambda t: Change(("pk",), (PK_PREFIX, t), names=("pk",))),
        st.sampled_from(("", "run#", "RUN", "kmer-")).map(
            lambda p: Change(("pk",), (p, ""), names=("pk",), cli_refused=True)
        ),
        st.just(Change(("pk",), (PK_PREFIX, "é" * 1100), refused=True)),  # > 2,048 bytes
        st.just(Change(("pk",), dialect.plain(""), refused=True)),
        st.just(Change(("pk",), None, refused=True)),
        dialect.not_strings().map(lambda v: Change(("pk",), v, refused=True)),
    )


def workflow_changes(dialect: Dialect) -> tuple[st.SearchStrategy[Change], ...]:
    """The attributes the workflow writes, written by someone else: ``status`` (anything
    but REQUESTED starts nothing), ``sk`` (only REQUEST is a request), and ``attempt`` and
    the rest (which the claim replaces or removes), as three strategies."""
    sk_other = _texts(dialect, lambda t: t in (REQUEST_SK, "") or _utf8(t) > 1024).map(
        lambda v: Change(("sk",), v)
    )
    sk_refused = st.one_of(
        st.just(Change(("sk",), DELETE, refused=True)),
        st.just(Change(("sk",), dialect.plain(""), refused=True)),
        st.just(Change(("sk",), dialect.plain("R" * 1025), refused=True)),  # > 1,024 bytes
        dialect.not_strings().map(lambda v: Change(("sk",), v, refused=True)),
    )
    names = sorted(IGNORED_ATTRIBUTES - {"pk", "sk", "status", "attempt"})
    status = st.one_of(
        st.just(Change(("status",), DELETE)),
        dialect.values().map(lambda v: Change(("status",), v, refused=v.refused)),
    )
    written = st.one_of(
        _attempt(dialect, invalid=False),
        st.builds(
            lambda name, v: Change((name,), v, refused=v.refused),
            st.sampled_from(names),
            dialect.values(),
        ),
        _oversized(dialect, "execution-input"),
        _oversized(dialect, "refused"),
    )
    return status, st.one_of(sk_other, sk_refused), written


def _apply(tree: dict[str, Any], change: Change) -> bool:
    """Set ``change`` in ``tree`` (plain values and Values); False if its path is gone."""
    *parents, last = change.path
    node: Any = tree
    for part in parents:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if not found:
            return False
        node = node[part]
    if isinstance(node, dict) and isinstance(last, str):
        if change.value is DELETE:
            node.pop(last, None)
        else:
            node[last] = change.value
        return True
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        if change.value is DELETE:
            del node[last]
        else:
            node[last] = change.value
        return True
    return False


def _render(dialect: Dialect, value: Any, level: int = 0) -> Value:
    """A tree of plain values and Values in ``dialect``'s form; refused if any Value in it
    is, or it nests deeper than DynamoDB's 32 levels."""
    if isinstance(value, Value):
        return Value(value.form, value.refused or level + value.depth > MAX_DEPTH, value.depth)
    if isinstance(value, dict):
        return dialect.mapping({k: _render(dialect, v, level + 1) for k, v in value.items()})
    if isinstance(value, list):
        return dialect.sequence(_render(dialect, v, level + 1) for v in value)
    return dialect.plain(value)


def build(dialect: Dialect, changes: Iterable[Change]) -> Hostile:
    """The sample request with ``changes`` applied (in order), as a Hostile."""
    tree: dict[str, Any] = json.loads(json.dumps(sample_request()))
    pk: PkShape = (PK_PREFIX, "")
    applied: list[Change] = []
    for change in changes:
        if change.path == ("pk",):
            pk = change.value if change.value is not DELETE else None  # type: ignore[assignment]
            applied.append(change)
        elif _apply(tree, change):
            applied.append(change)
    attributes = {name: _render(dialect, value) for name, value in tree.items()}
    pk_refused = isinstance(pk, Value) and pk.refused
    return Hostile(
        dialect=dialect.name,
        attributes={name: value.form for name, value in attributes.items()},
        pk=pk,
        changes=tuple(applied),
        refused=pk_refused
        or any(c.refused for c in applied)
        or any(v.refused for v in attributes.values()),
        cli_refused=any(c.cli_refused for c in applied),
        names=tuple(dict.fromkeys(n for c in applied for n in c.names)),
    )


def hostile_items(dialect: Dialect) -> st.SearchStrategy[Hostile]:
    """Items of ``dialect``: one change that makes the request INVALID, and up to three
    more of any kind, each on another top-level attribute."""
    sample = sample_request()
    invalid = request_changes(dialect, sample)
    status, sk, written = workflow_changes(dialect)
    anything = weighted((3, invalid), (3, status), (1, sk), (2, written))
    return st.builds(
        lambda first, more: build(
            dialect, [first, *(c for c in more if c.path[0] != first.path[0])]
        ),
        invalid,
        st.lists(anything, max_size=3, unique_by=lambda c: c.path[0]),
    ).filter(lambda h: bool(h.names))


def table_items() -> st.SearchStrategy[Hostile]:
    return hostile_items(TABLE)


def file_items() -> st.SearchStrategy[Hostile]:
    return hostile_items(FILE)


# ------------------------------------------------------------------ whole request files
@dataclass(frozen=True)
class HostileFile:
    """A request file's bytes, for ``runledger local run``: every one of them is refused."""

    content: bytes = field(repr=False)
    what: str

    def __repr__(self) -> str:
        return f"HostileFile({self.what})"


def _nested_json(levels: int) -> bytes:
    return b'{"pk": "RUN#deep", "sk": "REQUEST", "status": "REQUESTED", "d": ' + (
        b"[" * levels + b"]" * levels + b"}"
    )


#: Requests whose text JSON can write and UTF-8 (so DynamoDB) cannot: a lone surrogate.
SURROGATES: Final = tuple(
    b'{"pk": "RUN#s", "sk": "REQUEST", "status": "REQUESTED", ' + member + b"}"
    for member in (b'"notes": "\\ud800"', b'"\\udfff": 1', b'"input": {"uri": ["\\ud83d"]}')
)


def hostile_files() -> st.SearchStrategy[HostileFile]:
    """Files that are no request: not JSON, not one object, not UTF-8, numbers Python's
    JSON reader will not read (over 4,300 digits), nesting past its recursion limit, text
    that is not Unicode."""
    documents = st.one_of(
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), texts),
            lambda c: st.lists(c, max_size=3),
            max_leaves=4,
        ).map(lambda v: (json.dumps(v).encode(), f"JSON {type(v).__name__}")),
        st.sampled_from((b"", b"{", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"{'pk': 1}", b"NaN")).map(
            lambda b: (b, f"bytes {b!r}")
        ),
        st.sampled_from(SURROGATES).map(lambda b: (b, "a lone surrogate (JSON's \\ud800)")),
        st.sampled_from((40, 990, 5_000, 100_000)).map(
            lambda n: (_nested_json(n), f"{n} levels of nesting")
        ),
        st.sampled_from((4_301, 10_000)).map(
            lambda n: (
                b'{"pk": "RUN#digits", "sk": "REQUEST", "status": "REQUESTED", "n": '
                + b"7" * n
                + b"}",
                f"a {n}-digit number",
            )
        ),
    )
    return documents.map(lambda d: HostileFile(d[0], d[1]))


#: Python's names that a reason or message for people must not show.
PYTHON_NAMES: Final = re.compile(
    r"\b(Traceback|Decimal|InvalidOperation|Inexact|Rounded|Overflow|Underflow|Clamped|"
    r"TypeError|ValueError|KeyError|AttributeError|ArithmeticError|RecursionError|"
    r"StopIteration|NoneType|Exception|<class|kmer-count input|RunRequest|Variant\b)"
)


def unreadable(text: str) -> str | None:
    """Why ``text`` (a reason, an error message) is not for people, or None."""
    found = PYTHON_NAMES.search(text)
    if found:
        return f"names Python's {found.group()!r}"
    if not all(line.isprintable() for line in text.splitlines()):
        return "holds unprintable characters"
    return None


#: Names of request files: any text a file name may hold (no "/" or NUL, 200 bytes).
file_stems = texts.filter(lambda t: "/" not in t and "\x00" not in t and _utf8(t) <= 200)


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy`` under PROFILE (the first is its simplest), for
    checks that try them all at once, in a real command or one batch of runs (so: no
    shrinking)."""
    examples: list[Any] = []

    @settings(PROFILE, max_examples=count, phases=(Phase.explicit, Phase.generate))
    @given(strategy)
    def draw(example: Any) -> None:
        examples.append(example)

    draw()
    return examples
