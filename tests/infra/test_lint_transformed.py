"""cfn-lint on the template as SAM transforms it, as `make lint` runs it.

cfn-lint does not look inside the inline policies of an ``AWS::Serverless::StateMachine``
in the source template: a ``${Resource.Attribute}`` there that the resource's
CloudFormation schema lacks (E1019) passes the source lint and fails ``sam deploy``. The
transformed template has those policies on a plain ``AWS::IAM::Role``, where cfn-lint
checks them. cfn-lint's Python API is used (one process, about 2 s a template).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runledger_cli.sam_template import REPO_ROOT, TEMPLATE_PATH, load_cfn

#: The deploy blocker of issue 22: AWS::Batch::JobDefinition returns only JobDefinitionArn
#: to Fn::GetAtt (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-batch-jobdefinition.html).
NAME_BY_GETATT = "${KmerCountFargateX8664JobDefinition.JobDefinitionName}"
NAME_BY_SUB = "${AWS::StackName}-workload-*"


def lint_transformed(template: Path) -> list[tuple[str, str]]:
    from cfnlint.api import ManualArgs, lint  # here: collecting this file imports no cfn-lint

    config = ManualArgs(regions=["us-east-1"])
    matches = lint(json.dumps(load_cfn(template), default=str), config=config)
    return [(match.rule.id, match.message) for match in matches]


@pytest.fixture
def template_with_the_old_policy(tmp_path: Path) -> Path:
    """A copy of the template whose workflow policy names the job definition through
    GetAtt again, as before issue 22 (load_cfn swaps local paths for placeholder S3
    URIs, so the copy needs none of the folders it names)."""
    text = TEMPLATE_PATH.read_text()
    policy_arn = f"job-definition/{NAME_BY_SUB}"
    assert policy_arn in text
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace(policy_arn, f"job-definition/{NAME_BY_GETATT}"))
    return copy


def test_the_transformed_template_is_clean() -> None:
    assert lint_transformed(TEMPLATE_PATH) == []


def test_lint_of_the_transformed_template_catches_a_getatt_the_schema_lacks(
    template_with_the_old_policy: Path,
) -> None:
    found = lint_transformed(template_with_the_old_policy)
    assert found
    assert {rule for rule, _ in found} == {"E1019"}
    assert all("JobDefinitionName" in message for _, message in found)


def test_make_lint_lints_the_transformed_template_with_and_without_serverless_rules() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    lint_recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "$(TRANSFORMED)" in lint_recipe
    assert "cfn-lint template.yaml $(TRANSFORMED)" in lint_recipe
    assert "cfn-lint -a cfn_lint_serverless.rules -- template.yaml $(TRANSFORMED)" in lint_recipe
