"""The local pipe runner, through moto: a real table and stream, a real DLQ, real executions."""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from runledger_cli.sam_template import table_schema
from runledger_local.logs import get_logger
from runledger_local.pipe_runner import (
    InputTemplateError,
    PipeRunner,
    RunnerOptions,
    render_input_template,
    wire_json_client,
)

FIXTURES = Path(__file__).parent / "fixtures" / "pipes"
REGION = "us-east-1"
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
FAST = RunnerOptions(poll_interval=0.01, backoff_base=0.001, backoff_max=0.005)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@dataclass
class Cloud:
    ddb: Any
    streams: Any
    sfn: Any
    sqs: Any
    table: str
    stream_arn: str
    state_machine_arn: str
    queue_url: str
    queue_arn: str

    def put(self, run_id: str, sk: str = "REQUEST", status: str = "REQUESTED") -> None:
        item = {"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": sk}, "status": {"S": status}}
        self.ddb.put_item(TableName=self.table, Item=item)

    def set_status(self, run_id: str, status: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "REQUEST"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}},
        )

    def execution_inputs(self) -> list[Any]:
        """Inputs of every execution of the state machine, oldest first."""
        listed = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        ordered = sorted(listed, key=lambda e: e["startDate"])
        return [
            json.loads(self.sfn.describe_execution(executionArn=e["executionArn"])["input"])
            for e in ordered
        ]

    def dlq_bodies(self) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in received.get("Messages", [])]


def make_cloud(suffix: str = "", endpoint_url: str | None = None) -> Cloud:
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url)

    ddb, sqs, sfn = client("dynamodb"), client("sqs"), client("stepfunctions")
    table = f"runs{suffix}"
    created = ddb.create_table(TableName=table, **table_schema())
    queue_url = sqs.create_queue(QueueName=f"pipe-dlq{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    machine = sfn.create_state_machine(
        name=f"run-workflow{suffix}",
        definition=PASS_MACHINE,
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )
    return Cloud(
        ddb=ddb,
        streams=client("dynamodbstreams"),
        sfn=sfn,
        sqs=sqs,
        table=table,
        stream_arn=created["TableDescription"]["LatestStreamArn"],
        state_machine_arn=machine["stateMachineArn"],
        queue_url=queue_url,
        queue_arn=queue_arn,
    )


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield make_cloud()


def pipe_properties(
    cloud: Cloud, template: str | None = None, **stream_params: Any
) -> dict[str, Any]:
    """The fixture pipe with this cloud's ARNs, another InputTemplate and stream parameters."""
    properties = json.loads((FIXTURES / "run_request_pipe.json").read_text())
    properties["Source"] = cloud.stream_arn
    properties["Target"] = cloud.state_machine_arn
    source = properties["SourceParameters"]["DynamoDBStreamParameters"]
    source["DeadLetterConfig"]["Arn"] = cloud.queue_arn
    source.update(stream_params)
    if template is not None:
        properties["TargetParameters"]["InputTemplate"] = template
    return properties


@pytest.fixture
def runner_for(cloud: Cloud) -> Iterator[Callable[..., PipeRunner]]:
    made: list[PipeRunner] = []

    def make(
        properties: dict[str, Any],
        options: RunnerOptions = FAST,
        sfn: Any = None,
        streams: Any = None,
    ) -> PipeRunner:
        runner = PipeRunner(
            properties,
            streams=streams or cloud.streams,
            stepfunctions=sfn or cloud.sfn,
            sqs=cloud.sqs,
            options=options,
        )
        made.append(runner)
        return runner

    yield make
    for runner in made:
        assert runner.stop(timeout=2.0)


# --- filtering and the input template, end to end --------------------------------------


