"""Cold import budget: each handler within 1.3x of a bare Powertools handler (issue 24 item 8).

Like Powertools' own tests/performance/test_high_level_imports.py (``@pytest.mark.perf``,
an SLA per import, outside the unit run), but relative: the yardstick is
tests/perf/baseline/app.py (Logger, Metrics, ``event_parser`` with a small model), timed
in the same run, so a slow or busy machine moves both sides. ``make perf`` (and ``make
bench``) run it; ``make test`` leaves it out (``-m 'not perf'``).

The environment is the layer's, not the dev venv's: ``pip install --target`` of
layer/requirements.txt (in build/perf-layer, made once per requirements file) plus
layer/ (the ``runledger`` package), then the function's folder first, as on Lambda
(/var/task, /opt/python). The interpreter runs with ``-S``, so the dev venv's packages
(awscrt, cryptography, moto, ...) cannot be picked up. Each sample is a fresh
interpreter importing ``app``; the candidates take turns within every round (the order
rotating), after one warm-up round that leaves the bytecode caches written. The budget
holds for the medians of CPU time (``time.process_time``: what the import computes, not
how long the shared machine made it wait); wall times are printed beside them. A second
test shows what the first invocation of a handler that calls AWS adds: boto3 and its
client. On a busy machine (load average above the CPU count) every ratio drifts up.

    .venv/bin/pytest -m perf tests/perf -p no:xdist     (RUNLEDGER_PERF_ROUNDS: 25)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.perf

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = REPO_ROOT / "layer"
REQUIREMENTS = LAYER_DIR / "requirements.txt"
LAYER_SITE = REPO_ROOT / "build" / "perf-layer" / "python"
BASELINE_DIR = Path(__file__).resolve().parent / "baseline"
HANDLERS = sorted(p.parent.name for p in (REPO_ROOT / "functions").glob("*/app.py"))
BUDGET = 1.3
ROUNDS = int(os.environ.get("RUNLEDGER_PERF_ROUNDS", "25"))

#: What template.yaml gives every function (Globals) and what a handler reads at import.
ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "runledger",
    "POWERTOOLS_METRICS_NAMESPACE": "runledger",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "INPUT_LOCATIONS": "s3://runledger-inputs/",
    "RESULTS_BUCKET": "runledger-results",
    "RUNS_TABLE_NAME": "runledger-runs",
}
_TIMED = (
    "import time\n"
    "cpu, wall = time.process_time(), time.perf_counter()\n"
    "import app\n"
    "{then}"
    "print(time.process_time() - cpu, time.perf_counter() - wall)\n"
)
#: The AWS client each handler that calls AWS creates on its first invocation (boto3 is
#: imported then, runledger.clients): timed too, to show what its first call adds.
FIRST_CLIENT = {
    "close_run": "dynamodb",
    "collect_metrics": "s3",
    "summarize_run": "stepfunctions",
    "start_run": "dynamodb",
}


def layer_site() -> Path:
    """build/perf-layer/python with layer/requirements.txt installed (pip's cache reused)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = LAYER_SITE.parent / "requirements.sha256"
    if not stamp.is_file() or stamp.read_text() != digest:
        shutil.rmtree(LAYER_SITE.parent, ignore_errors=True)  # nothing left from older pins
        pip = [sys.executable, "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--target", str(LAYER_SITE), "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(digest)
    return LAYER_SITE


def run_in_layer(code_dir: Path, code: str, site: Path) -> str:
    """Run ``code`` in a fresh interpreter that sees only ``code_dir``, the layer and stdlib."""
    env = {"PATH": os.environ.get("PATH", ""), **ENVIRONMENT}
    env["PYTHONPATH"] = os.pathsep.join([str(code_dir), str(site), str(LAYER_DIR)])
    child = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env=env,
        cwd=code_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    return child.stdout


def candidates() -> dict[str, tuple[Path, str]]:
    """What is timed: name -> (code folder, code)."""
    found = {"baseline": (BASELINE_DIR, _TIMED.format(then=""))}
    for name in HANDLERS:
        found[name] = (REPO_ROOT / "functions" / name, _TIMED.format(then=""))
    for name, service in FIRST_CLIENT.items():
        then = f"from runledger.clients import client\nclient({service!r})\n"
        found[f"{name} + {service} client"] = (found[name][0], _TIMED.format(then=then))
    return found


def alternated(names: list[str], rounds: int, site: Path) -> dict[str, list[tuple[float, float]]]:
    """(CPU s, wall s) of each candidate per round, the candidates taking turns."""
    timed = candidates()
    for name in names:  # warm-up: bytecode caches written, files cached
        run_in_layer(*timed[name], site)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            cpu, wall = map(float, run_in_layer(*timed[name], site).split())
            samples[name].append((cpu, wall))
    return samples


def report(title: str, samples: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """Print the medians (CPU and wall, ms and x baseline); return the CPU medians."""
    cpu = {name: statistics.median(c for c, _ in runs) for name, runs in samples.items()}
    wall = {name: statistics.median(w for _, w in runs) for name, runs in samples.items()}
    rounds = len(samples["baseline"])
    lines = [f"{title}, medians of {rounds} alternated rounds (CPU ms, wall ms; x baseline)"]
    for name in samples:
        lines.append(
            f"  {name:36} {cpu[name] * 1000:6.1f} {wall[name] * 1000:6.1f}"
            f"   x{cpu[name] / cpu['baseline']:.2f} x{wall[name] / wall['baseline']:.2f}"
        )
    lines.append(f"  load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("\n" + "\n".join(lines))
    return cpu


def test_the_environment_is_the_layers_and_nothing_else() -> None:
    site = layer_site()
    code = (
        "import importlib.util, sys\n"
        "print([m for m in ('awscrt', 'OpenSSL', 'cryptography', 'moto', 'runledger_cli')"
        " if importlib.util.find_spec(m)])\n"
        "import runledger, aws_lambda_powertools\n"
        "print(runledger.__file__, aws_lambda_powertools.__file__)\n"
    )
    missing, files = run_in_layer(BASELINE_DIR, code, site).splitlines()
    assert missing == "[]"
    runledger_file, powertools_file = files.split()
    assert Path(runledger_file).is_relative_to(LAYER_DIR)
    assert Path(powertools_file).is_relative_to(site)


def test_every_handler_imports_within_the_budget_of_a_bare_powertools_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    samples = alternated(["baseline", *HANDLERS], ROUNDS, layer_site())
    with capsys.disabled():
        cpu = report("cold import", samples)
    over = {
        name: round(cpu[name] / cpu["baseline"], 2)
        for name in HANDLERS
        if cpu[name] > BUDGET * cpu["baseline"]
    }
    assert not over, f"over {BUDGET}x the bare Powertools handler: {over}"


def test_the_handlers_that_call_aws_pay_for_boto3_in_their_first_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a budget: what their first invocation adds to the import (boto3 and a client),
    so that nobody mistakes the lazy import for a saving in these three."""
    first_calls = [f"{name} + {service} client" for name, service in FIRST_CLIENT.items()]
    names = ["baseline", *FIRST_CLIENT, *first_calls]
    samples = alternated(names, max(5, ROUNDS // 2), layer_site())
    with capsys.disabled():
        cpu = report("import, then the first AWS client", samples)
    for name, first_call in zip(FIRST_CLIENT, first_calls, strict=True):
        assert cpu[first_call] > cpu[name], f"{name}: its first AWS client cost nothing?"
