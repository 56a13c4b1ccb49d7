"""The local cloud resolves Ref and Fn::GetAtt only as CloudFormation does.

What a resource returns to ``Fn::GetAtt`` comes from its CloudFormation resource schema
(the schemas cfn-lint ships); a template naming anything else would fail its first
``sam deploy``, so the local cloud refuses to start on it, naming resource and attribute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runledger_cli.sam_template import TEMPLATE_PATH, load_attributes, load_both
from runledger_local.cloud import LocalPipeline
from runledger_local.intrinsics import Scope, UnresolvableError, check_references

OLD_POLICY_LINE = "job-definition/${KmerCountFargateX8664JobDefinition.JobDefinitionName}"


def test_the_schemas_say_a_batch_job_definition_returns_only_its_arn() -> None:
    attributes = load_attributes()  # as the local cloud reads them
    assert attributes["AWS::Batch::JobDefinition"] == ["JobDefinitionArn"]
    assert {"Arn", "StreamArn"} <= set(attributes["AWS::DynamoDB::Table"])


def test_the_template_names_only_attributes_its_resources_return() -> None:
    returns = check_references(load_both()[1], load_attributes())
    assert returns["KmerCountFargateX8664JobDefinition"] == frozenset({"JobDefinitionArn"})


def test_a_getatt_outside_the_schema_is_refused_in_a_sub_and_in_a_getatt() -> None:
    template = {
        "Resources": {
            "Jobs": {"Type": "AWS::Batch::JobDefinition", "Properties": {}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "A": {"Fn::Sub": "job-definition/${Jobs.JobDefinitionName}"},
                    "B": {"Fn::GetAtt": ["Jobs", "Name"]},
                    "C": {"Ref": "Nowhere"},
                    "D": {"Fn::Sub": ["${x}", {"x": {"Fn::GetAtt": "Jobs.JobDefinitionArn"}}]},
                },
            },
        }
    }
    with pytest.raises(UnresolvableError) as refused:
        check_references(template, {"AWS::Batch::JobDefinition": ["JobDefinitionArn"]})
    message = str(refused.value)
    assert "Resources.Role: Fn::GetAtt Jobs.JobDefinitionName" in message
    assert "Fn::GetAtt Jobs.Name" in message
    assert "returns only JobDefinitionArn" in message
    assert "Ref Nowhere: no such parameter or resource" in message
    assert "JobDefinitionArn:" not in message  # the valid one in D is not reported


def test_a_recorded_attribute_the_schema_does_not_list_is_not_resolved() -> None:
    scope = Scope(
        parameters={},
        attributes={("Jobs", "JobDefinitionName"): "fabricated"},
        returns={"Jobs": frozenset({"JobDefinitionArn"})},
    )
    with pytest.raises(UnresolvableError, match=r"Jobs\.JobDefinitionName"):
        scope.get_att("Jobs", "JobDefinitionName")


def test_the_local_cloud_refuses_to_start_on_a_job_definition_name_getatt(
    tmp_path: Path,
) -> None:
    """GIVEN the template with the policy naming the job definition through
    ``${KmerCountFargateX8664JobDefinition.JobDefinitionName}`` (what the first sam deploy rejected)
    WHEN the local cloud starts on it THEN it refuses, naming resource and attribute."""
    text = TEMPLATE_PATH.read_text()
    new_line = "job-definition/${AWS::StackName}-workload-*"
    assert new_line in text
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace(new_line, OLD_POLICY_LINE))
    with pytest.raises(UnresolvableError) as refused, LocalPipeline(template=broken):
        pytest.fail("the local cloud started")
    assert "Fn::GetAtt KmerCountFargateX8664JobDefinition.JobDefinitionName" in str(refused.value)
    assert "returns only JobDefinitionArn" in str(refused.value)
