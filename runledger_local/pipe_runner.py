"""Local EventBridge Pipe runner: DynamoDB stream -> filter -> template -> Step Functions.

moto implements the Pipes API as CRUD only: a pipe it stores never delivers anything.
``PipeRunner`` takes the resolved properties of one ``AWS::Pipes::Pipe`` resource and does
what EventBridge Pipes does for a DynamoDB stream source and a Step Functions target,
against whatever endpoint the boto3 clients it is given point at (in-process ``mock_aws``
or a ``ThreadedMotoServer``).

Implemented:

- Source: every shard of the stream (DescribeStream, GetShardIterator, GetRecords);
  shards present when the runner is created start at ``StartingPosition`` (LATEST or
  TRIM_HORIZON), shards that appear later are read from TRIM_HORIZON after their parent
  closes; expired and trimmed iterators are renewed. Records are reshaped as Pipes hands
  them on (``eventSourceARN`` added, ``ApproximateCreationDateTime`` as epoch seconds,
  binary attributes base64, ``awsRegion`` from the stream ARN).
- ``FilterCriteria``: EventBridge pattern semantics through moto's own matcher
  (``moto.events.models.EventPattern``); a record passes if any filter matches; records
  matching none are dropped and counted. No filters: every record passes.
- Batching: passing records are grouped per shard, in order, into batches of up to
  ``BatchSize`` (default 1); a partial batch waits until ``MaximumBatchingWindowInSeconds``
  (default 0) has passed since its first record was read.
- ``InputTemplate`` per record (see ``render_input_template``); without a template the
  record goes as is. The target always receives a JSON array, even for one record.
- Target: ``StartExecution`` (FIRE_AND_FORGET only). Pipes sets no execution name; Step
  Functions then names the execution with a UUID. moto 5.2.5's executing backend names it
  ``None`` instead, so a second unnamed execution fails with ExecutionAlreadyExists; the
  runner therefore passes a UUID name itself unless ``RunnerOptions.name_executions`` is
  off (turn it off once a moto adaptation fixes unnamed executions).
- Failures: a failed StartExecution is retried up to ``MaximumRetryAttempts`` with
  exponential backoff (``RunnerOptions.backoff_*``, small by default); before every attempt
  records older than ``MaximumRecordAgeInSeconds`` are removed; ``OnPartialBatchItemFailure:
  AUTOMATIC_BISECT`` halves a failed batch (splits do not count as retries). Records that
  exhaust their retries, or age out, are described in one SQS message per batch on
  ``DeadLetterConfig.Arn`` (shape in ``dlq_message``), or discarded (and counted) without one.
- Target payload limit: a Step Functions target takes at most 262,144 bytes (UTF-8) of
  input ("Step Functions state machine (262144 characters)": Pipes batching and
  concurrency; StartExecution's ``input`` constraint). The runner sends the rendered
  batch as it is and StartExecution refuses one over the limit with ValidationException
  (the ``execution_input_size`` fix, applied by ``local_aws``; bare ``mock_aws`` does not
  refuse it). That refusal is a failed invocation like any other: a customer invocation
  error, which for a stream source Pipes retries up to ``MaximumRetryAttempts`` or until
  ``MaximumRecordAgeInSeconds`` ("Amazon EventBridge Pipes error handling and
  troubleshooting"), then the DLQ, whose message carries the code and message; no
  execution starts. With ``AUTOMATIC_BISECT`` a batch is halved first, so records that fit
  alone are still delivered.
- Operation: ``run_once()`` (one pass over all shards, returns a ``PassResult``),
  ``start()``/``stop()`` for a background thread (stop is bounded and interrupts backoff),
  ``wait_idle(timeout)`` (True once a pass that began after the call found nothing to
  read and nothing buffered), ``counters`` (a ``PipeCounters`` snapshot).

Differs from AWS:

- One shard at a time, one batch at a time (``ParallelizationFactor`` ignored), polling
  every ``RunnerOptions.poll_interval`` seconds (four times a second by default, AWS's base
  rate), slowing to ``max_idle_poll_interval`` while idle, rather than the service's
  polling fleet.
- Every StartExecution failure counts against ``MaximumRetryAttempts``; AWS retries its own
  internal errors without limit. Unlimited retries (-1) with unlimited age (-1) would block
  the shard until the record leaves the stream (24 h); locally they stop after
  ``RunnerOptions.unlimited_retry_cap`` retries.
- The DLQ message approximates the Lambda/Pipes stream failure record (no public schema
  for Pipes was found); an ``InputTemplate`` that renders invalid JSON sends its batch to
  the DLQ at once (condition ``InputTransformationFailed``, not an AWS value).
- Records that age out are sent to the DLQ (as Lambda's stream sources do) rather than
  only discarded.
- Stopping mid-retry keeps the batch buffered in memory and retries it on the next pass;
  positions are not checkpointed anywhere, so a new runner starts from StartingPosition.
- Pipes limits not enforced: the 6 MB payload limit at which a DynamoDB source closes a
  batch early ("Amazon DynamoDB stream as a source"; a batch is cut only by ``BatchSize``
  and the window here: with a Step Functions target any batch over 6 MB is also over the
  target's 256 KB and fails either way, only the grouping of its DLQ messages differs);
  the 5-minute limit on a pipe execution (StartExecution answers at once); and disabling
  a pipe after nearly continuous 4xx errors (a pipe with a ``StateReason``: here it keeps
  polling, and every record goes the way of its retries and DLQ).
- ``Enrichment``, ``LogConfiguration`` and ``DesiredState`` are not implemented; an
  ``Enrichment`` is refused.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runledger_local.logs import get_logger
from runledger_local.pipe_input import InputTemplateError, render_input_template
from runledger_local.pipe_records import (
    PipeFilter,
    dlq_message,
    iso_time,
    pipes_record,
    wire_json_client,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

__all__ = [
    "InputTemplateError",
    "PassResult",
    "PipeCounters",
    "PipeFilter",
    "PipeRunner",
    "RunnerOptions",
    "dlq_message",
    "render_input_template",
    "wire_json_client",
]

logger = get_logger(__name__)

_GET_RECORDS_LIMIT = 1000


@dataclass(frozen=True)
class RunnerOptions:
    """Local knobs that AWS does not expose; the defaults suit tests and the CLI.

    The background thread reads the stream ``poll_interval`` seconds after a pass that read
    records (0.25: the base rate of four reads a second per shard at which AWS's stream
    pollers read DynamoDB Streams), and after an idle pass waits ``poll_interval``,
    doubling while idle up to ``max_idle_poll_interval`` (every idle pass costs two moto
    calls, and moto keeps every shard iterator it hands out).
    ``wait_idle`` and ``stop`` wake it early. DescribeStream runs every
    ``shard_refresh_interval`` seconds and whenever a shard closes.
    """

    poll_interval: float = 0.25
    max_idle_poll_interval: float = 0.25
    shard_refresh_interval: float = 1.0
    backoff_base: float = 0.05
    backoff_max: float = 1.0
    unlimited_retry_cap: int = 5
    name_executions: bool = True
    clock: Callable[[], float] = time.time


@dataclass
class PipeCounters:
    """Running totals since the runner was created."""

    passes: int = 0
    records_read: int = 0
    records_filtered_out: int = 0
    records_expired: int = 0
    batches_delivered: int = 0
    executions_started: int = 0
    target_failures: int = 0
    retries: int = 0
    batches_to_dlq: int = 0
    records_to_dlq: int = 0
    records_discarded: int = 0
    dlq_send_failures: int = 0
    poll_errors: int = 0


@dataclass(frozen=True)
class PassResult:
    """What one ``run_once`` pass did."""

    records_read: int = 0
    records_filtered_out: int = 0
    records_expired: int = 0
    batches_delivered: int = 0
    execution_arns: tuple[str, ...] = ()
    target_failures: int = 0
    batches_to_dlq: int = 0
    pending: int = 0

    @property
    def idle(self) -> bool:
        """Nothing was read and nothing is waiting in a batching window."""
        return self.records_read == 0 and self.pending == 0


@dataclass
class _Record:
    event: dict[str, Any]
    created_at: float
    read_at: float


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None
    last_sequence: str | None = None
    closed: bool = False
    pending: list[_Record] = field(default_factory=list)


# --- the runner -------------------------------------------------------------------------


def _int_param(parameters: Mapping[str, Any], key: str, default: int) -> int:
    value = parameters.get(key)
    return default if value is None else int(value)


class PipeRunner:
    """Runs one ``AWS::Pipes::Pipe`` (DynamoDB stream -> Step Functions) against moto.

    ``properties`` are the pipe's resolved CloudFormation properties. ``streams`` is a
    boto3 ``dynamodbstreams`` client (typed ``Any``: no stubs for it are pinned; a
    ``wire_json_client`` reads records for less),
    ``stepfunctions`` and ``sqs`` boto3 clients; ``sqs`` is needed only with a DLQ.
    Shard positions are taken here, as a pipe takes them when it is created: with
    ``StartingPosition: LATEST`` only writes made after construction are delivered.
    """

    def __init__(
        self,
        properties: Mapping[str, Any],
        *,
        streams: Any,
        stepfunctions: SFNClient,
        sqs: SQSClient | None = None,
        name: str = "local-pipe",
        options: RunnerOptions | None = None,
    ) -> None:
        self.options = options or RunnerOptions()
        self.name = name
        self.stream_arn = str(properties["Source"])
        self.target_arn = str(properties["Target"])
        if ":dynamodb:" not in self.stream_arn or "/stream/" not in self.stream_arn:
            raise ValueError(f"Source is not a DynamoDB stream ARN: {self.stream_arn}")
        if ":states:" not in self.target_arn or ":stateMachine:" not in self.target_arn:
            raise ValueError(f"Target is not a state machine ARN: {self.target_arn}")
        if properties.get("Enrichment"):
            raise ValueError("Enrichment is not implemented by the local pipe runner")
        partition, _, region, account = self.target_arn.split(":")[1:5]
        self.region = self.stream_arn.split(":")[3]
        self.pipe_arn = f"arn:{partition}:pipes:{region}:{account}:pipe/{name}"

        source = properties.get("SourceParameters") or {}
        stream_params = source.get("DynamoDBStreamParameters") or {}
        self.starting_position = str(stream_params.get("StartingPosition", "LATEST"))
        if self.starting_position not in ("LATEST", "TRIM_HORIZON"):
            raise ValueError(f"StartingPosition must be LATEST or TRIM_HORIZON: {stream_params}")
        self.batch_size = _int_param(stream_params, "BatchSize", 1)
        self.batching_window = _int_param(stream_params, "MaximumBatchingWindowInSeconds", 0)
        self.max_retries = _int_param(stream_params, "MaximumRetryAttempts", -1)
        self.max_record_age = _int_param(stream_params, "MaximumRecordAgeInSeconds", -1)
        self.bisect = stream_params.get("OnPartialBatchItemFailure") == "AUTOMATIC_BISECT"
        self.dlq_arn: str | None = (stream_params.get("DeadLetterConfig") or {}).get("Arn")
        #: The FilterCriteria: a record passes if any pattern matches (or there is none).
        self.filter = PipeFilter.of(source)

        target = properties.get("TargetParameters") or {}
        sfn_params = target.get("StepFunctionStateMachineParameters") or {}
        invocation = sfn_params.get("InvocationType", "FIRE_AND_FORGET")
        if invocation != "FIRE_AND_FORGET":
            raise ValueError(f"InvocationType {invocation} is not implemented (Standard only)")
        self.input_template: str | None = target.get("InputTemplate")

        self._streams = streams
        self._sfn = stepfunctions
        self._sqs = sqs
        if self.dlq_arn and sqs is None:
            raise ValueError("DeadLetterConfig needs an sqs client")
        self._dlq_url: str | None = None

        self._counters = PipeCounters()
        self._stats_lock = threading.Lock()
        self._pass_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._next_shard_refresh = 0.0
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._passes_started = 0
        self._last_idle_pass = 0
        self._shards: dict[str, _Shard] = {}
        self._pass_arns: list[str] = []
        self._discover_shards(initial=True)

    # public API -----------------------------------------------------------------------

    @property
    def counters(self) -> PipeCounters:
        """A snapshot of the running totals."""
        with self._stats_lock:
            return replace(self._counters)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> PassResult:
        """One pass: read every open shard once, deliver what is due, report what happened."""
        with self._pass_lock:
            with self._idle:
                self._passes_started += 1
                this_pass = self._passes_started
            before = self.counters
            self._pass_arns = []
            self._discover_shards(initial=False)
            for shard in self._readable_shards():
                self._read_shard(shard)
                if not self._flush(shard):
                    break
            self._count(passes=1)
            after = self.counters
            result = PassResult(
                records_read=after.records_read - before.records_read,
                records_filtered_out=after.records_filtered_out - before.records_filtered_out,
                records_expired=after.records_expired - before.records_expired,
                batches_delivered=after.batches_delivered - before.batches_delivered,
                execution_arns=tuple(self._pass_arns),
                target_failures=after.target_failures - before.target_failures,
                batches_to_dlq=after.batches_to_dlq - before.batches_to_dlq,
                pending=sum(len(s.pending) for s in self._shards.values()),
            )
            if result.idle:
                with self._idle:
                    self._last_idle_pass = this_pass
                    self._idle.notify_all()
            return result

    def start(self) -> None:
        """Poll in a daemon thread until ``stop()``."""
        if self.running:
            raise RuntimeError("pipe runner already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"pipe-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread (interrupting any backoff) and join it; False if it is still alive."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        self._stop.clear()
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until a pass that began after this call found nothing to do.

        With the background thread running this only waits; without it, it drives
        ``run_once`` itself. Returns False if ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        with self._idle:
            wanted = self._passes_started + 1
        if not self.running:
            while time.monotonic() < deadline:
                result = self.run_once()
                if result.idle:
                    return True
                if result.records_read == 0:
                    time.sleep(self.options.poll_interval)
            return False
        self._wake.set()
        with self._idle:
            return self._idle.wait_for(
                lambda: self._last_idle_pass >= wanted,
                timeout=max(0.0, deadline - time.monotonic()),
            )

    def __enter__(self) -> PipeRunner:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # polling ---------------------------------------------------------------------------

    def _loop(self) -> None:
        delay = self.options.poll_interval
        while not self._stop.is_set():
            self._wake.clear()
            try:
                busy = self.run_once().records_read > 0
            except Exception:  # a poller must outlive one bad pass; the log says why
                logger.exception("pipe poll failed", extra={"pipe": self.name})
                self._count(poll_errors=1)
                busy = False
            # Busy or not, the next read waits: reading again at once after every record
            # cost a GetRecords call per record or two under load (moto's CPU, and the
            # engine's GIL), where AWS reads a shard about four times a second.
            self._wake.wait(self.options.poll_interval if busy else delay)
            if busy:
                delay = self.options.poll_interval
            else:
                delay = min(delay * 2, max(self.options.max_idle_poll_interval, delay))

    def _describe_shards(self) -> Iterator[Mapping[str, Any]]:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            yield from description.get("Shards", [])
            last = description.get("LastEvaluatedShardId")
            if not last:
                return
            kwargs["ExclusiveStartShardId"] = last

    def _discover_shards(self, *, initial: bool) -> None:
        now = time.monotonic()
        if not initial and now < self._next_shard_refresh:
            return
        self._next_shard_refresh = now + self.options.shard_refresh_interval
        for described in self._describe_shards():
            shard_id = described["ShardId"]
            if shard_id in self._shards:
                continue
            position = self.starting_position if initial else "TRIM_HORIZON"
            self._shards[shard_id] = _Shard(
                shard_id=shard_id,
                parent_id=described.get("ParentShardId"),
                iterator=self._iterator(shard_id, position),
            )

    def _iterator(self, shard_id: str, position: str, sequence: str | None = None) -> str | None:
        kwargs: dict[str, Any] = {
            "StreamArn": self.stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": position,
        }
        if sequence is not None:
            kwargs["SequenceNumber"] = sequence
        iterator = self._streams.get_shard_iterator(**kwargs).get("ShardIterator")
        return str(iterator) if iterator else None

    def _readable_shards(self) -> list[_Shard]:
        ready = []
        for shard in self._shards.values():
            parent = self._shards.get(shard.parent_id) if shard.parent_id else None
            if parent is not None and not (parent.closed and not parent.pending):
                continue
            if shard.iterator is not None or shard.pending:
                ready.append(shard)
        return ready

    def _read_shard(self, shard: _Shard) -> None:
        if shard.iterator is None:
            return
        try:
            response = self._streams.get_records(
                ShardIterator=shard.iterator, Limit=_GET_RECORDS_LIMIT
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ExpiredIteratorException" and shard.last_sequence:
                shard.iterator = self._iterator(
                    shard.shard_id, "AFTER_SEQUENCE_NUMBER", shard.last_sequence
                )
            elif code == "ExpiredIteratorException":
                shard.iterator = self._iterator(shard.shard_id, self.starting_position)
            elif code == "TrimmedDataAccessException":
                shard.iterator = self._iterator(shard.shard_id, "TRIM_HORIZON")
            else:
                raise
            return
        next_iterator = response.get("NextShardIterator")
        shard.iterator = str(next_iterator) if next_iterator else None
        if shard.iterator is None:
            shard.closed = True
            self._next_shard_refresh = 0.0  # its children may be there now
        now = self.options.clock()
        filtered_out = 0
        for raw in response.get("Records", []):
            event, created_at = pipes_record(raw, self.stream_arn, self.region)
            shard.last_sequence = event["dynamodb"].get("SequenceNumber", shard.last_sequence)
            if not self.filter.passes(event):
                filtered_out += 1
                continue
            shard.pending.append(_Record(event=event, created_at=created_at, read_at=now))
        self._count(
            records_read=len(response.get("Records", [])), records_filtered_out=filtered_out
        )

    def _flush(self, shard: _Shard) -> bool:
        """Deliver the shard's due batches; False if a stop interrupted a delivery."""
        while shard.pending:
            waited = self.options.clock() - shard.pending[0].read_at
            full = len(shard.pending) >= self.batch_size
            if not (full or shard.closed or waited >= self.batching_window):
                return True
            batch = shard.pending[: self.batch_size]
            del shard.pending[: self.batch_size]
            leftover = self._deliver(shard, batch)
            if leftover:
                shard.pending[:0] = leftover
                return False
        return True

    # delivery --------------------------------------------------------------------------

    def _deliver(self, shard: _Shard, batch: list[_Record]) -> list[_Record]:
        """Deliver one batch with retries, bisection, age limit and DLQ.

        Returns the records left undelivered because a stop interrupted a backoff.
        """
        work: deque[tuple[list[_Record], int]] = deque([(batch, 0)])
        retry_limit = self.max_retries
        if retry_limit < 0 and self.max_record_age < 0:
            retry_limit = self.options.unlimited_retry_cap
        while work:
            records, attempts = work.popleft()
            records = self._drop_expired(shard, records, attempts)
            if not records:
                continue
            try:
                payload = self._payload(records)
            except InputTemplateError as error:
                condition = "InputTransformationFailed"
                self._dead_letter(shard, records, condition, attempts, (condition, str(error)))
                continue
            failure = self._start_execution(payload)
            if failure is None:
                continue
            attempts += 1
            if self.bisect and len(records) > 1:
                middle = len(records) // 2
                work.extendleft([(records[middle:], attempts), (records[:middle], attempts)])
            elif 0 <= retry_limit < attempts:
                self._dead_letter(shard, records, "RetryAttemptsExhausted", attempts, failure)
            else:
                delay = self.options.backoff_base * 2 ** (attempts - 1)
                if self._stop.wait(min(self.options.backoff_max, delay)):
                    return records + [r for rest, _ in work for r in rest]
                self._count(retries=1)
                work.appendleft((records, attempts))
        return []

    def _drop_expired(self, shard: _Shard, records: list[_Record], attempts: int) -> list[_Record]:
        if self.max_record_age < 0:
            return records
        now = self.options.clock()
        fresh = [r for r in records if now - r.created_at <= self.max_record_age]
        expired = [r for r in records if now - r.created_at > self.max_record_age]
        if expired:
            self._count(records_expired=len(expired))
            reason = f"older than MaximumRecordAgeInSeconds={self.max_record_age}"
            failure = ("RecordAgeExceeded", reason)
            self._dead_letter(shard, expired, "RecordAgeExceeded", attempts, failure)
        return fresh

    def _payload(self, records: list[_Record]) -> str:
        if self.input_template is None:
            return json.dumps([r.event for r in records])
        variables: dict[str, Any] = {
            "aws.pipes.pipe-arn": self.pipe_arn,
            "aws.pipes.pipe-name": self.name,
            "aws.pipes.source-arn": self.stream_arn,
            "aws.pipes.enrichment-arn": "",
            "aws.pipes.target-arn": self.target_arn,
        }
        items = []
        for record in records:
            variables["aws.pipes.event.ingestion-time"] = iso_time(record.read_at)
            variables["aws.pipes.event"] = variables["aws.pipes.event.json"] = record.event
            items.append(render_input_template(self.input_template, record.event, variables))
        return json.dumps(items)

    def _start_execution(self, payload: str) -> tuple[str, str] | None:
        """StartExecution; None on success, else (error code, error message)."""
        kwargs: dict[str, Any] = {"stateMachineArn": self.target_arn, "input": payload}
        if self.options.name_executions:
            kwargs["name"] = str(uuid.uuid4())
        try:
            arn = self._sfn.start_execution(**kwargs)["executionArn"]
        except ClientError as error:
            details = error.response.get("Error", {})
            failure = (details.get("Code", "ClientError"), details.get("Message", str(error)))
        except BotoCoreError as error:
            failure = (type(error).__name__, str(error))
        else:
            self._pass_arns.append(arn)
            self._count(batches_delivered=1, executions_started=1)
            logger.debug("pipe started execution", extra={"pipe": self.name, "execution": arn})
            return None
        self._count(target_failures=1)
        logger.warning(
            "pipe target failed",
            extra={"pipe": self.name, "error_code": failure[0], "error": failure[1]},
        )
        return failure

    def _dead_letter(
        self,
        shard: _Shard,
        records: list[_Record],
        condition: str,
        attempts: int,
        failure: tuple[str, str],
    ) -> None:
        extra = {"pipe": self.name, "condition": condition, "records": len(records)}
        if not self.dlq_arn or self._sqs is None:
            self._count(records_discarded=len(records))
            logger.error("pipe discarded records (no DLQ)", extra=extra)
            return
        body = dlq_message(
            pipe_arn=self.pipe_arn,
            stream_arn=self.stream_arn,
            shard_id=shard.shard_id,
            records=[r.event for r in records],
            condition=condition,
            invoke_count=attempts,
            error_code=failure[0],
            error_message=failure[1],
            now=self.options.clock(),
        )
        try:
            if self._dlq_url is None:
                _, _, _, _, account, queue_name = self.dlq_arn.split(":", 5)
                self._dlq_url = self._sqs.get_queue_url(
                    QueueName=queue_name, QueueOwnerAWSAccountId=account
                )["QueueUrl"]
            self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(body))
        except (BotoCoreError, ClientError):
            logger.exception("pipe could not send to its DLQ", extra=extra)
            self._count(dlq_send_failures=1, records_discarded=len(records))
            return
        logger.warning("pipe sent a batch to its DLQ", extra=extra)
        self._count(batches_to_dlq=1, records_to_dlq=len(records))

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for key, value in increments.items():
                setattr(self._counters, key, getattr(self._counters, key) + value)
