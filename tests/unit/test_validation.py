"""validate_request (domain): every class of bad request ends valid=false with a reason
naming the attribute; nothing in an item makes it raise."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from runledger.models import RunRequest
from runledger.validation import (
    MAX_REASON_CHARS,
    RunLimits,
    format_reason,
    next_attempt,
    validate_request,
    worst_case_seconds,
)

VALID_ITEM_FILE = Path(__file__).resolve().parents[2] / "events" / "requests" / "kmer-valid.json"


def valid_item() -> dict[str, Any]:
    return json.loads(VALID_ITEM_FILE.read_text(), parse_float=Decimal)


def to_image(item: dict[str, Any]) -> dict[str, Any]:
    """Plain item -> DynamoDB JSON, as the stream delivers it (numbers must be Decimals)."""
    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in item.items()}


def check(item: dict[str, Any]) -> tuple[bool, str]:
    result = validate_request(item.get("pk"), to_image(item))
    return result.valid, result.reason or ""


def test_valid_item_gives_the_normalized_request() -> None:
    result = validate_request("RUN#kmer-2026-11-23-001", to_image(valid_item()))
    assert result.valid is True
    assert result.reason is None
    request = result.model_dump(mode="json")["request"]
    assert request == {
        "run_id": "kmer-2026-11-23-001",
        "workflow": "kmer-count",
        "cost_center": "genomics-lab",
        "input": {"uri": "s3://runledger-samples/sample.fastq", "k": 21},
        "variants": [
            {
                "name": n,
                "vcpus": c,
                "memory_mib": m,
                "capacity": cap,
                "architecture": "x86_64",  # the defaults, written out
                "compute": "fargate",
                "timeout_seconds": 3600,
                "repeats": 1,
            }
            for n, c, m, cap in [
                ("od-1vcpu", 1, 2048, "ON_DEMAND"),
                ("od-2vcpu", 2, 4096, "ON_DEMAND"),
                ("spot-2vcpu", 2, 4096, "SPOT"),
            ]
        ],
    }


def test_numbers_arrive_as_int_and_float_not_decimal() -> None:
    item = valid_item()
    item["variants"][0] = {
        "name": "q",
        "vcpus": Decimal("0.25"),
        "memory_mib": 512,
        "capacity": "SPOT",
    }
    result = validate_request(item["pk"], to_image(item))
    assert result.request is not None
    dumped = result.model_dump(mode="json")["request"]
    assert type(dumped["variants"][0]["vcpus"]) is float
    assert type(dumped["variants"][0]["memory_mib"]) is int
    assert type(dumped["input"]["k"]) is int


def test_workflow_written_attributes_are_ignored_on_a_rerun() -> None:
    item = valid_item() | {
        "status": "REQUESTED",
        "execution": "arn:aws:states:us-east-1:123456789012:execution:sm:x",
        "claimed_at": "2026-11-23T10:00:00Z",
        "started_at": "2026-11-23T10:00:01Z",
        "finished_at": "2026-11-23T10:05:00Z",
        "summary": {"variants_total": 3},
        "cost": {"total_usd": Decimal("0.01")},
        "error": "States.TaskFailed",
        "cause": "boom",
        "reason": "old reason",
        "attempt": 2,
        "updated_at": "2026-11-23T10:05:00Z",
        "variant_count": 3,
        "ttl": 1893456000,
    }
    assert check(item) == (True, "")


def test_event_pk_wins_and_the_image_pk_is_the_fallback() -> None:
    image = to_image(valid_item())
    from_event = validate_request("RUN#from-event", image).request
    from_image = validate_request(None, image).request
    assert from_event is not None
    assert from_event.run_id == "from-event"
    assert from_image is not None
    assert from_image.run_id == "kmer-2026-11-23-001"


def mutate(change: Any) -> dict[str, Any]:
    item = valid_item()
    change(item)
    return item


BAD_REQUESTS: dict[str, tuple[Any, list[str]]] = {
    # class of problem: (mutation, substrings the reason must contain)
    "missing workflow": (lambda i: i.pop("workflow"), ["workflow: required"]),
    "missing cost_center": (lambda i: i.pop("cost_center"), ["cost_center: required"]),
    "missing input": (lambda i: i.pop("input"), ["input: required"]),
    "missing variants": (lambda i: i.pop("variants"), ["variants: required"]),
    "missing input.k": (lambda i: i["input"].pop("k"), ["input.k: required"]),
    "missing variant capacity": (
        lambda i: i["variants"][2].pop("capacity"),
        ["variants.2.capacity: required"],
    ),
    "k as a string": (
        lambda i: i["input"].update(k="21"),
        ["input.k: Input should be a valid integer"],
    ),
    "vcpus as a string": (
        lambda i: i["variants"][0].update(vcpus="1"),
        ["variants.0.vcpus: Input should be a valid number"],
    ),
    "memory as a fraction": (
        lambda i: i["variants"][1].update(memory_mib=Decimal("4096.5")),
        ["variants.1.memory_mib: Input should be a valid integer"],
    ),
    "capacity as a bool": (
        lambda i: i["variants"][2].update(capacity=True),
        ["variants.2.capacity: Input should be 'ON_DEMAND' or 'SPOT'"],
    ),
    "variants as a map": (
        lambda i: i.update(variants={"a": 1}),
        ["variants: Input should be a valid list"],
    ),
    "cost_center as a number": (
        lambda i: i.update(cost_center=7),
        ["cost_center: Input should be a valid string"],
    ),
    "unknown workflow": (
        lambda i: i.update(workflow="bwa-align"),
        ["workflow: unknown workflow 'bwa-align'"],
    ),
    "zero variants": (
        lambda i: i.update(variants=[]),
        ["variants: List should have at least 1 item"],
    ),
    "201 variants": (
        lambda i: i.update(
            variants=[
                {"name": f"v{n}", "vcpus": 1, "memory_mib": 2048, "capacity": "SPOT"}
                for n in range(201)
            ]
        ),
        ["variants: List should have at most 200 items"],
    ),
    "1,001 jobs": (
        lambda i: i.update(
            variants=[
                {"name": f"v{n}", "vcpus": 1, "memory_mib": 2048, "capacity": "SPOT", "repeats": 7}
                for n in range(143)
            ]
        ),
        ["variants: the variants' repeats make 1001 jobs; a run may hold at most 1000"],
    ),
    "repeats out of range": (
        lambda i: i["variants"][0].update(repeats=11),
        ["variants.0.repeats: Input should be less than or equal to 10"],
    ),
    "duplicate variant names": (
        lambda i: i["variants"][1].update(name="od-1vcpu"),
        ['variants.1.name: duplicate variant name "od-1vcpu"'],
    ),
    "bad variant name": (
        lambda i: i["variants"][0].update(name="OD_1"),
        ["variants.0.name: String should match pattern"],
    ),
    "variant name too long": (
        lambda i: i["variants"][0].update(name="a" * 41),
        ["variants.0.name: String should match pattern"],
    ),
    "unknown capacity": (
        lambda i: i["variants"][0].update(capacity="RESERVED"),
        ["variants.0.capacity: Input should be 'ON_DEMAND' or 'SPOT'"],
    ),
    # The attribute itself is named (found by the fuzz tier: the reason named the variant).
    "memory not a Fargate size for the vcpus": (
        lambda i: i["variants"][0].update(memory_mib=1024),
        ["variants.0.memory_mib: 1024 is not a Fargate size for 1 vCPU; use 2048..8192"],
    ),
    "vcpus Fargate does not offer": (
        lambda i: i["variants"][1].update(vcpus=3),
        ["variants.1.vcpus: must be one of 0.25, 0.5, 1, 2, 4, 8, 16, got 3"],
    ),
    "timeout too short": (
        lambda i: i["variants"][0].update(timeout_seconds=59),
        ["variants.0.timeout_seconds: Input should be greater than or equal to 60"],
    ),
    "timeout too long": (
        lambda i: i["variants"][0].update(timeout_seconds=86401),
        ["variants.0.timeout_seconds: Input should be less than or equal to 86400"],
    ),
    "empty cost_center": (
        lambda i: i.update(cost_center=""),
        ["cost_center: String should match pattern"],
    ),
    "cost_center with a space": (
        lambda i: i.update(cost_center="genomics lab"),
        ["cost_center: String should match pattern"],
    ),
    "k out of range": (
        lambda i: i["input"].update(k=32),
        ["input.k: Input should be less than or equal to 31"],
    ),
    "input uri with another scheme": (
        lambda i: i["input"].update(uri="gs://bucket/x.fq"),
        ["input.uri: unsupported scheme"],
    ),
    "s3 uri without a key": (
        lambda i: i["input"].update(uri="s3://bucket"),
        ["input.uri: must look like s3://bucket/key"],
    ),
    "unknown input attribute": (
        lambda i: i["input"].update(gzip=True),
        ["input.gzip: unknown attribute"],
    ),
    "unknown top-level attribute": (lambda i: i.update(notes="x"), ["notes: unknown attribute"]),
    "unknown variant attribute": (
        lambda i: i["variants"][0].update(gpu=1),
        ["variants.0.gpu: unknown attribute"],
    ),
    "run_id written as an attribute": (
        lambda i: i.update(run_id="other"),
        ["run_id: not an attribute of a request; the run id comes from pk"],
    ),
    "pk without the RUN# prefix": (
        lambda i: i.update(pk="kmer-1"),
        ["pk: must look like RUN#<run_id>, got 'kmer-1'"],
    ),
    "run id starting with a dash": (
        lambda i: i.update(pk="RUN#-kmer"),
        ["pk: run id '-kmer' must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"],
    ),
    "run id too long": (lambda i: i.update(pk="RUN#" + "a" * 81), ["pk: run id 'aaaa"]),
    "oversized": (
        lambda i: i["input"].update(uri="s3://b/" + "x" * 70_000),
        ["request is 70", " bytes; the limit is 65536 (its largest attribute, input, is 70"],
    ),
    # Found by the fuzz tier (tests/fuzz): the reason named no attribute.
    "oversized by an unknown attribute": (
        lambda i: i.update(notes="x" * 70_000),
        ["the limit is 65536 (its largest attribute, notes, is 70018 bytes)"],
    ),
}


@pytest.mark.parametrize("problem", list(BAD_REQUESTS))
def test_bad_request_is_invalid_with_a_reason_naming_the_field(problem: str) -> None:
    change, expected = BAD_REQUESTS[problem]
    valid, reason = check(mutate(change))
    assert valid is False
    for text in expected:
        assert text in reason
    assert len(reason) <= MAX_REASON_CHARS


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (lambda i: i.update(input=["s3://b/k", 21]), "input: Input should be a map of attributes"),
        # Found by the fuzz tier (tests/fuzz): a variant written as a string set.
        (lambda i: i["variants"].__setitem__(2, {"+"}), "variants.2: Input should be a map"),
    ],
)
def test_a_list_or_set_where_a_map_belongs_is_named_in_words_not_python_classes(
    change: Any, line: str
) -> None:
    valid, reason = check(mutate(change))

    assert valid is False
    assert reason.startswith(line)
    assert "instance of" not in reason  # was: "... or instance of KmerCountInput" / "Variant"


def test_every_problem_is_reported_one_line_each() -> None:
    def many(item: dict[str, Any]) -> None:
        item.pop("cost_center")
        item["input"]["k"] = 0
        item["variants"][1]["name"] = "od-1vcpu"

    _, reason = check(mutate(many))
    assert reason.splitlines() == [
        "cost_center: required",
        "input.k: Input should be greater than or equal to 1",
        'variants.1.name: duplicate variant name "od-1vcpu"',
    ]


def test_duplicate_names_are_reported_even_when_another_variant_is_invalid() -> None:
    def dup_and_bad(item: dict[str, Any]) -> None:
        item["variants"][1]["name"] = "od-1vcpu"
        item["variants"][2]["name"] = "od-1vcpu"
        item["variants"][2]["memory_mib"] = 1024

    _, reason = check(mutate(dup_and_bad))
    assert reason.splitlines() == [
        "variants.2.memory_mib: 1024 is not a Fargate size for 2 vCPU; "
        "use 4096..16384 in steps of 1024",
        'variants.1.name: duplicate variant name "od-1vcpu"',
        'variants.2.name: duplicate variant name "od-1vcpu"',
    ]


def test_unknown_workflow_does_not_also_judge_the_input() -> None:
    _, reason = check(mutate(lambda i: i.update(workflow="x", input={"reference": "hg38"})))
    assert reason == "workflow: unknown workflow 'x'; known: fastq-compress, kmer-count"


def test_request_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    item = valid_item()
    item["input"]["uri"] = "s3://b/k"
    base = len(json.dumps(to_image(item), separators=(",", ":")).encode())
    item["input"]["uri"] = "s3://b/k" + "x" * (65536 - base)
    at_limit = to_image(item)
    assert len(json.dumps(at_limit, separators=(",", ":")).encode()) == 65536
    # the uri itself is then too long, so only the size verdict is asserted here
    assert "the limit is" not in (validate_request(item["pk"], at_limit).reason or "")
    item["input"]["uri"] += "x"
    assert (validate_request(item["pk"], to_image(item)).reason or "").startswith(
        "request is 65537 bytes; the limit is 65536 (its largest attribute, input, is "
    )


@pytest.mark.parametrize(
    ("pk", "image", "expected"),
    [
        ("RUN#x", None, "image: must be a DynamoDB item"),
        ("RUN#x", [1, 2], "image: must be a DynamoDB item"),
        ("RUN#x", "text", "image: must be a DynamoDB item"),
        ("RUN#x", {"workflow": {"Q": "x"}}, "workflow: not valid DynamoDB JSON"),
        ("RUN#x", {"workflow": "kmer-count"}, "workflow: not valid DynamoDB JSON"),
        ("RUN#x", {"workflow": {}}, "workflow: not valid DynamoDB JSON"),
        (None, {}, "pk: required"),
        (42, {}, "pk: required"),
        ("RUN#x", {"variants": {"SS": ["a", "b"]}}, "variants: Input should be a valid list"),
        ("RUN#x", {"cost_center": {"B": "AAEC"}}, "cost_center: Input should be a valid string"),
        ("RUN#x", {"workflow": {"NULL": True}}, "workflow: Input should be a valid string"),
        # Named, in words: decimal's signals read "[<class 'decimal.Overflow'>]".
        ("RUN#x", {"input": {"N": "1E+400"}},
         "input: not valid DynamoDB JSON (a number DynamoDB cannot store)"),
    ],
)  # fmt: skip
def test_malformed_image_is_invalid_and_never_raises(
    pk: object, image: object, expected: str
) -> None:
    result = validate_request(pk, image)
    assert result.valid is False
    assert expected in (result.reason or "")
    json.dumps(result.model_dump(mode="json"))  # what the handler returns stays JSON-able


def test_unexpected_failure_inside_the_check_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import runledger.validation as validation

    def explode(image: object) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(validation, "from_dynamodb_json", explode)
    result = validate_request("RUN#x", {"pk": {"S": "RUN#x"}})
    assert result.valid is False
    assert result.reason == "request: could not be read (RuntimeError: disk on fire)"


def test_attribute_name_with_a_newline_stays_on_one_line() -> None:
    item = valid_item()
    image = to_image(item) | {"bad\nname": {"S": "x"}}
    reason = validate_request(item["pk"], image).reason or ""
    assert reason == "bad\\nname: unknown attribute"


def test_long_reason_is_cut_at_1000_chars_and_says_how_many_problems_were_left_out() -> None:
    problems = [f"variants.{n}.name: String should match pattern '{'x' * 40}'" for n in range(50)]
    reason = format_reason(problems)
    assert len(reason) <= MAX_REASON_CHARS
    lines = reason.splitlines()
    kept = len(lines) - 1
    assert lines[:kept] == problems[:kept]
    assert lines[-1] == f"... and {50 - kept} more problems"


def test_a_single_very_long_problem_is_shortened() -> None:
    reason = format_reason(["x: " + "y" * 5000])
    assert len(reason) == 300
    assert reason.endswith("...")


def test_copy_of_valid_item_is_not_mutated_by_validation() -> None:
    item = valid_item()
    image = to_image(item)
    before = copy.deepcopy(image)
    validate_request(item["pk"], image)
    assert image == before


@pytest.mark.parametrize(
    ("attempt", "got"),
    [
        ("ninety", "got a string"),
        ("1", "got a string"),
        (Decimal("1.5"), "got the number '1.5'"),
        ({"n": 1}, "got a map"),
    ],
)
def test_a_wrong_typed_attempt_is_invalid_naming_the_attribute(attempt: Any, got: str) -> None:
    item = {**valid_item(), "attempt": attempt}
    valid, reason = check(item)
    assert valid is False
    assert reason.startswith("attempt: written by the workflow")
    assert reason.endswith(got)


def test_a_whole_number_attempt_from_an_earlier_run_is_fine() -> None:
    assert check({**valid_item(), "attempt": 3}) == (True, "")


READABLE = ["s3://stack-results/inputs/", "s3://lab-inputs/"]


@pytest.mark.parametrize(
    "uri", ["s3://stack-results/inputs/sample.fastq", "s3://lab-inputs/deep/x.fq.gz"]
)
def test_an_input_the_job_may_read_is_valid(uri: str) -> None:
    item = valid_item()
    item["input"]["uri"] = uri
    assert validate_request(item["pk"], to_image(item), READABLE).valid is True


@pytest.mark.parametrize(
    "uri",
    [
        "s3://stack-results/runs/sample.fastq",  # the results bucket, outside inputs/
        "s3://lab-inputs-2/x.fastq",  # a bucket whose name starts like a readable one
        "/home/me/sample.fastq",  # a local file outside the prefixes (local cloud)
    ],
)
@pytest.mark.usefixtures("local_paths")
def test_an_input_the_job_cannot_read_is_invalid_naming_where_it_may_read(uri: str) -> None:
    item = valid_item()
    item["input"]["uri"] = uri
    result = validate_request(item["pk"], to_image(item), READABLE)
    assert result.valid is False
    assert result.reason == (
        f"input.uri: the job cannot read {uri!r}; it may read only under "
        "s3://stack-results/inputs/ or s3://lab-inputs/ (upload the input there, or deploy "
        "with InputBucketName)"
    )


def test_without_input_locations_inputs_are_not_checked() -> None:
    item = valid_item()
    item["input"]["uri"] = "s3://anywhere/x.fastq"
    assert validate_request(item["pk"], to_image(item)).valid is True


LIMITS = RunLimits(
    run_timeout_seconds=43200, max_concurrency=4, job_attempts=3, job_queue_seconds=1800
)


def with_variants(count: int, timeout_seconds: int) -> dict[str, Any]:
    item = valid_item()
    template = item["variants"][0]
    item["variants"] = [
        {**template, "name": f"v{i}", "timeout_seconds": timeout_seconds} for i in range(count)
    ]
    return item


def without_keys(item: dict[str, Any]) -> dict[str, Any]:
    """The request fields of an item: its run id from pk, the table's keys and status out."""
    fields = {k: v for k, v in item.items() if k not in {"pk", "sk", "status"}}
    return {**fields, "run_id": item["pk"].removeprefix("RUN#")}


