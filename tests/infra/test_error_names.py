"""Error names in run_workflow's Retry and Catch: only names Step Functions can report.

A retrier or catcher that names an error Step Functions never reports is silently dead:
the error it meant to catch falls through to the next one (here, States.ALL and a failed
run). So every name is checked against ``DOCUMENTED``, where each name carries the pages
it comes from.

How Step Functions names an integration's errors (the facts the table rests on):

* Optimized integrations report ``<Prefix>.<exception>``: ``DynamoDB.`` (upper-case DB,
  unlike the ``DynamoDb.`` of the aws-sdk integration; see SFN_DDB), ``Lambda.``,
  ``Batch.``.
* ``<exception>`` is the class the AWS SDK inside Step Functions throws, not always the
  API's error code. Recorded on AWS, a DynamoDB ``ValidationException`` comes back as
  ``DynamoDB.AmazonDynamoDBException`` (the SDK's generic class, DDB_RECORDED), and the
  Lambda names AWS recommends (``Lambda.AWSLambdaException``, ``Lambda.SdkClientException``,
  ``Lambda.ClientExecutionTimeoutException``) are SDK class names too (SFN_LAMBDA). The
  SDK classes always end in ``Exception``, and AWS says to add that suffix even where the
  API's name has none (SFN_SDK_NAMES): DynamoDB's ``RequestLimitExceeded`` is
  ``DynamoDB.RequestLimitExceededException`` and its ``InternalServerError`` is
  ``DynamoDB.InternalServerErrorException`` (classes in JAVA_DDB).
* An error with no class of its own in that SDK comes back as the generic class
  (``DynamoDB.AmazonDynamoDBException``, ``Batch.AWSBatchException``).

``retry`` says what the workflow must do with a name: True, a transient error that every
Task of the integration retries; False, a permanent one no retrier may list (a retry only
repeats the failure and delays the catch); None, either (it cannot arise here, or
retrying it is a choice).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from runledger_cli.sam_template import REPO_ROOT, load_both

# ------------------------------------------------------------------ sources
SFN_ERRORS = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html"
SFN_LAMBDA = "https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html"
SFN_DDB = "https://docs.aws.amazon.com/step-functions/latest/dg/connect-ddb.html"
SFN_SDK_NAMES = (
    "https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html"
)
DDB_ERRORS = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html"
)
DDB_UPDATE_ITEM = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html"
    "#API_UpdateItem_Errors"
)
DDB_PUT_ITEM = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html"
    "#API_PutItem_Errors"
)
JAVA_DDB = (
    "https://docs.aws.amazon.com/AWSJavaSDK/latest/javadoc/com/amazonaws/services/dynamodbv2/model/"
)
#: Not an AWS page: LocalStack's snapshot of a putItem task run on AWS (Error and Cause as
#: AWS returned them). The only place the generic DynamoDB name is shown.
DDB_RECORDED = (
    "https://github.com/localstack/localstack/blob/master/tests/aws/services/stepfunctions/"
    "v2/error_handling/test_task_service_dynamodb.snapshot.json"
)
BATCH_SUBMIT_JOB = (
    "https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html#API_SubmitJob_Errors"
)
BATCH_THROTTLED = "https://repost.aws/knowledge-center/aws-batch-requests-error"
JAVA_BATCH = (
    "https://docs.aws.amazon.com/AWSJavaSDK/latest/javadoc/com/amazonaws/services/batch/model/"
    "AWSBatchException.html"
)


@dataclass(frozen=True)
class ErrorName:
    sources: tuple[str, ...]
    retry: bool | None
    why: str


#: The States.* names Step Functions defines (SFN_ERRORS).
STATES_NAMES: frozenset[str] = frozenset(
    {
        "States.ALL",
        "States.BranchFailed",
        "States.DataLimitExceeded",
        "States.ExceedToleratedFailureThreshold",
        "States.HeartbeatTimeout",
        "States.Http.Socket",
        "States.IntrinsicFailure",
        "States.ItemReaderFailed",
        "States.NoChoiceMatched",
        "States.ParameterPathFailure",
        "States.Permissions",
        "States.QueryEvaluationError",
        "States.ResultPathMatchFailure",
        "States.ResultWriterFailed",
        "States.Runtime",
        "States.TaskFailed",
        "States.Timeout",
    }
)

#: What AWS recommends every Lambda task retry (SFN_LAMBDA, its Retry example).
LAMBDA_RECOMMENDED: frozenset[str] = frozenset(
    {
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
    }
)

DOCUMENTED: dict[str, dict[str, ErrorName]] = {
    # dynamodb:updateItem and dynamodb:putItem (the optimized integration).
    "dynamodb": {
        "DynamoDB.ProvisionedThroughputExceededException": ErrorName(
            (SFN_DDB, DDB_UPDATE_ITEM, DDB_PUT_ITEM, DDB_ERRORS),
            True,
            "throttled (partition or table throughput); DynamoDB: OK to retry",
        ),
        "DynamoDB.RequestLimitExceededException": ErrorName(
            (SFN_DDB, SFN_SDK_NAMES, DDB_ERRORS, JAVA_DDB + "RequestLimitExceededException.html"),
            True,
            "API error RequestLimitExceeded (account throughput quota), named by its SDK "
            "class; DynamoDB: OK to retry",
        ),
        "DynamoDB.ThrottlingException": ErrorName(
            (SFN_DDB, DDB_UPDATE_ITEM, DDB_PUT_ITEM, DDB_ERRORS),
            True,
            "throttled; listed for UpdateItem/PutItem by the API reference. An SDK without "
            "a class for it reports DynamoDB.AmazonDynamoDBException instead",
        ),
        "DynamoDB.InternalServerErrorException": ErrorName(
            (SFN_DDB, SFN_SDK_NAMES, DDB_ERRORS, JAVA_DDB + "InternalServerErrorException.html"),
            True,
            "API error InternalServerError (HTTP 500), named by its SDK class; DynamoDB: "
            "OK to retry",
        ),
        "DynamoDB.ConditionalCheckFailedException": ErrorName(
            (SFN_DDB, DDB_UPDATE_ITEM, DDB_PUT_ITEM, DDB_ERRORS),
            False,
            "the condition is false (the claim is taken); DynamoDB: OK to retry? No",
        ),
        "DynamoDB.ResourceNotFoundException": ErrorName(
            (SFN_DDB, DDB_UPDATE_ITEM, DDB_RECORDED, DDB_ERRORS),
            False,
            "no such table; DynamoDB: OK to retry? No",
        ),
        "DynamoDB.AmazonDynamoDBException": ErrorName(
            (DDB_RECORDED, JAVA_DDB + "AmazonDynamoDBException.html"),
            False,
            "the SDK's generic class: ValidationException (recorded on AWS) and every other "
            "error without a class of its own. Mostly permanent (a bad request), so it is "
            "caught, not retried",
        ),
        "DynamoDB.ItemCollectionSizeLimitExceededException": ErrorName(
            (SFN_DDB, DDB_UPDATE_ITEM, DDB_ERRORS),
            None,
            "only on tables with a local secondary index; the runs table has none",
        ),
        "DynamoDB.TransactionConflictException": ErrorName(
            (SFN_DDB, DDB_UPDATE_ITEM),
            None,
            "only while a transaction holds the item; runledger runs no transactions",
        ),
        "DynamoDB.ReplicatedWriteConflictException": ErrorName(
            (SFN_DDB, DDB_UPDATE_ITEM),
            None,
            "only on multi-Region strongly consistent global tables; the runs table is not one",
        ),
    },
    # lambda:invoke
    "lambda": {
        "Lambda.ClientExecutionTimeoutException": ErrorName(
            (SFN_LAMBDA,), True, "transient Lambda service error; AWS's Retry example"
        ),
        "Lambda.ServiceException": ErrorName(
            (SFN_LAMBDA, SFN_ERRORS), True, "transient Lambda service error (HTTP 500)"
        ),
        "Lambda.AWSLambdaException": ErrorName(
            (SFN_LAMBDA,), True, "transient Lambda service error; AWS's Retry example"
        ),
        "Lambda.SdkClientException": ErrorName(
            (SFN_LAMBDA, SFN_ERRORS), True, "transient Lambda service error; AWS's Retry example"
        ),
        "Lambda.TooManyRequestsException": ErrorName(
            (SFN_LAMBDA,), True, "Lambda hit its invocation limit (throttled)"
        ),
        "Lambda.Unknown": ErrorName(
            (SFN_LAMBDA, SFN_ERRORS),
            None,
            "the function failed unhandled (out of memory, timeout); retrying is a choice",
        ),
    },
    # batch:submitJob.sync (a job that ends FAILED is States.TaskFailed).
    "batch": {
        "Batch.ServerException": ErrorName(
            (BATCH_SUBMIT_JOB,), True, "SubmitJob failed on the server side (HTTP 500)"
        ),
        "Batch.AWSBatchException": ErrorName(
            (JAVA_BATCH, BATCH_THROTTLED),
            True,
            "the SDK's generic class: errors without a class of their own, such as the "
            "TooManyRequestsException (HTTP 429) SubmitJob answers when throttled",
        ),
        "Batch.ClientException": ErrorName(
            (BATCH_SUBMIT_JOB,),
            False,
            "a bad request (unknown queue or definition, no permission); a retry repeats it",
        ),
    },
}

PREFIX = {"dynamodb": "DynamoDB.", "lambda": "Lambda.", "batch": "Batch."}

#: A function's own error is reported by its ``errorType``, the Python exception's class
#: name (SFN_ERRORS: "Error names ... a Lambda function's custom error"); the states that
#: catch one by name, and the module that raises it.
SFN_CUSTOM = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html"
FUNCTION_ERRORS: dict[str, tuple[str, frozenset[str]]] = {
    "StartRun": ("runledger.starting", frozenset({"AlreadyClaimed", "RequestInvalid"})),
}


# ------------------------------------------------------------------ the ASL
def load_asl() -> dict[str, Any]:
    definition = load_both()[0]["Resources"]["RunWorkflow"]["Properties"]["DefinitionUri"]
    result: dict[str, Any] = json.loads((REPO_ROOT / definition).read_text())
    return result


def walk(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, those inside Map ItemProcessors and Parallel branches too."""
    for name, state in states.items():
        yield name, state
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            yield from walk(processor["States"])
        for branch in state.get("Branches", []):
            yield from walk(branch["States"])


