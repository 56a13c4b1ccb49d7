"""The fuzz tier's invariant, checked: what became of each hostile item (tests/hostile_items.py)
written to the runs table, or handed to ``runledger local run``.

* ``table_batch``: PutItem each item of a batch, and a valid control request, into one
  local pipeline; wait for the runs; then every item must have come to its ``kind``:
  ``refused`` (PutItem's ValidationException), ``filtered`` (left as written, no execution)
  or ``invalid`` (INVALID, with a reason for people that names one of the item's broken
  attributes, no variant run); the control SUCCEEDED; the pipe started one execution per
  item it passed and no other (no loop) and sent nothing to its DLQ; no execution is left
  running.
* ``cli_in_process``: ``runledger_cli.cli.main(["local", "run", FILE])`` in this process,
  its output escaped as the ``runledger`` script escapes it, the local cloud replaced by a
  stand-in that only says it was asked for: a file is refused (exit 2, one line naming it,
  no traceback) or admitted, as its kind says.
* ``cli_row``: the row of the command's table for a run whose item holds anything.
* ``cli_batch``: the real ``runledger local run`` on many files at once, in a subprocess:
  each run INVALID, the control SUCCEEDED, one table row per run, a report per run, exit 0,
  nothing unescaped on the terminal.

Each returns the outcomes it saw (by kind) and the problems (empty: the invariant held).
"""

from __future__ import annotations

import io
import itertools
import json
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from hostile_items import (
    Hostile,
    HostileFile,
    insert_record,
    pipe_filter,
    sample_request,
    tag,
    unreadable,
)
from runledger_process import CloudStarted, local_run, stand_in_cloud

from runledger.dynamo import from_dynamodb_json
from runledger.models import VARIANT_SK_PREFIX
from runledger_cli.cli import main
from runledger_cli.commands.local import run_row
from runledger_cli.ledger import RunRecord, run_id_of
from runledger_cli.terminal import EscapingStream, one_line
from runledger_local.cloud import LocalPipeline

#: Every item gets its own run: pk = <prefix>fz<serial, 6 digits><suffix>.
SERIALS = itertools.count(1)
#: How long a batch's runs may take to end (they take about a second on an idle machine).
RUNS_TIMEOUT = 120.0


@dataclass
class Checked:
    """What a check saw: outcomes by kind, and every way they broke the invariant."""

    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, other: Checked) -> None:
        self.outcomes.update(other.outcomes)
        self.problems.extend(other.problems)


def control_request() -> dict[str, Any]:
    """The valid sample request with its first variant only (one job): it must succeed."""
    item = sample_request()
    return {**item, "pk": f"RUN#control-{tag(next(SERIALS))}", "variants": item["variants"][:1]}


def _forms(name: str) -> list[str]:
    """How an attribute's name may appear in a reason: as is, or escaped (first 40 chars:
    a long line of the reason is cut)."""
    return [name[:40], name.encode("unicode_escape").decode()[:40]]


def reason_problem(reason: object, names: Sequence[str]) -> str | None:
    """Why an INVALID run's ``reason`` is not one for people naming one of ``names``."""
    if not isinstance(reason, str) or not reason:
        return f"no reason: {reason!r}"
    if not any(form in reason for name in names for form in _forms(name)):
        return f"reason {reason[:300]!r} names none of {list(names)}"
    unfit = unreadable(reason)
    return f"reason {reason[:300]!r} {unfit}" if unfit else None


