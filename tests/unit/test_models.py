"""The request contract: Variant, RunRequest, the workflow registry and the helpers."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from runledger.models import (
    FARGATE_MEMORY_MIB,
    MAX_JOBS,
    RunRequest,
    Variant,
    format_vcpus,
    job_key,
    jobs_of,
    run_id_from_pk,
    split_run_items,
)
from runledger.workflows import UnknownWorkflowError, get_workflow, workflows

#: kmer-count's input model, as built from its declaration in template.yaml.
KmerCountInput = get_workflow("kmer-count").input_model

# Every valid Fargate size, written out from the AWS Batch docs rather than from the code.
DOCUMENTED_FARGATE_SIZES = {
    0.25: [512, 1024, 2048],
    0.5: list(range(1024, 4097, 1024)),
    1: list(range(2048, 8193, 1024)),
    2: list(range(4096, 16385, 1024)),
    4: list(range(8192, 30721, 1024)),
    8: list(range(16384, 61441, 4096)),
    16: list(range(32768, 122881, 8192)),
}


def request_fields() -> dict[str, Any]:
    return {
        "run_id": "kmer-1",
        "workflow": "kmer-count",
        "cost_center": "genomics-lab",
        "input": {"uri": "s3://bucket/sample.fastq", "k": 21},
        "variants": [
            {"name": "od-1vcpu", "vcpus": 1, "memory_mib": 2048, "capacity": "ON_DEMAND"},
            {"name": "spot-quarter", "vcpus": 0.25, "memory_mib": 512, "capacity": "SPOT"},
        ],
    }


def variant(**changes: Any) -> dict[str, Any]:
    return {"name": "v", "vcpus": 1, "memory_mib": 2048, "capacity": "ON_DEMAND", **changes}


def test_fargate_table_matches_the_documented_sizes() -> None:
    assert {vcpus: list(sizes) for vcpus, sizes in FARGATE_MEMORY_MIB.items()} == (
        DOCUMENTED_FARGATE_SIZES
    )


@pytest.mark.parametrize(
    ("vcpus", "memory_mib"),
    [(vcpus, size) for vcpus, sizes in DOCUMENTED_FARGATE_SIZES.items() for size in sizes],
)
def test_variant_accepts_every_documented_fargate_size(vcpus: float, memory_mib: int) -> None:
    assert Variant.model_validate(variant(vcpus=vcpus, memory_mib=memory_mib)).memory_mib == (
        memory_mib
    )


@pytest.mark.parametrize(
    ("vcpus", "memory_mib"),
    [
        (0.25, 4096),  # above the 0.25 vCPU maximum
        (0.5, 512),  # below the 0.5 vCPU minimum
        (1, 1024),
        (1, 2560),  # off the 1024 step
        (4, 31744),  # one step above the maximum
        (8, 17408),  # 1024 step where 8 vCPU needs 4096 steps
        (16, 36864),  # 4096 step where 16 vCPU needs 8192 steps
    ],
)
def test_variant_rejects_memory_that_does_not_fit_the_vcpus(vcpus: float, memory_mib: int) -> None:
    with pytest.raises(ValidationError, match="not a Fargate size"):
        Variant.model_validate(variant(vcpus=vcpus, memory_mib=memory_mib))


@pytest.mark.parametrize("vcpus", [0, 3, 0.75, 32, -1])
def test_variant_rejects_vcpus_fargate_does_not_offer(vcpus: float) -> None:
    with pytest.raises(
        ValidationError, match=re.escape("must be one of 0.25, 0.5, 1, 2, 4, 8, 16")
    ):
        Variant.model_validate(variant(vcpus=vcpus))


def test_variant_defaults_timeout_to_one_hour() -> None:
    assert Variant.model_validate(variant()).timeout_seconds == 3600


@pytest.mark.parametrize(
    "field_value",
    [{"vcpus": "1"}, {"memory_mib": "2048"}, {"memory_mib": 2048.5}, {"capacity": 1}],
)
def test_variant_is_strict_about_types(field_value: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Variant.model_validate(variant(**field_value))


def test_whole_vcpus_serialize_as_integers_and_fractions_as_floats() -> None:
    dumped = [
        Variant.model_validate(variant(vcpus=vcpus, memory_mib=memory)).model_dump(mode="json")[
            "vcpus"
        ]
        for vcpus, memory in [(2, 4096), (2.0, 4096), (0.25, 512)]
    ]
    assert dumped == [2, 2, 0.25]
    assert [type(value) for value in dumped] == [int, int, float]


@pytest.mark.parametrize(
    ("vcpus", "expected"), [(0.25, "0.25"), (0.5, "0.5"), (1, "1"), (2.0, "2"), (16, "16")]
)
def test_format_vcpus_gives_the_batch_resource_value(vcpus: float, expected: str) -> None:
    assert format_vcpus(vcpus) == expected


def test_run_request_round_trips_through_json() -> None:
    request = RunRequest.model_validate(request_fields())
    again = RunRequest.model_validate(json.loads(request.model_dump_json()))
    assert again == request
    assert request.input == request_fields()["input"]


def test_run_request_rejects_a_second_variant_with_the_same_name() -> None:
    fields = request_fields()
    fields["variants"][1] = copy.deepcopy(fields["variants"][0])
    with pytest.raises(ValidationError, match='duplicate variant name "od-1vcpu"'):
        RunRequest.model_validate(fields)


def test_run_request_rejects_an_unknown_workflow() -> None:
    with pytest.raises(
        ValidationError, match="unknown workflow 'bwa'; known: fastq-compress, kmer-count"
    ):
        RunRequest.model_validate({**request_fields(), "workflow": "bwa"})


def test_run_request_schema_documents_every_field() -> None:
    schema = RunRequest.model_json_schema()
    variant_schema = schema["$defs"]["Variant"]["properties"]
    assert all("description" in prop for prop in variant_schema.values())
    assert all("description" in prop for prop in schema["properties"].values())


def test_run_id_from_pk_strips_the_prefix_and_rejects_other_keys() -> None:
    assert run_id_from_pk("RUN#kmer-1") == "kmer-1"
    with pytest.raises(ValueError, match="RUN#<run_id>"):
        run_id_from_pk("kmer-1")


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/key.fastq", "file:///tmp/sample.fastq", "/tmp/sample.fastq", "data/s.fq"],
)
@pytest.mark.usefixtures("local_paths")
def test_kmer_input_accepts_s3_file_uris_and_paths(uri: str) -> None:
    assert KmerCountInput.model_validate({"uri": uri, "k": 21}).uri == uri


@pytest.mark.parametrize(
    "uri", ["", "s3://bucket", "s3://bucket/prefix/", "https://x/y.fq", "file://host/x"]
)
@pytest.mark.parametrize("local", [False, True], ids=["aws", "local-cloud"])
def test_kmer_input_rejects_other_locations(
    uri: str, local: bool, request: pytest.FixtureRequest
) -> None:
    if local:
        request.getfixturevalue("local_paths")
    with pytest.raises(ValidationError):
        KmerCountInput.model_validate({"uri": uri, "k": 21})


@pytest.mark.parametrize("uri", ["file:///tmp/sample.fastq", "/tmp/sample.fastq", "data/s.fq"])
def test_kmer_input_outside_the_local_cloud_is_an_s3_object(uri: str) -> None:
    with pytest.raises(ValidationError, match="must be an S3 object, s3://bucket/key"):
        KmerCountInput.model_validate({"uri": uri, "k": 21})


@pytest.mark.parametrize("k", [0, 32, "21"])
def test_kmer_input_rejects_k_outside_1_to_31(k: object) -> None:
    with pytest.raises(ValidationError):
        KmerCountInput.model_validate({"uri": "s3://b/k", "k": k})


def test_registry_knows_kmer_count_and_builds_its_environment() -> None:
    assert sorted(workflows()) == ["fastq-compress", "kmer-count"]
    environment = get_workflow("kmer-count").job_environment({"uri": "s3://b/k.fq", "k": 7})
    assert environment == {"RUNLEDGER_INPUT_URI": "s3://b/k.fq", "RUNLEDGER_KMER_K": "7"}


def test_registry_lookup_of_an_unknown_workflow_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownWorkflowError, match="unknown workflow 'nope'; known: fastq-compress, kmer-count"
    ):
        get_workflow("nope")


def test_split_run_items_keeps_only_the_owning_executions_variants() -> None:
    request = {"pk": "RUN#r", "sk": "REQUEST", "execution": "arn:new"}
    mine = {"pk": "RUN#r", "sk": "VARIANT#a", "execution": "arn:new", "attempt": 2}
    older = {"pk": "RUN#r", "sk": "VARIANT#b", "execution": "arn:old", "attempt": 1}
    assert split_run_items([older, request, mine]) == (request, {"a": mine})


def test_split_run_items_of_an_unclaimed_run_has_no_variants() -> None:
    stray = {"pk": "RUN#r", "sk": "VARIANT#a", "execution": "arn:old"}
    request = {"pk": "RUN#r", "sk": "REQUEST", "status": "REQUESTED"}
    assert split_run_items([request, stray]) == (request, {})
    assert split_run_items([stray]) == (None, {})


# ------------------------------------------------------------------ repeats
@pytest.mark.parametrize("repeats", [1, 2, 10])
def test_a_variant_may_repeat_one_to_ten_times(repeats: int) -> None:
    assert Variant.model_validate(variant(repeats=repeats)).repeats == repeats


def test_a_variant_runs_once_unless_it_says_otherwise() -> None:
    assert Variant.model_validate(variant()).repeats == 1


@pytest.mark.parametrize("repeats", [0, 11, -1])
def test_repeats_outside_one_to_ten_are_refused(repeats: int) -> None:
    with pytest.raises(ValidationError, match="repeats"):
        Variant.model_validate(variant(repeats=repeats))


def test_a_run_may_hold_up_to_a_thousand_jobs_and_no_more() -> None:
    fields = request_fields()
    fields["variants"] = [variant(name=f"v{i}", repeats=10) for i in range(MAX_JOBS // 10)]
    assert len(jobs_of(RunRequest.model_validate(fields).variants)) == MAX_JOBS
    fields["variants"].append(variant(name="one-more"))
    with pytest.raises(ValidationError) as refused:
        RunRequest.model_validate(fields)
    assert "the variants' repeats make 1001 jobs; a run may hold at most 1000" in str(refused.value)


def test_jobs_of_keys_each_repeat_and_leaves_a_single_run_by_its_name() -> None:
    variants = [
        Variant.model_validate(variant(name="a")),
        Variant.model_validate(variant(name="b", repeats=3)),
    ]
    assert list(jobs_of(variants)) == ["a", "b#1", "b#2", "b#3"]
    assert job_key("b", 2, 3) == "b#2"
    assert job_key("a", 1, 1) == "a"
