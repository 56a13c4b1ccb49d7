"""The registry patch, proved through boto3 against moto."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from moto import mock_aws

from runledger_local.patches import ADAPTATIONS, PATCHES, AdaptationBrokenError, local_aws


# ----------------------------------------------------------------------- undo / broken
def test_adaptations_undo_cleanly(aws_credentials: None) -> None:
    from moto import backend_index
    from moto.awslambda.responses import LambdaResponse
    from moto.batch.responses import BatchResponse
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        itemprocessor,
        iteration_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )
    from moto.stepfunctions.parser.asl.eval import states
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.jsonata import jsonata
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    seams = {
        "lambda": (LambdaResponse, "backend"),
        "batch": (BatchResponse, "batch_backend"),
        "start": (StepFunctionsParserBackend, "start_execution"),
        "client": (boto_client, "boto_client_for"),
        "jsonata": (jsonata, "_eval_jsonata"),
        "copies": (states, "copy"),
        "loopback": (BotocoreStubber, "__call__"),
        "stop": (StateMap, "_eval_state"),
        "stop_wait": (callback.StateTaskServiceCallback, "_eval_wait_for_task_token"),
        "describe_output": (StepFunctionResponse, "describe_execution"),
        "redrive_count": (ExecutionWorker, "_get_evaluation_environment"),
        "map_errors": (iteration_worker, "CustomErrorName"),
        "parallel_errors": (branches_decl, "CustomErrorName"),
        "end_events": (EventManager, "add_event"),
        "end_timeout": (Program, "eval"),
        "aborts": (iteration_worker.IterationWorker, "_eval_job"),
        "children": (
            itemprocessor.distributed_item_processor_worker.DistributedItemProcessorWorker,
            "_eval_job",
        ),
        "children_listed": (StepFunctionResponse, "list_executions"),
        "sync_route": (backend_index, "backend_url_patterns"),
    }
    before = {key: getattr(owner, attr) for key, (owner, attr) in seams.items()}
    environ = dict(os.environ)

    with mock_aws(), local_aws(endpoint_url="http://127.0.0.1:9") as cloud:
        assert cloud.retry_sleep_scale == 0.0
        assert all(getattr(o, a) is not before[k] for k, (o, a) in seams.items())
        with pytest.raises(RuntimeError, match="already active"), local_aws():
            pass

    assert {key: getattr(owner, attr) for key, (owner, attr) in seams.items()} == before
    assert not hasattr(StepFunctionResponse, "start_sync_execution")
    assert "describe_execution" not in vars(StepFunctionsParserBackend)  # inherited again
    assert dict(os.environ) == environ


def test_a_moved_moto_seam_fails_loudly_naming_the_adaptation(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self: object, function_name: str) -> None:  # a "new moto" signature
        del self, function_name

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)

    with pytest.raises(AdaptationBrokenError, match="'lambda_in_process'"), local_aws():
        pass
    assert len(ADAPTATIONS) == len(set(ADAPTATIONS))


def test_the_seam_check_resolves_every_declared_seam_without_patching() -> None:
    from runledger_local.patches import all_seams

    done = subprocess.run(
        [sys.executable, "-m", "runledger_local.patches", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    seams = len(dict.fromkeys(all_seams()))
    assert done.stdout.strip() == f"all {seams} seams of {len(ADAPTATIONS)} patches resolve"
    # every patch declares the seams it needs (endpoint_mode needs none of moto's)
    assert [name for name, module in PATCHES.items() if not module.SEAMS] == ["endpoint_mode"]


def test_the_seam_check_names_the_patch_whose_seam_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    from runledger_local.patches import check

    monkeypatch.delattr(Table, "query")
    before = {name: getattr(Table, name) for name in ("scan", "get_item")}

    problems = check()

    assert [problem.adaptation for problem in problems] == ["query_partition"]
    assert "moto.dynamodb.models.table.Table.query not found" in str(problems[0])
    assert {name: getattr(Table, name) for name in before} == before  # nothing patched
