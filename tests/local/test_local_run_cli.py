"""``runledger local run`` as a user runs it: a separate process, its output and exit code.

The refusals (exit 2 before the local cloud starts) are checked through the command's
``main()`` in this process (``in_process``), each real process costing an interpreter and
the command's imports; two stay real processes, for what only a process shows: the exit
code of the console script and its escaping of what reaches the terminal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import runledger_process
from runledger_process import local_run

from runledger_cli.sam_template import REPO_ROOT

REQUESTS = REPO_ROOT / "events" / "requests"


def in_process(*args: str) -> tuple[object, str, str]:
    """``runledger local run ARGS`` through ``main()`` in this process, the local cloud a
    stand-in (runledger_process.in_process)."""
    return runledger_process.in_process("local", "run", *args)


def request_file(tmp_path: Path, name: str, uri: str | None = None, **changes: object) -> Path:
    """The sample valid request with ``changes`` (None drops an attribute) and, given
    ``uri``, another input, written to ``tmp_path / name``."""
    item = json.loads((REQUESTS / "kmer-valid-local.json").read_text())
    item.update(changes)
    item = {key: value for key, value in item.items() if value is not None}
    if uri is not None:
        item["input"]["uri"] = uri
    path = tmp_path / name
    path.write_text(json.dumps(item))
    return path


def test_local_run_prints_a_table_exits_1_and_shows_where_unfinished_runs_stand(
    tmp_path: Path,
) -> None:
    # One local cloud for four requests: a success, an invalid request, a run whose jobs
    # all fail, and one that cannot end before --timeout (its jobs block on a FIFO).
    broken = request_file(  # every job exits 2
        tmp_path, "broken.json", uri=str(tmp_path / "no-such.fastq"), pk="RUN#cli-missing-input"
    )
    never_written = tmp_path / "never-written.fastq"
    os.mkfifo(never_written)  # the run's jobs block opening it: the run cannot end
    # One job: blocked jobs hold their job slots (two per core) until the cloud stops.
    sample = json.loads((REQUESTS / "kmer-valid-local.json").read_text())
    stuck = request_file(
        tmp_path,
        "stuck.json",
        uri=str(never_written),
        pk="RUN#cli-stuck",
        variants=sample["variants"][:1],
    )
    reports = tmp_path / "reports"
    done = local_run(
        str(REQUESTS / "kmer-valid-local.json"),
        str(REQUESTS / "kmer-invalid-zero-variants.json"),
        str(broken),
        str(stuck),
        "--timeout",
        "6",  # the other three end in about a second; six leaves room for a slow VM
        "--reports",
        str(reports),
        timeout=240,
    )
    assert done.returncode == 1, done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if " ok " in line}
    assert rows.pop("cli-stuck") in {"REQUESTED", "CLAIMED", "RUNNING"}  # RUNNING unless slow
    assert rows == {
        "kmer-local-001": "SUCCEEDED",
        "kmer-invalid-zero-variants": "INVALID",
        "cli-missing-input": "FAILED",
    }
    assert "1 run(s) not final after 6 s (--timeout waits longer): cli-stuck" in done.stderr
    # The stuck run's execution was stopped on the way out, quietly: that line is all.
    assert done.stderr.count("\n") == 1, done.stderr
    # Progress and results only: the handlers' JSON logs went to the log file.
    assert not [line for line in done.stdout.splitlines() if line.startswith("{")]
    log = reports / "local-run.log"
    assert f"handler and pipe logs: {log}" in done.stdout
    assert any(json.loads(line).get("level") for line in log.read_text().splitlines())
    assert (reports / "kmer-local-001.html").is_file()
    assert f"writing 4 report(s) to {reports} ..." in done.stdout  # said before the wait


def test_local_run_names_a_missing_request_file() -> None:
    done = local_run("nope.json", timeout=60)  # the console script's own exit code
    assert done.returncode == 2
    assert "no such request file: nope.json" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"pk": "RUN#x",', "not valid JSON: Expecting property name enclosed in double quotes"),
        ("[]", "a request is one JSON object (a table item), not an array"),
        ("null", "a request is one JSON object (a table item), not null"),
    ],
)
def test_local_run_names_a_request_file_that_is_not_one_json_object(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "bad.json").write_text(content)
    code, out, err = in_process(str(tmp_path / "bad.json"))
    assert code == 2
    assert f"bad.json: {message}" in err
    assert "Traceback" not in err
    assert "starting the local cloud" not in out  # told before it starts


def test_local_run_refuses_two_files_of_one_run(tmp_path: Path) -> None:
    copy = request_file(tmp_path, "copy.json")
    code, _, err = in_process(str(REQUESTS / "kmer-valid-local.json"), str(copy))
    assert code == 2
    assert f"and {copy} are both RUN#kmer-local-001" in err


def test_local_run_refuses_requests_that_would_start_no_run(tmp_path: Path) -> None:
    # Written, they would start nothing: run would wait for its whole --timeout.
    no_key = request_file(tmp_path, "no-key.json", pk=None)
    done_already = request_file(tmp_path, "done.json", pk="RUN#cli-done", status="DONE")
    code, out, err = in_process(str(no_key), str(done_already))
    assert code == 2, err
    assert "no-key.json: the table's key attribute 'pk' must be a string" in err
    assert "done.json: the pipe runledger-local-RunsPipe would not start a run" in err
    assert '"NewImage": {"status": {"S": ["REQUESTED"]}}' in err  # its filter, shown
    assert "writing" not in out
    assert "Traceback" not in err


def test_local_run_escapes_control_characters_before_they_reach_the_terminal(
    tmp_path: Path,
) -> None:
    hostile = tmp_path / "run\x1b[2J\u202e.json"  # its name is echoed in the refusal
    hostile.write_text("[]")

    done = local_run(str(hostile), timeout=60)

    assert done.returncode == 2
    assert "run\\x1b[2J\\u202e.json: a request is one JSON object" in done.stderr
    assert "\x1b" not in done.stderr
    assert "\u202e" not in done.stderr


def test_local_run_refuses_a_pk_that_is_not_a_run_key(tmp_path: Path) -> None:
    no_prefix = request_file(tmp_path, "no-prefix.json", pk="kmer-1")

    code, _, err = in_process(str(no_prefix))

    assert code == 2
    assert "no-prefix.json: pk 'kmer-1' is not a run's key: runs are RUN#<run id>" in err
    assert "Traceback" not in err
