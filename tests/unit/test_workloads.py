"""Workload declarations (template.yaml's ``Metadata.Workload``): the catalogue the Lambda
functions read is the template's, and a declaration is checked and applied as its
schema says (runledger.workflows, runledger_cli.workloads)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from pydantic import ValidationError

from runledger.workflows import WorkloadError, workflow_from_declaration
from runledger_cli.sam_template import load_both
from runledger_cli.workloads import declared_workloads, main


def declaration(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Name": "demo",
        "Description": "A demo.",
        "Input": {
            "type": "object",
            "required": ["uri", "level"],
            "properties": {
                "uri": {"type": "string", "format": "location"},
                "level": {"type": "integer", "minimum": 1, "maximum": 9},
                "mode": {"type": "string", "enum": ["fast", "best"]},
                "ratio": {"type": "number", "minimum": 0},
                "check": {"type": "boolean"},
                "tag": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
            },
        },
        "Environment": {"IN": "uri", "LEVEL": "level", "MODE": "mode", "CHECK": "check"},
        "Reads": ["uri"],
    }
    return base | changes


def test_the_committed_catalogue_is_the_templates() -> None:
    assert main(["--check"]) == 0, "runledger/workloads.json is stale: run `make workloads`"


def test_a_declaration_becomes_the_job_environment_and_the_locations_it_reads() -> None:
    demo = workflow_from_declaration(declaration())
    given = {"uri": "s3://b/in.fq", "level": 3, "check": False}
    assert demo.job_environment(given) == {"IN": "s3://b/in.fq", "LEVEL": "3", "CHECK": "false"}
    assert demo.inputs(given) == {"uri": "s3://b/in.fq"}


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"uri": "s3://b/k"}, "level"),  # required
        ({"uri": "s3://b/k", "level": 10}, "level"),  # maximum
        ({"uri": "s3://b/k", "level": "3"}, "level"),  # strict: no coercion
        ({"uri": "s3://b/k", "level": 3, "mode": "slow"}, "mode"),  # enum
        ({"uri": "s3://b/k", "level": 3, "ratio": -1}, "ratio"),  # minimum
        ({"uri": "s3://b/k", "level": 3, "tag": "ABC"}, "tag"),  # pattern
        ({"uri": "gopher://x", "level": 3}, "uri"),  # format: location
        ({"uri": "s3://b/k", "level": 3, "other": 1}, "other"),  # no other property
    ],
)
def test_an_input_is_checked_as_its_declared_schema_says(
    given: dict[str, Any], problem: str
) -> None:
    demo = workflow_from_declaration(declaration())
    with pytest.raises(ValidationError) as raised:
        demo.validated(given)
    assert [error["loc"] for error in raised.value.errors()] == [(problem,)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Name": ""}, "needs a Name"),
        ({"Input": {"type": "array"}}, "input must be type: object with properties"),
        (
            {"Input": {"type": "object", "properties": {"x": {"type": "object"}}}},
            "input property 'x': type must be one of string, integer, number, boolean",
        ),
        (
            {"Input": {"type": "object", "properties": {"x": {"type": "string", "oneOf": []}}}},
            "input property 'x': unsupported keyword(s) oneOf",
        ),
        (
            {"Input": {"type": "object", "properties": {"x": {"type": "string", "format": "uri"}}}},
            "the only format is 'location'",
        ),
        ({"Environment": {"X": "nope"}}, "Environment names no input property: ['nope']"),
        ({"Reads": ["nope"]}, "Reads names no input property: ['nope']"),
    ],
)
def test_a_declaration_the_functions_cannot_use_is_refused_naming_what(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkloadError, match=re.escape(message)):
        workflow_from_declaration(declaration(**changes))


def test_a_workload_job_definition_must_be_named_for_its_workload_once() -> None:
    sam = copy.deepcopy(load_both()[0])
    job = sam["Resources"]["KmerCountFargateArm64JobDefinition"]
    job["Properties"]["JobDefinitionName"] = {"Fn::Sub": "${AWS::StackName}-kmer-count"}
    with pytest.raises(WorkloadError, match="needs JobDefinitionName: !Sub"):
        declared_workloads(sam)
    # Its loop declares it once per platform, the same each time: one declaration.
    declared = declared_workloads(load_both()[0])
    assert [d["Name"] for d in declared] == ["fastq-compress", "kmer-count"]
    sam = copy.deepcopy(load_both()[0])
    again = copy.deepcopy(sam["Resources"]["KmerCountEc2JobDefinition"])
    again["Metadata"]["Workload"]["Description"] = "another"
    sam["Resources"]["Again"] = again
    with pytest.raises(WorkloadError, match="'kmer-count' is declared twice, differently"):
        declared_workloads(sam)