def integration(state: dict[str, Any]) -> str:
    """``arn:${Partition}:states:::dynamodb:updateItem`` -> ``dynamodb``."""
    resource: str = state["Resource"]
    assert ":states:::" in resource, f"not a service integration: {resource}"
    return resource.split(":::", 1)[1].split(":", 1)[0]


def integrations_within(state: dict[str, Any]) -> set[str]:
    """The integrations a state can report errors of: its own, or its inner Tasks'."""
    if state["Type"] == "Task":
        return {integration(state)}
    inner: dict[str, Any] = {}
    if state["Type"] == "Map":
        inner = (state.get("ItemProcessor") or state["Iterator"])["States"]
    for branch in state.get("Branches", []):
        inner |= branch["States"]
    return {i for _, s in walk(inner) if s["Type"] == "Task" for i in integrations_within(s)}


ASL = load_asl()
STATES = dict(walk(ASL["States"]))
HANDLING = [name for name, s in STATES.items() if "Retry" in s or "Catch" in s]
TASKS = [name for name, s in STATES.items() if s["Type"] == "Task"]


def listed(state: dict[str, Any], field: str) -> list[str]:
    return [error for rule in state.get(field, []) for error in rule["ErrorEquals"]]


def names_of(kind: str, *, retry: bool | None) -> set[str]:
    return {name for name, entry in DOCUMENTED[kind].items() if entry.retry is retry}