def _key(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


def table_batch(pipeline: LocalPipeline, hostiles: Iterable[Hostile]) -> Checked:
    """Write ``hostiles`` and a control to ``pipeline``'s table; check what became of each."""
    checked = Checked()
    dynamodb = pipeline.client("dynamodb")
    passes = pipe_filter()
    if not pipeline.pipe.wait_idle(30):
        return Checked(problems=["the pipe was busy before the batch"])
    before = pipeline.pipe.counters
    stored: list[tuple[Hostile, dict[str, Any], str]] = []
    for hostile in hostiles:
        serial = next(SERIALS)
        item, kind = hostile.item(serial), hostile.kind(passes, serial)
        try:
            dynamodb.put_item(TableName=pipeline.table_name, Item=item)
        except ClientError as exc:
            error = exc.response["Error"]
            checked.outcomes["refused"] += 1
            if kind != "refused" or error.get("Code") != "ValidationException":
                checked.problems.append(
                    f"{hostile!r}: PutItem refused it ({error}), expected {kind}"
                )
            continue
        except Exception as exc:  # the table (or the client) crashed on it
            checked.outcomes["crashed"] += 1
            checked.problems.append(
                f"{hostile!r}: PutItem raised {type(exc).__name__}: {exc} {_where(exc)}"
            )
            continue
        if kind == "refused":
            checked.problems.append(f"{hostile!r}: stored, but DynamoDB refuses such an item")
            kind = "invalid" if passes.passes(insert_record(item)) else "filtered"
        stored.append((hostile, item, kind))
    control = control_request()
    control_pk = pipeline.put_request(control)
    running = [item["pk"]["S"] for _, item, kind in stored if kind == "invalid"]
    runs = _wait(pipeline, [*running, control_pk], checked)
    if not pipeline.pipe.wait_idle(60):
        checked.problems.append("the pipe did not drain after the batch")
    after = pipeline.pipe.counters

    for hostile, item, kind in stored:
        pk = item["pk"]["S"]
        if kind == "invalid":
            problem = _invalid_problem(pipeline, runs.get(pk), hostile)
        else:
            now = dynamodb.get_item(TableName=pipeline.table_name, Key=_key(item)).get("Item")
            problem = None if now == item else f"changed to {now!r}, expected it left as written"
        checked.outcomes[kind if problem is None else "broken"] += 1
        if problem:
            checked.problems.append(f"{hostile!r} ({kind}): {problem}")
    control_run = runs.get(control_pk)
    if control_run is None or control_run.status != "SUCCEEDED":
        checked.problems.append(f"the valid control ended {getattr(control_run, 'status', None)}")
    started = after.executions_started - before.executions_started
    if started != len(running) + 1:
        checked.problems.append(f"{started} executions for {len(running) + 1} runs (a loop?)")
    dead = after.records_to_dlq - before.records_to_dlq
    if dead:
        checked.problems.append(f"{dead} records to the DLQ, expected none")
    left = _running_executions(pipeline)
    if left:
        checked.problems.append(f"executions left running: {left}")
    return checked


def _where(exc: BaseException) -> str:
    """Where ``exc`` was raised: the innermost frames of its traceback."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return "(at " + " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames[::-1]) + ")"


def _wait(pipeline: LocalPipeline, pks: list[str], checked: Checked) -> dict[str, Any]:
    try:
        return pipeline.wait_for(pks, timeout=RUNS_TIMEOUT)
    except TimeoutError as exc:
        checked.problems.append(f"not final after {RUNS_TIMEOUT:.0f} s: {exc}")
        return {pk: pipeline.read_run(pk) for pk in pks}


def _invalid_problem(pipeline: LocalPipeline, run: Any, hostile: Hostile) -> str | None:
    if run is None:
        return "never read"
    if run.status != "INVALID":
        cause = run.request.get("error") or run.request.get("reason")
        return f"ended {run.status} ({cause!r}), expected INVALID"
    problem = reason_problem(run.request.get("reason"), hostile.names)
    if problem:
        return problem
    variants = list(
        pipeline.client("dynamodb").query(
            TableName=pipeline.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={
                ":pk": {"S": f"RUN#{run.run_id}"},
                ":v": {"S": VARIANT_SK_PREFIX},
            },
        )["Items"]
    )
    return f"variant items written: {variants}" if variants else None


def _running_executions(pipeline: LocalPipeline, wait: float = 10.0) -> list[str]:
    """Executions still RUNNING once ``wait`` seconds have passed (CloseRun may still run)."""
    sfn = pipeline.client("stepfunctions")
    deadline = time.monotonic() + wait
    while True:
        running = [
            e["name"]
            for e in sfn.list_executions(
                stateMachineArn=pipeline.state_machine_arn, statusFilter="RUNNING"
            )["executions"]
        ]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


# ------------------------------------------------------------------ runledger local run
def unescaped(text: str) -> list[str]:
    """Characters of terminal output that could change what it shows (all but printable
    ones, newline and tab)."""
    return sorted({c for c in text if not (c.isprintable() or c in "\n\t")})


def output_problems(out: str, err: str) -> list[str]:
    problems = []
    for name, text in (("stdout", out), ("stderr", err)):
        if "Traceback" in text:
            problems.append(f"{name} has a traceback: {text[-500:]!r}")
        if unescaped(text):
            problems.append(f"{name} shows {unescaped(text)!r} raw")
    return problems


def refusal_problems(code: object, out: str, err: str, path: Path) -> list[str]:
    """Problems with a refusal: exit 2, one line on stderr naming the file, for people."""
    problems = output_problems(out, err)
    if code != 2:
        problems.append(f"exit {code!r}, expected 2")
    lines = err.splitlines()
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, expected one: {err[:500]!r}")
    elif not lines[0].startswith("runledger: error: "):
        problems.append(f"not runledger's error line: {lines[0][:300]!r}")
    else:
        unfit = unreadable(lines[0].replace(str(path), "FILE"))
        if unfit:
            problems.append(f"the message {unfit}: {lines[0][:300]!r}")
    if err and path.name[:20] not in err and _escaped_name(path)[:20] not in err:
        problems.append(f"the message does not name the file {path.name!r}: {err[:300]!r}")
    return problems


def _escaped_name(path: Path) -> str:
    return one_line(path.name)


def write_file(directory: Path, stem: str, content: bytes) -> Path:
    """``content`` as ``directory/<serial>-<stem>.json`` (``stem``: any text a file name
    may hold)."""
    path = directory / f"{next(SERIALS):06d}-{stem}.json"
    path.write_bytes(content)
    return path


def request_file(directory: Path, hostile: Hostile, stem: str) -> tuple[Path, str]:
    """A file dialect Hostile as the request file a user would write (NaN as JSON allows),
    and the tag of its run id."""
    serial = next(SERIALS)
    content = json.dumps(hostile.item(serial), ensure_ascii=False).encode("utf-8")
    return write_file(directory, stem, content), tag(serial)


def cli_in_process(path: Path) -> tuple[object, str, str]:
    """``runledger local run PATH`` through ``runledger_cli.cli.main``, with the
    ``stand_in_cloud``: (exit code, or "admitted"; stdout; stderr)."""
    code: object
    with stand_in_cloud() as (out, err):
        try:
            code = main(["local", "run", str(path), "--reports", str(path.parent / "reports")])
        except SystemExit as exc:
            code = exc.code
        except CloudStarted:
            code = "admitted"
        except Exception as exc:  # what the user would see as a traceback
            code = f"crashed: {type(exc).__name__}: {exc}"[:300]
    return code, out.getvalue(), err.getvalue()


def cli_file(path: Path, kind: str, what: str) -> Checked:
    """One file through ``cli_in_process``: refused (exit 2, one line) or admitted, as
    ``kind`` says."""
    code, out, err = cli_in_process(path)
    outcome = "admitted" if code == "admitted" else "refused" if code == 2 else str(code)
    checked = Checked(Counter({"cli-" + outcome: 1}))
    if kind == "refused":
        problems = refusal_problems(code, out, err, path)
    elif code != "admitted":
        problems = [f"exit {code!r}, expected it admitted: {err[:300]!r}"]
    else:
        problems = output_problems(out, err)
    checked.problems += [f"{what} ({path.name!r}): {p}" for p in problems]
    return checked


def cli_hostile(directory: Path, hostile: Hostile, stem: str) -> Checked:
    path, _ = request_file(directory, hostile, stem)
    return cli_file(path, hostile.cli_kind(pipe_filter()), repr(hostile))


def cli_document(directory: Path, document: HostileFile, stem: str) -> Checked:
    return cli_file(write_file(directory, stem, document.content), "refused", repr(document))


def cli_row(hostile: Hostile) -> Checked:
    """The row ``runledger local run`` prints for a run whose item (a table dialect Hostile
    the table stores) holds anything, the attributes the workflow writes included: one
    line, escaped, and no exception."""
    item = from_dynamodb_json(hostile.item(next(SERIALS)))
    run = RunRecord(run_id=run_id_of(str(item.get("pk"))), request=item)
    out = io.StringIO()
    try:
        EscapingStream(out).write(run_row(run) + "\n")
    except Exception as exc:
        problems = [f"run_row raised {type(exc).__name__}: {exc} {_where(exc)}"]
    else:
        problems = output_problems(out.getvalue(), "")
        if out.getvalue().count("\n") != 1:
            problems.append(f"the row is {out.getvalue().count(chr(10))} lines")
    checked = Checked(Counter({"cli-row" if not problems else "broken": 1}))
    checked.problems += [f"{hostile!r}: {problem}" for problem in problems]
    return checked


def cli_batch(directory: Path, hostiles: Sequence[Hostile]) -> Checked:
    """Every (admitted) file dialect Hostile and a control in one real ``runledger local
    run``: each run INVALID, the control SUCCEEDED, one row and one report per run."""
    checked = Checked()
    files = {request_file(directory, h, "batch"): h for h in hostiles}
    item = control_request()
    control = write_file(directory, "control", json.dumps(item).encode()), item["pk"][4:]
    reports = directory / "reports"
    paths = [str(path) for path, _ in [*files, control]]
    done = local_run(*paths, "--timeout", "200", "--reports", str(reports), timeout=300)
    checked.problems += output_problems(done.stdout, done.stderr)
    if done.returncode != 0:
        checked.problems.append(f"exit {done.returncode}: {done.stderr[-1000:]!r}")
    lines = done.stdout.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("run ")), None)
    if header is None:
        checked.problems.append(f"no table of runs: {done.stdout[-1000:]!r}")
        return checked
    rows = list(itertools.takewhile(bool, lines[header + 1 :]))
    if len(rows) != len(paths):
        checked.problems.append(f"{len(rows)} rows for {len(paths)} runs: {rows!r}")
    for (_, run_tag), hostile in [*files.items(), (control, None)]:
        row = [r for r in rows if run_tag in r]
        expected = "SUCCEEDED" if hostile is None else "INVALID"
        if len(row) != 1 or f" {expected} " not in row[0]:
            checked.outcomes["broken"] += 1
            checked.problems.append(f"{hostile!r}: rows {row!r}, expected one {expected}")
        else:
            checked.outcomes["cli-invalid" if hostile else "cli-control"] += 1
    pages = list(reports.glob("*.html"))
    if len(pages) != len(paths):
        checked.problems.append(f"{len(pages)} reports for {len(paths)} runs")
    return checked


def cli_refused_subprocess(directory: Path, documents: Sequence[tuple[str, bytes]]) -> Checked:
    """A few refused files, each through the real ``runledger local run``."""
    checked = Checked()
    for stem, content in documents:
        path = write_file(directory, stem, content)
        done = local_run(str(path), timeout=120)
        problems = refusal_problems(done.returncode, done.stdout, done.stderr, path)
        checked.outcomes["cli-refused" if not problems else "broken"] += 1
        checked.problems += [f"{stem!r}: {p}" for p in problems]
    return checked
