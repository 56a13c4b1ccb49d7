"""`runledger report` on a real run of the local cloud: 3 variants, one of them failed.

The run goes through the whole offline pipeline (table -> stream -> pipe -> workflow ->
handlers -> Batch jobs as processes). Batch is told to fail one variant's job with exit 2
(a permanent failure: not retried) and to fail another's first attempt with exit 75 (the
job definition retries it). The report is read back from the table and the execution
history through the CLI, with an endpoint URL as it would be against AWS with a stack;
then headless Chromium opens it. Each job runs as a child execution of the run's
Distributed Map (RunVariants): its states and its Batch job are in the child's history,
which the report reads as an iteration of the Map.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from runledger.pricing import format_usd
from runledger_cli.cli import main
from runledger_cli.graph import STATUS_STYLES, iter_states
from runledger_cli.ledger import RunRecord
from runledger_cli.report import (
    RunData,
    execution_status,
    fetch_run,
    iteration_labels,
    open_in_chromium,
    render_report,
    report_lines,
    run_visits,
    state_statuses,
)
from runledger_cli.sam_template import REPO_ROOT
from runledger_local.cloud import LocalPipeline
from runledger_local.local_paths import localize_request

RUN_ID = "report-three-variants"
REQUEST = REPO_ROOT / "events" / "requests" / "kmer-valid-local.json"


@pytest.fixture(scope="module")
def names() -> list[str]:
    return [v["name"] for v in json.loads(REQUEST.read_text())["variants"]]


@pytest.fixture(scope="module")
def run(pipeline: LocalPipeline, names: list[str]) -> RunRecord:
    item = localize_request(json.loads(REQUEST.read_text()), REPO_ROOT)
    item["pk"] = f"RUN#{RUN_ID}"
    pipeline.cloud.inject_job_exit({"run-id": RUN_ID, "variant": names[2]}, [2])
    pipeline.cloud.inject_job_exit({"run-id": RUN_ID, "variant": names[1]}, [75])
    pk = pipeline.put_request(item)
    return pipeline.wait_for([pk], timeout=120)[pk]


@pytest.fixture(scope="module")
def data(pipeline: LocalPipeline, run: RunRecord) -> RunData:
    return fetch_run(
        RUN_ID,
        dynamodb=pipeline.client("dynamodb"),
        stepfunctions=pipeline.client("stepfunctions"),
        table=pipeline.table_name,
    )


@pytest.fixture(scope="module")
def page(pipeline: LocalPipeline, run: RunRecord, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("report") / f"{RUN_ID}.html"
    argv = ["report", RUN_ID, "--table", pipeline.table_name]
    assert main([*argv, "--endpoint-url", pipeline.endpoint_url, "-o", str(output)]) == 0
    return output


def test_the_run_has_three_variants_and_one_failed(run: RunRecord, names: list[str]) -> None:
    assert run.status == "SUCCEEDED"
    assert {n: v["status"] for n, v in run.variants.items()} == {
        names[0]: "SUCCEEDED",
        names[1]: "SUCCEEDED",
        names[2]: "FAILED",
    }
    assert run.variants[names[1]]["attempts"] == 2


def test_the_jobs_ran_in_children_of_the_distributed_map(data: RunData, names: list[str]) -> None:
    assert len(data.children) == len(names)  # one child execution per job
    assert {c.input["key"] for c in data.children} == set(names)
    assert all(c.status == "SUCCEEDED" for c in data.children)  # a failed job is caught
    parent = {
        e["stateEnteredEventDetails"]["name"]
        for e in data.events
        if "stateEnteredEventDetails" in e
    }
    assert "RunJob" not in parent


def test_states_are_coloured_by_what_the_history_says(data: RunData) -> None:
    visits = run_visits(data)
    statuses = state_statuses(visits, execution_status(data))
    entered = {
        e["stateEnteredEventDetails"]["name"]
        for events in (data.events, *(child.events for child in data.children))
        for e in events
        if "stateEnteredEventDetails" in e
    }
    assert set(statuses) == entered
    assert statuses["RunJob"].status == "caught"  # one job failed, its Catch recorded it
    assert statuses["RunJob"].note == "3 runs: 2 ok · 1 caught · retried 1\N{MULTIPLICATION SIGN}"
    assert statuses["CollectMetrics"].status == "succeeded"  # records the 2 that succeeded
    assert statuses["CollectMetrics"].note == "2 runs: 2 ok"
    assert statuses["RecordVariantFailure"].status == "succeeded"
    assert statuses["RunVariants"].status == "succeeded"
    assert "3 iterations" in statuses["RunVariants"].note  # one per child execution
    for name in ("StartRun", "SummarizeRun", "DidAnyVariantSucceed", "RecordResult"):
        assert statuses[name].status == "succeeded", name
    never = {"AlreadyClaimed", "RequestInvalid", "RecordRunFailed", "RecordFailure", "RunFailed"}
    never |= {"VariantNotRecorded"}
    assert never.isdisjoint(statuses)


def test_batch_jobs_come_from_the_sync_results_and_agree_with_the_table(
    data: RunData, names: list[str]
) -> None:
    visits = run_visits(data)
    labels = iteration_labels(visits)
    jobs = {labels[v.frames]: v.job for v in visits if v.job}
    assert set(jobs) == set(names)
    assert [a.exit_code for a in jobs[names[0]].attempts] == [0]
    assert [a.exit_code for a in jobs[names[1]].attempts] == [75, 0]
    assert [a.exit_code for a in jobs[names[2]].attempts] == [2]
    for name in names[:2]:  # VARIANT# items carry the job's start and stop (epoch ms)
        item, job = data.variants[name], jobs[name]
        assert job.started
        assert job.stopped
        assert round(job.started.timestamp() * 1000) == item["started_at"]
        assert round(job.stopped.timestamp() * 1000) == item["stopped_at"]
        assert job.job_id == item["job_id"]


def test_page_shows_status_variants_cost_and_timeline(
    page: Path, data: RunData, names: list[str]
) -> None:
    text = page.read_text()
    assert f'Run <span class="mono">{RUN_ID}</span>' in text
    assert '<span class="badge succeeded">SUCCEEDED</span>' in text
    assert "<b>2</b> of 3 succeeded" in text
    assert f"Failed variants: {names[2]}" in text
    failed_row = re.search(rf'<tr class="variant failed" data-variant="{names[2]}">.*?</tr>', text)
    assert failed_row
    assert "exit code 2" in failed_row.group(0)
    assert text.count('<tr class="variant succeeded"') == 2
    assert format_usd(data.request["cost"]["total_usd"]) in text
    for service in data.request["cost"]["breakdown"]:
        assert f"<td>{service}</td>" in text
    for name in names:
        assert f"Batch job · {name}" in text
    assert 'class="bar retried"' in text  # the od-1vcpu attempt that exited 75


def test_page_is_self_contained(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text
    assert "<script" not in text
    assert "url(" not in text
    assert "@import" not in text


def test_a_run_not_started_yet_shows_the_workflow_with_nothing_entered(
    pipeline: LocalPipeline,
) -> None:
    # Not REQUESTED, so the pipe's filter never starts it: no execution to read.
    pipeline.put_request({"pk": "RUN#on-hold", "sk": "REQUEST", "status": "ON_HOLD"})
    data = fetch_run(
        "on-hold",
        dynamodb=pipeline.client("dynamodb"),
        stepfunctions=pipeline.client("stepfunctions"),
        table=pipeline.table_name,
    )
    assert data.events == []
    text = render_report(data)
    assert "No execution history." in text
    # Graphviz writes "-" in attributes as &#45;
    assert html.unescape(text).count('class="node state not-entered"') == sum(
        1 for _, s in iter_states(data.definition) if s["Type"] != "Map"
    )


def test_unknown_run_is_a_clear_error(
    pipeline: LocalPipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "no-such-run", "--table", pipeline.table_name]
    argv += ["--endpoint-url", pipeline.endpoint_url, "-o", str(tmp_path / "x.html")]
    assert main(argv) == 2
    assert "no run 'no-such-run' in table" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_local_run_writes_one_page_per_run_and_says_where(
    pipeline: LocalPipeline, run: RunRecord, tmp_path: Path
) -> None:
    text = report_lines(pipeline, [RUN_ID], tmp_path / "reports")
    path = tmp_path / "reports" / f"{RUN_ID}.html"
    assert path.is_file()
    assert f"{RUN_ID}  {path}" in text


def test_chromium_renders_the_graph_with_status_colours(
    chromium: Path, page: Path, data: RunData, tmp_path: Path
) -> None:
    with open_in_chromium(page) as (tab, log):
        nodes = tab.evaluate(
            """() => Array.from(document.querySelectorAll('#workflow-graph g.state'), g => {
                const shape = g.querySelector('path, polygon');
                const box = g.getBoundingClientRect();
                return {id: g.id, cls: g.getAttribute('class'),
                        fill: shape && shape.getAttribute('fill'),
                        computed: shape && getComputedStyle(shape).fill,
                        w: box.width, h: box.height};
            })"""
        )
        bars = tab.locator("#timeline rect.bar").count()
        rows = tab.locator("tr.variant").count()
        graph_width = tab.evaluate(
            "() => document.getElementById('workflow-graph').getBoundingClientRect().width"
        )
        tab.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    by_id = {n["id"]: n for n in nodes}
    states = dict(iter_states(data.definition))
    assert set(by_id) == {f"state-{name}" for name in states}  # every state, the Map too
    expected = {
        "state-RunJob": "caught",
        "state-StartRun": "succeeded",
        "state-CollectMetrics": "succeeded",
        "state-RecordVariantFailure": "succeeded",
        "state-VariantNotRecorded": "not-entered",
        "state-AlreadyClaimed": "not-entered",
        "state-RunFailed": "not-entered",
    }
    for node_id, status in expected.items():
        node = by_id[node_id]
        assert status in node["cls"].split(), node
        assert node["fill"] == STATUS_STYLES[status].fill, node
        assert node["computed"] != "none"
        assert node["w"] > 40, node  # laid out, visible
        assert node["h"] > 15, node
    assert graph_width > 500
    assert rows == 3
    assert bars >= 3 * 5  # at least every state visit and every job attempt of 3 variants
    assert log.errors == []
    assert all(url.startswith("file://") for url in log.requests), log.requests
    png = (tmp_path / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 50_000