# ------------------------------------------------------------------ the table
def test_table_names_carry_their_prefix_and_sources() -> None:
    assert all(name.startswith("States.") for name in STATES_NAMES)
    assert set(DOCUMENTED) == set(PREFIX)
    for kind, names in DOCUMENTED.items():
        for name, entry in names.items():
            assert name.startswith(PREFIX[kind]), name
            assert entry.sources, name
            assert all(url.startswith("https://") for url in entry.sources), name
    assert all(DOCUMENTED["lambda"][name].retry is True for name in LAMBDA_RECOMMENDED)


def test_every_task_calls_an_integration_the_table_knows() -> None:
    assert TASKS
    called = {name: integration(STATES[name]) for name in TASKS}
    assert {name: kind for name, kind in called.items() if kind not in DOCUMENTED} == {}


# ------------------------------------------------------------------ the workflow
@pytest.mark.parametrize("name", HANDLING)
def test_every_error_name_is_one_step_functions_reports_there(name: str) -> None:
    state = STATES[name]
    known = set(STATES_NAMES) | set(FUNCTION_ERRORS.get(name, ("", frozenset()))[1])
    for kind in integrations_within(state):
        known |= set(DOCUMENTED[kind])
    unknown = sorted(
        {error for field in ("Retry", "Catch") for error in listed(state, field)} - known
    )
    assert unknown == [], f"{name}: names Step Functions does not report for its integration"