def test_a_request_whose_worst_case_fits_the_run_timeout_is_valid() -> None:
    # 3 waves of 4 x (3600 s x 3 attempts + 1800 s) = 37800 s <= 43200 s.
    item = with_variants(12, 3600)
    assert worst_case_seconds(RunRequest.model_validate(without_keys(item)), LIMITS) == 37800
    assert validate_request(item["pk"], to_image(item), limits=LIMITS).valid is True


def test_a_request_whose_worst_case_exceeds_the_run_timeout_is_invalid_saying_why() -> None:
    # One more variant is a fourth wave: 50400 s > 43200 s.
    item = with_variants(13, 3600)
    result = validate_request(item["pk"], to_image(item), limits=LIMITS)
    assert result.valid is False
    assert result.reason == (
        "variants: the worst case takes 50400 s (4 wave(s) of up to 4 variants, each 3600 s x "
        "3 attempts + 1800 s queueing), over the run's limit of 43200 s; lower "
        "timeout_seconds or run fewer variants"
    )


def test_without_a_concurrency_limit_every_variant_runs_in_one_wave() -> None:
    unlimited = LIMITS.model_copy(update={"max_concurrency": 0})
    request = RunRequest.model_validate(without_keys(with_variants(40, 3600)))
    assert worst_case_seconds(request, unlimited) == 3600 * 3 + 1800


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (None, 1),
        ({"N": "4"}, 5),
        ({"N": "999999999"}, 1_000_000_000),
        ({"N": "1234567890"}, 1),  # over 9 digits: counted again from 1, not reported
        ({"N": "2.5"}, 1),
        ({"S": "3"}, 1),
        ("3", 1),
    ],
)
def test_next_attempt_counts_on_a_whole_attempt_and_starts_again_otherwise(
    attempt: object, expected: int
) -> None:
    image = to_image(valid_item())
    image.pop("attempt", None)
    if attempt is not None:
        image["attempt"] = attempt
    assert next_attempt(image) == expected
    assert validate_request(image["pk"]["S"], image).attempt == expected
    problems = validate_request(image["pk"]["S"], image).reason or ""
    wrong_type = attempt is not None and expected == 1 and attempt != {"N": "1234567890"}
    assert ("attempt:" in problems) is wrong_type


