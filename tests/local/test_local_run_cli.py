"""``runledger local run`` as a user runs it: a separate process, its output and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runledger.sam_template import REPO_ROOT

RUNLEDGER = Path(sys.executable).with_name("runledger")
REQUESTS = REPO_ROOT / "events" / "requests"


def test_local_run_prints_a_table_and_exits_1_when_a_run_fails(tmp_path: Path) -> None:
    broken = json.loads((REQUESTS / "kmer-valid-local.json").read_text())
    broken["pk"] = "RUN#cli-missing-input"
    broken["input"]["uri"] = str(tmp_path / "no-such.fastq")  # every job exits 2
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    reports = tmp_path / "reports"
    done = subprocess.run(
        [
            str(RUNLEDGER),
            "local",
            "run",
            str(REQUESTS / "kmer-valid-local.json"),
            str(REQUESTS / "kmer-invalid-zero-variants.json"),
            str(tmp_path / "broken.json"),
            "--reports",
            str(reports),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if " ok " in line}
    assert rows == {
        "kmer-local-001": "SUCCEEDED",
        "kmer-invalid-zero-variants": "INVALID",
        "cli-missing-input": "FAILED",
    }
    # Progress and results only: the handlers' JSON logs went to the log file.
    assert not [line for line in done.stdout.splitlines() if line.startswith("{")]
    log = reports / "local-run.log"
    assert f"handler and pipe logs: {log}" in done.stdout
    assert any(json.loads(line).get("level") for line in log.read_text().splitlines())
    assert (reports / "kmer-local-001.html").is_file()


def test_local_run_names_a_missing_request_file() -> None:
    done = subprocess.run(
        [str(RUNLEDGER), "local", "run", "nope.json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no such request file: nope.json" in done.stderr
