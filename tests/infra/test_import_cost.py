"""What starting costs in imports, checked in fresh interpreters (their ``sys.modules``).

* ``runledger --help`` (and each command's) loads neither boto3 nor pydantic: the command
  line is built from leaf modules; a command imports its machinery when it runs.
* A handler's cold import loads no X-Ray SDK (no handler uses Tracer) and no boto3: the
  DynamoDB JSON codec is runledger's own, and boto3 comes with the first AWS client
  (runledger.clients), created by the first invocation, not by the import. The
  timing budget is tests/perf/test_cold_import.py (``make perf``); docs/cold-start.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(p.parent.name for p in (REPO_ROOT / "functions").glob("*/app.py"))
_REPORT = "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"


def modules_after(code: str, *, cwd: Path, pythonpath: str = "") -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` (which must succeed)."""
    env = {**os.environ, "PYTHONPATH": pythonpath, "POWERTOOLS_SERVICE_NAME": "runledger"}
    child = subprocess.run(
        [sys.executable, "-c", code + _REPORT],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    return set(json.loads(child.stdout.splitlines()[-1]))


def top_level(names: set[str]) -> set[str]:
    return {name.split(".", 1)[0] for name in names}


@pytest.mark.parametrize("command", [[], ["local"], ["graph"], ["report"], ["cost"]])
def test_runledger_help_imports_neither_boto3_nor_pydantic(command: list[str]) -> None:
    # What the console script runs (pyproject: runledger = "runledger_cli.cli:run"), up
    # to argparse's exit after printing the help.
    argv = ["runledger", *command, "--help"]
    code = (
        "import contextlib, io, sys\n"
        f"sys.argv = {argv!r}\n"
        "from runledger_cli.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    run()\n"
    )
    names = modules_after(code, cwd=REPO_ROOT)
    assert {"runledger_cli.cli", "runledger_cli.commands.cost"} <= names
    assert top_level(names) & {"boto3", "botocore", "pydantic", "pydantic_core"} == set()


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_no_xray_sdk_and_no_boto3(handler: str) -> None:
    folder = REPO_ROOT / "functions" / handler
    names = modules_after("import app", cwd=folder, pythonpath=str(folder))
    assert {"app", "runledger", "aws_lambda_powertools"} <= names
    assert top_level(names) & {"aws_xray_sdk", "boto3", "s3transfer"} == set()
    # Powertools imports botocore's package for its user agent; its clients stay unloaded.
    assert {name for name in names if name.startswith("botocore.")} == set()


def test_local_run_refuses_a_request_before_it_imports_the_local_cloud(tmp_path: Path) -> None:
    # The refusal reads only the template and the admission rules: the engine, the
    # patches and moto's Batch and Step Functions come with a request worth running.
    done = tmp_path / "done.json"
    done.write_text(json.dumps({"pk": "RUN#x", "sk": "REQUEST", "status": "DONE"}))
    argv = ["local", "run", str(done)]
    code = (
        "import contextlib, io, sys\n"
        "from runledger_cli.cli import main\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err):\n"
        f"    assert main({argv!r}) == 2\n"
        "assert 'would not start a run' in err.getvalue(), err.getvalue()\n"
    )
    names = modules_after(code, cwd=REPO_ROOT)
    assert "runledger_local.admission" in names
    assert {"runledger_local.cloud", "runledger_local.patches", "moto.batch"} & names == set()
