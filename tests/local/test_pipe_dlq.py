"""Records the pipe cannot deliver, through the local cloud built from template.yaml: a
target that keeps failing starts no run, and after the pipe's retries the record lands in
its DLQ, saying why. A request larger than an execution's input may be is not one of them:
the pipe sends only its key.

Its own module: moto's state is process-wide, so one LocalPipeline runs at a time (one
test after the other), and the first breaks its target on purpose.
"""

from __future__ import annotations

import json

from dead_letters import dead_lettered

from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request
from runledger_local.patches.fixes.execution_input_size import MAX_INPUT_BYTES

#: DynamoDB takes items up to 400 KB, an execution's input at most 256 KB.
BIG_NOTE = "x" * 300_000


def test_a_pipe_target_that_keeps_failing_lands_the_record_in_the_dlq() -> None:
    with LocalPipeline(stack_name="runledger-dlq") as local:
        # The target is gone: every StartExecution fails, as with a deleted state machine.
        local.client("stepfunctions").delete_state_machine(stateMachineArn=local.state_machine_arn)
        found = dead_lettered(local, "RUN#e2e-dlq")

    body = found.body
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == found.retries + 1
    assert "StateMachineDoesNotExist" in body["responseContext"]["errorCode"]
    assert found.counters.records_to_dlq == 1
    assert found.counters.executions_started == 0
    assert found.status_after == "REQUESTED"  # nothing ran: the request waits for a re-drive


def test_a_request_over_the_execution_input_limit_runs_and_ends_invalid_naming_its_size() -> None:
    """An item DynamoDB holds but an execution input could not (StartExecution takes at
    most MAX_INPUT_BYTES): the pipe sends only its key, so its run starts, reads the item
    and records it INVALID; nothing goes to the DLQ and nothing stays REQUESTED."""
    item = json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text())
    pk = "RUN#e2e-big"
    assert len(BIG_NOTE) > MAX_INPUT_BYTES
    with LocalPipeline(stack_name="runledger-big") as local:
        local.put_request({**localize_request(item, REPO_ROOT), "pk": pk, "notes": BIG_NOTE})
        (run,) = local.wait_for([pk], timeout=60).values()
        assert local.pipe.wait_idle(10)
        counters = local.pipe.counters
        dlq = local.client("sqs").receive_message(
            QueueUrl=local.scope.refs["PipeDeadLetterQueue"], WaitTimeSeconds=0
        )

    assert run.status == "INVALID"
    assert "the limit is 65536 (its largest attribute, notes," in run.request["reason"]
    assert (counters.executions_started, counters.records_to_dlq) == (1, 0)
    assert dlq.get("Messages", []) == []
