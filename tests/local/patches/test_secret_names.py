"""The secret_names patch: Secrets Manager refuses the names AWS refuses."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from patch_helpers import aws

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.secret_names import INVALID


def test_secret_names_a_name_with_a_space_is_refused_and_a_valid_one_created(
    local_cloud: LocalCloud,
) -> None:
    secrets = aws("secretsmanager")

    with pytest.raises(ClientError) as raised:
        secrets.create_secret(Name="Invalid Name", SecretString="x")
    created = secrets.create_secret(Name="runs/a_b+c=d.e@f-g", SecretString="x")

    # AWS (CreateSecret API reference; recorded in LocalStack's AWS-validated snapshot
    # error_handling/test_aws_sdk::test_invalid_secret_name).
    assert raised.value.response["Error"] == {"Code": "ValidationException", "Message": INVALID}
    assert created["Name"] == "runs/a_b+c=d.e@f-g"
    assert [s["Name"] for s in secrets.list_secrets()["SecretList"]] == ["runs/a_b+c=d.e@f-g"]