# ------------------------------------------------------------ compute options, architecture
def variant_reason(**changes: Any) -> tuple[bool, str]:
    """The outcome of the valid sample with its first variant changed by ``changes``."""
    item = valid_item()
    item["variants"][0] = {**item["variants"][0], **changes}
    return check(item)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"capacity": "SPOT", "architecture": "arm64"},
            "variants.0.architecture: Fargate Spot has no arm64 capacity; use capacity "
            "ON_DEMAND for arm64, or architecture x86_64 for Spot",
        ),
        (
            {"architecture": "aarch64"},
            "variants.0.architecture: Input should be 'x86_64' or 'arm64'",
        ),
        (
            {"compute": "ec2-m9z.huge"},
            "variants.0.compute: unknown compute option 'ec2-m9z.huge'; known: "
            "ec2-m7g.xlarge, ec2-m7i.xlarge, fargate",
        ),
        (
            {"compute": "ec2-m7i.xlarge", "vcpus": 8, "memory_mib": 4096},
            "variants.0.vcpus: at most 4 on ec2-m7i.xlarge (4 vCPUs, 16384 MiB, x86_64), got 8",
        ),
        (
            {"compute": "ec2-m7i.xlarge", "vcpus": Decimal("0.5")},
            "variants.0.vcpus: must be a whole number of vCPUs on EC2, got 0.5",
        ),
        (
            # 0.95 x 16384 = 15564.8: the ECS agent's and the system's share is left.
            {"compute": "ec2-m7i.xlarge", "memory_mib": 15565},
            "variants.0.memory_mib: must be 4..15564 on ec2-m7i.xlarge (4 vCPUs, 16384 MiB, "
            "x86_64): the ECS agent and the system keep about 5% of it; got 15565",
        ),
        (
            {"compute": "ec2-m7g.xlarge"},
            "variants.0.architecture: ec2-m7g.xlarge is arm64, got x86_64; name an x86_64 "
            "compute option or set architecture arm64",
        ),
        (
            {"compute": "ec2-m7i.xlarge", "architecture": "arm64"},
            "variants.0.architecture: ec2-m7i.xlarge is x86_64, got arm64; name an arm64 "
            "compute option or set architecture x86_64",
        ),
        (
            {"vcpus": 3},  # Fargate sizes stay as they were
            "variants.0.vcpus: must be one of 0.25, 0.5, 1, 2, 4, 8, 16, got 3",
        ),
        (
            {"memory_mib": 1000},
            "variants.0.memory_mib: 1000 is not a Fargate size for 1 vCPU; use 2048..8192 in "
            "steps of 1024",
        ),
    ],
)
def test_a_compute_choice_that_cannot_run_is_invalid_naming_the_attribute_and_why(
    changes: dict[str, Any], reason: str
) -> None:
    assert variant_reason(**changes) == (False, reason)


@pytest.mark.parametrize(
    "changes",
    [
        {"architecture": "arm64"},  # Fargate On-Demand on Graviton
        {"compute": "ec2-m7i.xlarge", "vcpus": 4, "memory_mib": 15564},  # the whole instance
        {"compute": "ec2-m7i.xlarge", "vcpus": 3, "memory_mib": 1000, "capacity": "SPOT"},
        {"compute": "ec2-m7g.xlarge", "architecture": "arm64", "capacity": "SPOT"},
    ],
)
def test_a_compute_choice_that_fits_is_valid(changes: dict[str, Any]) -> None:
    assert variant_reason(**changes) == (True, "")
