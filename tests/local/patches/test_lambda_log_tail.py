"""LogType Tail on Lambda invoke (features/lambda_invoke), proved through boto3 against moto.

Expected answer: Lambda API reference, Invoke: with ``LogType: Tail`` the response's
``LogResult`` is "The last 4 KB of the execution log, base64-encoded"; the execution log
is what the runtime writes to CloudWatch (``START RequestId: ...``, the function's output,
``END``, ``REPORT``). A ``lambda:invoke`` task passes ``LogType`` on and its result keeps
``LogResult`` (the InvocationResponse shape).
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

from patch_helpers import aws, create_state_machine, output, run_execution

from runledger_local.patches import LocalCloud

_HANDLER = """
import logging
import sys

logger = logging.getLogger(f"tail-fixture-{id(sys.modules[__name__])}")
logger.addHandler(logging.StreamHandler(sys.stdout))  # bound at import, as Powertools does
logger.setLevel(logging.INFO)
logger.propagate = False


def lambda_handler(event, context):
    print("printed", event.get("n"))
    logger.info("logged %s", event.get("n"))
    print("x" * event.get("pad", 0), file=sys.stderr)
    sys.stdout.writelines(["lines ", "written\\n"])
    if event.get("fail"):
        raise ValueError("broken on purpose")
    return {"n": event.get("n")}
"""


def _register(cloud: LocalCloud, tmp_path: Path) -> None:
    code = tmp_path / "tail"
    code.mkdir()
    (code / "app.py").write_text(_HANDLER)
    cloud.register_function("tail", code_dir=code, memory_mb=256)


def _invoke_machine(sfn: Any, name: str, extra: dict[str, str]) -> str:
    """A state machine of one ``lambda:invoke`` task of "tail", its input the payload."""
    parameters = {"FunctionName": "tail", "Payload.$": "$", **extra}
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    definition = {"StartAt": "Invoke", "States": {"Invoke": {**task, "Parameters": parameters}}}
    return create_state_machine(sfn, name, definition)


def _log(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode("utf-8", errors="replace")


def test_log_type_tail_answers_the_invocations_log_base64(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)

    response = aws("lambda").invoke(FunctionName="tail", Payload=b'{"n": 7}', LogType="Tail")

    log = _log(response)
    lines = log.splitlines()
    assert lines[0].startswith("START RequestId: ")
    assert lines[0].endswith(" Version: $LATEST")
    assert "printed 7" in lines
    assert "logged 7" in lines
    assert "lines written" in lines
    assert lines[-2].startswith("END RequestId: ")
    assert lines[-1].startswith("REPORT RequestId: ")
    assert "Memory Size: 256 MB" in lines[-1]
    request_id = lines[0].split()[2]
    assert lines[-2] == f"END RequestId: {request_id}"
    assert json.loads(response["Payload"].read()) == {"n": 7}


def test_log_type_tail_keeps_the_last_4_kb_and_the_runtimes_error_line(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)

    response = aws("lambda").invoke(
        FunctionName="tail", Payload=b'{"n": 1, "pad": 10000, "fail": true}', LogType="Tail"
    )

    raw = base64.b64decode(response["LogResult"])
    assert len(raw) == 4096
    log = raw.decode("utf-8")
    assert "START RequestId" not in log  # cut: only the tail is kept
    assert "[ERROR] ValueError: broken on purpose" in log
    assert log.splitlines()[-1].startswith("REPORT RequestId: ")
    assert response["FunctionError"] == "Unhandled"


def test_log_type_none_answers_no_log_result_and_captures_nothing(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)
    lambda_client = aws("lambda")

    assert "LogResult" not in lambda_client.invoke(FunctionName="tail", Payload=b'{"n": 2}')
    assert "LogResult" not in lambda_client.invoke(
        FunctionName="tail", Payload=b'{"n": 2}', LogType="None"
    )


def test_log_type_tail_holds_only_its_own_invocations_output(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)
    stop = threading.Event()

    def chatter() -> None:  # another thread of the process, printing all along
        while not stop.is_set():
            print("not the function's")
            stop.wait(0.001)

    other = threading.Thread(target=chatter)
    other.start()
    try:
        response = aws("lambda").invoke(FunctionName="tail", Payload=b'{"n": 3}', LogType="Tail")
    finally:
        stop.set()
        other.join()

    log = _log(response)
    assert "printed 3" in log
    assert "not the function's" not in log


def test_lambda_invoke_task_with_log_type_tail_keeps_log_result(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)
    sfn = aws("stepfunctions")
    arn = _invoke_machine(sfn, "tail-task", {"LogType": "Tail"})

    result = output(run_execution(sfn, arn, {"n": 5}))

    assert result["Payload"] == {"n": 5}
    log = base64.b64decode(result["LogResult"]).decode("utf-8")
    assert "printed 5" in log
    assert "logged 5" in log
    assert log.splitlines()[-1].startswith("REPORT RequestId: ")


def test_lambda_invoke_task_without_log_type_has_no_log_result(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    _register(local_cloud, tmp_path)
    sfn = aws("stepfunctions")
    arn = _invoke_machine(sfn, "no-tail-task", {})

    result = output(run_execution(sfn, arn, {"n": 6}))

    assert result["Payload"] == {"n": 6}
    assert "LogResult" not in result