def test_request_put_starts_one_execution_with_templated_one_element_array(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    runner = runner_for(pipe_properties(cloud))
    cloud.put("kmer-001")

    assert runner.wait_idle(timeout=5)

    [execution_input] = cloud.execution_inputs()
    [element] = execution_input
    assert element["pk"] == "RUN#kmer-001"
    assert element["image"] == {
        "pk": {"S": "RUN#kmer-001"},
        "sk": {"S": "REQUEST"},
        "status": {"S": "REQUESTED"},
    }
    assert isinstance(element["event_id"], str)
    assert element["event_id"]
    counters = runner.counters
    assert (counters.records_read, counters.executions_started) == (1, 1)


def test_write_backs_start_nothing_and_setting_requested_again_reruns(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    runner = runner_for(pipe_properties(cloud))
    cloud.put("r1")
    assert runner.wait_idle(timeout=5)
    assert len(cloud.execution_inputs()) == 1

    # WHEN the workflow writes back statuses, variant results, and the item is removed
    for status in ("RUNNING", "SUCCEEDED", "FAILED", "INVALID"):
        cloud.set_status("r1", status)
    cloud.put("r1", sk="VARIANT#od-1vcpu", status="SUCCEEDED")
    cloud.put("r1", sk="VARIANT#spot-2vcpu", status="REQUESTED")
    cloud.ddb.delete_item(
        TableName=cloud.table, Key={"pk": {"S": "RUN#r1"}, "sk": {"S": "VARIANT#od-1vcpu"}}
    )
    assert runner.wait_idle(timeout=5)

    # THEN no execution starts
    assert len(cloud.execution_inputs()) == 1
    assert runner.counters.records_filtered_out == 7

    # WHEN the request is set back to REQUESTED, THEN a new run starts
    cloud.set_status("r1", "REQUESTED")
    assert runner.wait_idle(timeout=5)
    inputs = cloud.execution_inputs()
    assert len(inputs) == 2
    assert inputs[1][0]["image"]["status"] == {"S": "REQUESTED"}


def test_without_filters_or_template_every_record_passes_as_is(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    properties = pipe_properties(cloud)
    del properties["SourceParameters"]["FilterCriteria"]
    del properties["TargetParameters"]["InputTemplate"]
    runner = runner_for(properties)
    cloud.put("r1", sk="VARIANT#a", status="SUCCEEDED")
    cloud.ddb.delete_item(
        TableName=cloud.table, Key={"pk": {"S": "RUN#r1"}, "sk": {"S": "VARIANT#a"}}
    )

    assert runner.wait_idle(timeout=5)

    inserted, removed = (batch[0] for batch in cloud.execution_inputs())
    assert (inserted["eventName"], removed["eventName"]) == ("INSERT", "REMOVE")
    assert inserted["eventSource"] == "aws:dynamodb"
    assert inserted["eventSourceARN"] == cloud.stream_arn
    assert isinstance(inserted["dynamodb"]["ApproximateCreationDateTime"], int)
    # The table streams NEW_IMAGE only (nothing reads old images): a REMOVE has its keys.
    assert removed["dynamodb"]["Keys"]["sk"] == {"S": "VARIANT#a"}
    assert "OldImage" not in removed["dynamodb"]


def test_a_wire_json_client_delivers_the_same_events_as_a_boto3_client(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    wire = wire_json_client("dynamodbstreams", region_name=REGION)
    first = wire.describe_stream(StreamArn=cloud.stream_arn)["StreamDescription"]["Shards"][0]
    iterator = wire.get_shard_iterator(
        StreamArn=cloud.stream_arn, ShardId=first["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    properties = pipe_properties(cloud)
    del properties["SourceParameters"]["FilterCriteria"]
    del properties["TargetParameters"]["InputTemplate"]
    properties["SourceParameters"]["DynamoDBStreamParameters"]["StartingPosition"] = "TRIM_HORIZON"
    every_type = {
        "pk": {"S": "RUN#types"},
        "sk": {"S": "REQUEST"},
        "blob": {"B": b"\x00\xffbytes"},
        "blobs": {"BS": [b"a", b"\x01"]},
        "numbers": {"NS": ["1", "2.5"]},
        "strings": {"SS": ["x", "y"]},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "nested": {"M": {"list": {"L": [{"N": "3"}, {"M": {"b": {"B": b"in"}}}]}}},
    }
    cloud.ddb.put_item(TableName=cloud.table, Item=every_type)
    cloud.ddb.delete_item(
        TableName=cloud.table, Key={"pk": every_type["pk"], "sk": every_type["sk"]}
    )

    # The wire client's answer is the service's JSON: epoch numbers, base64 strings.
    records = wire.get_records(ShardIterator=iterator)["Records"]
    assert isinstance(records[0]["dynamodb"]["ApproximateCreationDateTime"], int | float)
    assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": "AP9ieXRlcw=="}
    # The same two records, through a boto3 client (botocore's types, turned back into
    # JSON), then through the wire client.
    assert runner_for(properties).wait_idle(timeout=5)
    assert runner_for(properties, streams=wire).wait_idle(timeout=5)
    inputs = cloud.execution_inputs()
    assert [batch[0]["eventName"] for batch in inputs] == ["INSERT", "REMOVE"] * 2
    assert inputs[:2] == inputs[2:]
    inserted = inputs[0][0]["dynamodb"]["NewImage"]
    assert inserted["nested"]["M"]["list"]["L"][1] == {"M": {"b": {"B": "aW4="}}}
    assert inserted["blobs"] == {"BS": ["YQ==", "AQ=="]}


def test_starting_position_latest_skips_earlier_writes_trim_horizon_reads_them(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    cloud.put("before")
    latest = runner_for(pipe_properties(cloud))
    assert latest.wait_idle(timeout=5)
    assert latest.counters.records_read == 0

    horizon = runner_for(pipe_properties(cloud, StartingPosition="TRIM_HORIZON"))
    assert horizon.wait_idle(timeout=5)
    assert horizon.counters.executions_started == 1


# --- batching --------------------------------------------------------------------------


def test_batch_size_3_with_5_records_starts_two_executions_of_3_and_2(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    runner = runner_for(pipe_properties(cloud, BatchSize=3))
    for n in range(5):
        cloud.put(f"r{n}")

    result = runner.run_once()

    assert len(result.execution_arns) == 2
    inputs = cloud.execution_inputs()
    assert [len(batch) for batch in inputs] == [3, 2]
    assert [element["pk"] for batch in inputs for element in batch] == [
        f"RUN#r{n}" for n in range(5)
    ]


def test_batching_window_holds_a_partial_batch_until_it_fills(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    runner = runner_for(pipe_properties(cloud, BatchSize=2, MaximumBatchingWindowInSeconds=300))
    cloud.put("r1")
    first = runner.run_once()
    assert (first.pending, first.batches_delivered, first.idle) == (1, 0, False)

    cloud.put("r2")
    assert runner.run_once().batches_delivered == 1
    assert [len(batch) for batch in cloud.execution_inputs()] == [2]


# --- failures, retries, record age, DLQ ------------------------------------------------


def test_target_failing_every_time_lands_in_dlq_after_max_retries(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    properties = pipe_properties(cloud, MaximumRetryAttempts=2)
    properties["Target"] = cloud.state_machine_arn + "-missing"
    runner = runner_for(properties)
    cloud.put("r1")

    assert runner.wait_idle(timeout=5)

    counters = runner.counters
    assert (counters.target_failures, counters.retries) == (3, 2)
    assert (counters.batches_to_dlq, counters.records_to_dlq, counters.executions_started) == (
        1,
        1,
        0,
    )
    [message] = cloud.dlq_bodies()
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestContext"]["pipeArn"].endswith(":pipe/local-pipe")
    assert message["responseContext"]["errorCode"] == "StateMachineDoesNotExist"
    info = message["DDBStreamBatchInfo"]
    assert info["streamArn"] == cloud.stream_arn
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    described = cloud.streams.describe_stream(StreamArn=cloud.stream_arn)["StreamDescription"]
    assert info["shardId"] == described["Shards"][0]["ShardId"]


def test_pipe_logs_are_json_lines_of_their_own_without_the_last_handlers_keys(
    cloud: Cloud, runner_for: Callable[..., PipeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    # A handler's Powertools logger ("runledger", the pipe's parent by name) keeps the keys
    # of its last invocation; a pipe's DLQ warning must not look like that run's.
    handler_logger = Logger(service="runledger")
    handler_logger.append_keys(run_id="some-other-run", function_name="ValidateRequest")
    try:
        properties = pipe_properties(cloud, MaximumRetryAttempts=0)
        properties["Target"] = cloud.state_machine_arn + "-missing"
        runner = runner_for(properties)
        cloud.put("r1")
        assert runner.wait_idle(timeout=5)
    finally:
        handler_logger.remove_keys(["run_id", "function_name"])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [dlq] = [line for line in lines if line["message"] == "pipe sent a batch to its DLQ"]
    assert dlq["level"] == "WARNING"
    assert dlq["service"] == "runledger_local"
    assert (dlq["pipe"], dlq["condition"], dlq["records"]) == (
        "local-pipe",
        "RetryAttemptsExhausted",
        1,
    )
    assert "run_id" not in dlq
    assert "function_name" not in dlq


def test_the_local_clouds_loggers_are_its_modules_only() -> None:
    assert get_logger("runledger_local.pipe_runner").name == "runledger_local.pipe_runner"
    with pytest.raises(ValueError, match=r"not a module of runledger_local"):
        get_logger("runledger.validation")


class FlakyStepFunctions:
    """Fails the first ``failures`` StartExecution calls with a throttling error."""

    def __init__(self, real: Any, failures: int) -> None:
        self.real, self.failures = real, failures

    def start_execution(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "StartExecution")
        return self.real.start_execution(**kwargs)


def test_target_failing_twice_then_succeeding_starts_one_execution_and_no_dlq(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    flaky = FlakyStepFunctions(cloud.sfn, failures=2)
    runner = runner_for(pipe_properties(cloud, MaximumRetryAttempts=2), sfn=flaky)
    cloud.put("r1")

    assert runner.wait_idle(timeout=5)

    counters = runner.counters
    assert (counters.target_failures, counters.retries, counters.executions_started) == (2, 2, 1)
    assert counters.batches_to_dlq == 0
    assert cloud.dlq_bodies() == []


def test_records_older_than_max_age_go_to_dlq_without_starting(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    an_hour_later = RunnerOptions(
        poll_interval=0.01, backoff_base=0.001, clock=lambda: time.time() + 3600
    )
    runner = runner_for(pipe_properties(cloud, MaximumRecordAgeInSeconds=60), an_hour_later)
    cloud.put("r1")

    assert runner.wait_idle(timeout=5)

    counters = runner.counters
    assert (counters.records_expired, counters.executions_started, counters.target_failures) == (
        1,
        0,
        0,
    )
    [message] = cloud.dlq_bodies()
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == 0


def test_automatic_bisect_splits_a_failing_batch_down_to_single_records(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    properties = pipe_properties(
        cloud, BatchSize=3, MaximumRetryAttempts=0, OnPartialBatchItemFailure="AUTOMATIC_BISECT"
    )
    properties["Target"] = cloud.state_machine_arn + "-missing"
    runner = runner_for(properties)
    for n in range(3):
        cloud.put(f"r{n}")

    assert runner.wait_idle(timeout=5)

    messages = cloud.dlq_bodies()
    assert sorted(m["DDBStreamBatchInfo"]["batchSize"] for m in messages) == [1, 1, 1]
    assert runner.counters.target_failures == 5  # [3] -> [1] + [2] -> [1] + [1]


def test_template_rendering_invalid_json_sends_the_batch_to_dlq(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    runner = runner_for(pipe_properties(cloud, template='{"pk": <$.eventID>x}'))
    cloud.put("r1")

    assert runner.wait_idle(timeout=5)

    [message] = cloud.dlq_bodies()
    assert message["requestContext"]["condition"] == "InputTransformationFailed"
    assert runner.counters.target_failures == 0


# --- background thread -----------------------------------------------------------------


def test_background_thread_delivers_within_a_second_and_stops_cleanly(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    runner = runner_for(pipe_properties(cloud))
    runner.start()
    written = time.monotonic()
    cloud.put("r1")

    assert runner.wait_idle(timeout=5)
    assert time.monotonic() - written < 1.0
    assert len(cloud.execution_inputs()) == 1

    stopping = time.monotonic()
    assert runner.stop(timeout=2.0)
    assert time.monotonic() - stopping < 1.0
    assert not runner.running


class _TimedStreams:
    """A DynamoDB Streams client that notes when each GetRecords call was made."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.reads: list[float] = []

    def get_records(self, **kwargs: Any) -> Any:
        self.reads.append(time.monotonic())
        return self._client.get_records(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_busy_stream_is_read_once_per_poll_interval_not_after_every_record(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    # GIVEN a runner polling every 0.1 s, and a writer putting a request every 20 ms
    streams = _TimedStreams(cloud.streams)
    options = RunnerOptions(poll_interval=0.1, max_idle_poll_interval=0.1)
    runner = runner_for(pipe_properties(cloud), options, streams=streams)
    runner.start()
    for number in range(25):
        cloud.put(f"r{number}")
        time.sleep(0.02)
    reads = list(streams.reads)
    assert runner.wait_idle(timeout=5)

    # THEN every record was read and started its execution, but the reads while records
    # kept coming were a poll interval apart (not one right after each busy pass)
    assert runner.counters.records_read == 25
    assert len(cloud.execution_inputs()) == 25
    gaps = [later - earlier for earlier, later in itertools.pairwise(reads)]
    assert len(gaps) >= 3
    assert min(gaps) >= 0.09, gaps


def test_stop_interrupts_a_backoff_and_keeps_the_batch(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    properties = pipe_properties(cloud, MaximumRetryAttempts=5)
    properties["Target"] = cloud.state_machine_arn + "-missing"
    slow_backoff = RunnerOptions(poll_interval=0.01, backoff_base=30.0, backoff_max=30.0)
    runner = runner_for(properties, slow_backoff)
    runner.start()
    cloud.put("r1")
    deadline = time.monotonic() + 5
    while runner.counters.target_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.counters.target_failures == 1

    stopping = time.monotonic()
    assert runner.stop(timeout=2.0)

    assert time.monotonic() - stopping < 1.0
    assert runner.counters.batches_to_dlq == 0

    # THEN the batch is still there: the next pass retries it (fast now) into the DLQ
    runner.options = FAST
    assert runner.run_once().batches_to_dlq == 1
    [message] = cloud.dlq_bodies()
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1


def test_wait_idle_times_out_while_a_batch_waits_in_its_window(
    cloud: Cloud, runner_for: Callable[..., PipeRunner]
) -> None:
    runner = runner_for(pipe_properties(cloud, BatchSize=5, MaximumBatchingWindowInSeconds=300))
    cloud.put("r1")

    assert not runner.wait_idle(timeout=0.2)


# --- configuration the runner refuses ---------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(Enrichment="arn:aws:lambda:us-east-1:1:function:f"), "Enrichment"),
        (
            lambda p: p["TargetParameters"]["StepFunctionStateMachineParameters"].update(
                InvocationType="REQUEST_RESPONSE"
            ),
            "REQUEST_RESPONSE",
        ),
        (lambda p: p.update(Target="arn:aws:sqs:us-east-1:1:q"), "state machine"),
    ],
)
def test_unsupported_pipe_configuration_is_refused(
    cloud: Cloud, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    properties = pipe_properties(cloud)
    change(properties)
    with pytest.raises(ValueError, match=message):
        PipeRunner(properties, streams=cloud.streams, stepfunctions=cloud.sfn, sqs=cloud.sqs)


# --- server mode -----------------------------------------------------------------------


def test_runner_works_against_a_moto_server_endpoint() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        cloud = make_cloud(suffix="-server", endpoint_url=endpoint)
        runner = PipeRunner(
            pipe_properties(cloud),
            streams=cloud.streams,
            stepfunctions=cloud.sfn,
            sqs=cloud.sqs,
            options=FAST,
        )
        cloud.put("r1")
        cloud.set_status("r1", "RUNNING")

        assert runner.wait_idle(timeout=5)

        [[element]] = cloud.execution_inputs()
        assert element["pk"] == "RUN#r1"
        assert runner.counters.records_filtered_out == 1
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=5)
        server.stop()


# --- InputTemplate rules (no cloud) ------------------------------------------------------

RECORD: dict[str, Any] = {
    "eventID": "abc",
    "eventName": "INSERT",
    "dynamodb": {
        "Keys": {"pk": {"S": "RUN#1"}},
        "NewImage": {"pk": {"S": "RUN#1"}, "n": {"N": "3"}, "quote": {"S": 'say "hi"'}},
        "SizeBytes": 42,
        "Tags": ["a", "b"],
    },
    "Records": [{"x": 1}, {"x": 2}],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # inside quotes: inserted as text
        ('{"v": "<$.eventID>"}', {"v": "abc"}),
        ('{"v": "size <$.dynamodb.SizeBytes>"}', {"v": "size 42"}),
        ('{"v": "<$.dynamodb.Keys>"}', {"v": '{"pk": {"S": "RUN#1"}}'}),
        ('{"v": "<$.dynamodb.NewImage.quote.S>"}', {"v": 'say "hi"'}),
        # unquoted: inserted as JSON
        ('{"v": <$.dynamodb.Keys>}', {"v": {"pk": {"S": "RUN#1"}}}),
        ('{"v": <$.dynamodb.Tags>}', {"v": ["a", "b"]}),
        ('{"v": <$.dynamodb.SizeBytes>}', {"v": 42}),
        ('{"v": <$.eventID>}', {"v": "abc"}),
        # missing paths
        ('{"v": "<$.dynamodb.Nope>"}', {"v": ""}),
        ('{"v": <$.dynamodb.Nope>}', {"v": None}),
        # indices and wildcards
        ('{"v": <$.Records[1].x>}', {"v": 2}),
        ('{"v": <$.Records[*].x>}', {"v": [1, 2]}),
        ('{"v": <$.Records[7].x>}', {"v": None}),
        # a whole-template placeholder is the value; free text stays text
        ("<$.dynamodb.NewImage>", RECORD["dynamodb"]["NewImage"]),
        ("<$.nothing>", None),
        ("Run <$.dynamodb.Keys.pk.S> is <$.eventName>", "Run RUN#1 is INSERT"),
        ('{"static": "<b>bold</b>"}', {"static": "<b>bold</b>"}),
        ('"<$.eventID>"', "abc"),
    ],
)
def test_input_template_quoting_rules(template: str, expected: Any) -> None:
    assert render_input_template(template, copy.deepcopy(RECORD)) == expected


def test_input_template_reserved_variables() -> None:
    variables = {"aws.pipes.pipe-name": "p", "aws.pipes.event.json": {"a": 1}}
    rendered = render_input_template(
        '{"name": "<aws.pipes.pipe-name>", "event": <aws.pipes.event.json>}', RECORD, variables
    )
    assert rendered == {"name": "p", "event": {"a": 1}}


def test_input_template_rendering_invalid_json_raises() -> None:
    with pytest.raises(InputTemplateError):
        render_input_template('{"v": <$.eventID>x}', RECORD)
