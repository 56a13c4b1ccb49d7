"""The client_cache patch, proved through boto3 against moto."""

from __future__ import annotations

from patch_helpers import (
    REGION,
    aws,
    create_runs_table,
    create_state_machine,
    run_execution,
)

from runledger_local.patches import LocalCloud


# ------------------------------------------------------------------------ client_cache
def test_client_cache_gives_the_engine_one_client_per_service_and_region(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    first = boto_client.boto_client_for(region=REGION, service="dynamodb")
    assert boto_client.boto_client_for(region=REGION, service="dynamodb") is first
    assert boto_client.boto_client_for(region="eu-west-1", service="dynamodb") is not first
    assert boto_client.boto_client_for(region=REGION, service="lambda") is not first

    ddb = aws("dynamodb")
    create_runs_table(ddb)
    sfn = aws("stepfunctions")
    arn = create_state_machine(
        sfn,
        "put-twice",
        {
            "QueryLanguage": "JSONata",
            "StartAt": "PutA",
            "States": {
                "PutA": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Arguments": {
                        "TableName": "runs",
                        "Item": {"pk": {"S": "A"}, "sk": {"S": "1"}},
                    },
                    "Next": "PutB",
                },
                "PutB": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Arguments": {
                        "TableName": "runs",
                        "Item": {"pk": {"S": "B"}, "sk": {"S": "1"}},
                    },
                    "End": True,
                },
            },
        },
    )
    assert run_execution(sfn, arn, {})["status"] == "SUCCEEDED"
    assert ddb.scan(TableName="runs")["Count"] == 2