@pytest.mark.parametrize("state", sorted(FUNCTION_ERRORS))
def test_a_function_error_caught_by_name_is_an_exception_its_function_raises(state: str) -> None:
    import importlib
    from pathlib import Path

    module_name, errors = FUNCTION_ERRORS[state]
    module = importlib.import_module(module_name)
    assert integration(STATES[state]) == "lambda"
    assert set(listed(STATES[state], "Catch")) >= errors
    for error in errors:
        assert issubclass(getattr(module, error), Exception)
        assert f"raise {error}(" in Path(str(module.__file__)).read_text()


@pytest.mark.parametrize("name", HANDLING)
def test_no_error_is_listed_twice(name: str) -> None:
    for field in ("Retry", "Catch"):
        errors = listed(STATES[name], field)
        twice = sorted({error for error in errors if errors.count(error) > 1})
        assert twice == [], f"{name}.{field}: listed by two rules (only the first applies)"


@pytest.mark.parametrize("name", HANDLING)
def test_states_all_stands_alone_in_the_last_rule(name: str) -> None:
    for field in ("Retry", "Catch"):
        rules = STATES[name].get(field, [])
        for i, rule in enumerate(rules):
            if "States.ALL" in rule["ErrorEquals"]:
                assert rule["ErrorEquals"] == ["States.ALL"], f"{name}.{field}[{i}]"
                assert i == len(rules) - 1, f"{name}.{field}[{i}] is not last"


@pytest.mark.parametrize("name", TASKS)
def test_every_task_retries_the_transient_errors_of_its_integration(name: str) -> None:
    kind = integration(STATES[name])
    missing = sorted(names_of(kind, retry=True) - set(listed(STATES[name], "Retry")))
    assert missing == [], f"{name}: transient {kind} errors not retried"


@pytest.mark.parametrize("name", TASKS)
def test_no_task_retries_a_permanent_error(name: str) -> None:
    kind = integration(STATES[name])
    retried = sorted(names_of(kind, retry=False) & set(listed(STATES[name], "Retry")))
    assert retried == [], f"{name}: permanent {kind} errors retried"


@pytest.mark.parametrize("name", [n for n in TASKS if integration(STATES[n]) == "lambda"])
def test_every_lambda_task_retries_what_aws_recommends(name: str) -> None:
    missing = sorted(LAMBDA_RECOMMENDED - set(listed(STATES[name], "Retry")))
    assert missing == [], f"{name}: see {SFN_LAMBDA}"
