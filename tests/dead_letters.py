"""Waiting for a record the pipe could not deliver to land in its DLQ (tests/local/
test_pipe_dlq.py, the fault matrix's "pipe target missing" cell)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request
from runledger_local.pipe_runner import PipeCounters


@dataclass
class DeadLettered:
    """What became of one request the pipe could not deliver."""

    body: dict[str, Any]  # the one DLQ message's body
    counters: PipeCounters
    status_after: str
    retries: int  # the pipe's MaximumRetryAttempts


def dead_lettered(local: LocalPipeline, pk: str, **changes: Any) -> DeadLettered:
    """Write the sample valid request as ``pk`` (with ``changes``) and wait for the DLQ."""
    item = json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text())
    local.put_request({**localize_request(item, REPO_ROOT), "pk": pk, **changes})
    dlq_url = local.scope.refs["PipeDeadLetterQueue"]
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not messages and time.monotonic() < deadline:
        messages = (
            local.client("sqs")
            .receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            .get("Messages", [])
        )
    assert local.pipe.wait_idle(10)
    (message,) = messages
    return DeadLettered(
        body=json.loads(message["Body"]),
        counters=local.pipe.counters,
        status_after=local.read_run(pk).status,
        retries=local.pipe_properties["SourceParameters"]["DynamoDBStreamParameters"][
            "MaximumRetryAttempts"
        ],
    )
