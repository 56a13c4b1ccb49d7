"""`runledger graph`: the workflow drawn by Graphviz, checked on the SVG it produces."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from runledger_cli.cli import main
from runledger_cli.graph import (
    END,
    START,
    iter_states,
    load_definition,
    node_id,
    render,
    source_digest,
    svg_source_digest,
    workflow_definition_path,
    workflow_graph,
)
from runledger_cli.sam_template import REPO_ROOT

SVG = "{http://www.w3.org/2000/svg}"
COMMITTED = REPO_ROOT / "docs" / "run_workflow.svg"


def parse(svg: bytes) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own Graphviz output, not untrusted input)


def groups(root: ET.Element, kind: str) -> dict[str, ET.Element]:
    """Graphviz's <g class="node|edge|cluster ..."> elements by their <title>."""
    found = {}
    for g in root.iter(SVG + "g"):
        if kind in (g.get("class") or "").split():
            found[g.findtext(SVG + "title") or ""] = g
    return found


def text_of(g: ET.Element) -> str:
    return " ".join(t.text or "" for t in g.iter(SVG + "text"))


def box(g: ET.Element) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of a node's or cluster's outline."""
    numbers: list[float] = []
    for shape in g.iter():
        if shape.tag in {SVG + "path", SVG + "polygon"}:
            raw = shape.get("d") or shape.get("points") or ""
            numbers += [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", raw)]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return load_definition()


@pytest.fixture(scope="module")
def svg(definition: dict[str, Any]) -> ET.Element:
    return parse(render(workflow_graph(definition), "svg"))


def test_the_definition_is_the_one_the_template_deploys() -> None:
    assert workflow_definition_path() == REPO_ROOT / "statemachines" / "run_workflow.asl.json"


def test_every_state_is_drawn_with_its_name_and_type(
    definition: dict[str, Any], svg: ET.Element
) -> None:
    nodes, clusters = groups(svg, "node"), groups(svg, "cluster")
    states = dict(iter_states(definition))
    inner = definition["States"]["RunVariants"]["ItemProcessor"]["States"]
    assert set(states) == {*definition["States"], *inner}  # nested states included
    for name, state in states.items():
        if state["Type"] in {"Map", "Parallel"}:
            drawn = clusters[f"cluster_{name}"]
        else:
            drawn = nodes[name]
            assert drawn.get("id") == node_id(name)
        assert name in text_of(drawn)
        assert state["Type"] in text_of(drawn)
    # Tasks say which integration they call.
    assert "batch:submitJob.sync" in text_of(nodes["RunJob"])
    assert "lambda:invoke" in text_of(nodes["StartRun"])


def test_transitions_choices_and_catches_are_edges(
    definition: dict[str, Any], svg: ET.Element
) -> None:
    edges = groups(svg, "edge")
    titles = set(edges)
    catches = [g for g in edges.values() if "catch" in (g.get("class") or "").split()]
    expected_catches = sum(len(s.get("Catch", [])) for _, s in iter_states(definition))
    assert len(catches) == expected_catches
    for g in catches:  # dashed, labelled with the errors
        assert all("stroke-dasharray" in p.attrib for p in g.iter(SVG + "path"))
        assert text_of(g).startswith(("States.", "AlreadyClaimed", "RequestInvalid"))
    # StartRun's errors, each caught by name; anything else fails the run.
    assert text_of(edges["StartRun->AlreadyClaimed"]) == "AlreadyClaimed"
    assert text_of(edges["StartRun->RequestInvalid"]) == "RequestInvalid"
    assert text_of(edges["StartRun->RecordFailure"]) == "States.ALL"
    assert "SummarizeRun->DidAnyVariantSucceed" in titles
    assert "DidAnyVariantSucceed->RecordResult" in titles
    assert "status = 'SUCCEEDED'" in text_of(edges["DidAnyVariantSucceed->RecordResult"])
    assert text_of(edges["DidAnyVariantSucceed->RecordRunFailed"]) == "Default"
    # Inside the Map (each job's child execution: CollectMetrics records the job, its
    # Catches record the failure), and into and out of it.
    assert "RunJob->CollectMetrics" in titles
    assert text_of(edges["RunJob->RecordVariantFailure"]) == "States.ALL"
    assert text_of(edges["CollectMetrics->RecordVariantFailure"]) == "States.ALL"
    assert text_of(edges["RecordVariantFailure->VariantNotRecorded"]) == "States.ALL"
    assert not any("RecordVariant->" in t or t.endswith("->RecordVariant") for t in titles)
    assert "StartRun->RunJob" in titles  # enters the Map at its StartAt
    # Leaves the Map from its first final state, CollectMetrics (the edge starts at the box).
    assert edges["CollectMetrics->SummarizeRun"].get("class") == "edge"
    assert "CollectMetrics->RecordFailure" in titles  # the Map's own Catch


def test_start_and_end_markers_close_the_flow(definition: dict[str, Any], svg: ET.Element) -> None:
    titles = set(groups(svg, "edge"))
    assert f"{START}->{definition['StartAt']}" in titles
    ends = {
        name
        for name, state in definition["States"].items()
        if state.get("End") or state["Type"] in {"Succeed", "Fail"}
    }
    assert ends == {"AlreadyClaimed", "RequestInvalid", "RecordResult", "RunFailed"}
    assert {t.split("->")[0] for t in titles if t.endswith("->" + END)} == ends


def test_the_map_is_a_box_around_its_inner_states(
    definition: dict[str, Any], svg: ET.Element
) -> None:
    cluster = box(groups(svg, "cluster")["cluster_RunVariants"])
    nodes = groups(svg, "node")
    inner = definition["States"]["RunVariants"]["ItemProcessor"]["States"]
    for name, g in nodes.items():
        x0, y0, x1, y1 = box(g)
        inside = cluster[0] <= x0 and x1 <= cluster[2] and cluster[1] <= y0 and y1 <= cluster[3]
        assert inside == (name in inner), name


def test_a_parallel_state_is_a_box_with_a_box_per_branch() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                    {
                        "StartAt": "B1",
                        "States": {
                            "B1": {"Type": "Pass", "Next": "B2"},
                            "B2": {"Type": "Wait", "Seconds": 1, "End": True},
                        },
                    },
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}],
                "Next": "Done",
            },
            "Oops": {"Type": "Fail"},
            "Done": {"Type": "Succeed"},
        },
    }
    svg = parse(render(workflow_graph(definition), "svg"))
    clusters = groups(svg, "cluster")
    assert {"cluster_Fan", "cluster_Fan_branch1", "cluster_Fan_branch2"} <= set(clusters)
    outer = box(clusters["cluster_Fan"])
    for branch, members in (("cluster_Fan_branch1", ["A"]), ("cluster_Fan_branch2", ["B1", "B2"])):
        inner = box(clusters[branch])
        assert outer[0] <= inner[0]
        assert inner[2] <= outer[2]
        for name in members:
            x0, _, x1, _ = box(groups(svg, "node")[name])
            assert inner[0] <= x0
            assert x1 <= inner[2]
    titles = set(groups(svg, "edge"))
    assert {f"{START}->A", "B1->B2", "A->Done", "A->Oops", "Done->" + END} <= titles


def test_svg_is_byte_stable_and_carries_its_source_digest(definition: dict[str, Any]) -> None:
    graph = workflow_graph(definition)
    first, second = render(graph, "svg"), render(workflow_graph(definition), "svg")
    assert first == second
    assert svg_source_digest(first.decode()) == source_digest(graph)


def test_committed_image_is_current(definition: dict[str, Any]) -> None:
    """docs/run_workflow.svg (shown in the README) was drawn from today's ASL and graph code."""
    committed = svg_source_digest(COMMITTED.read_text())
    assert committed == source_digest(workflow_graph(definition)), (
        f"{COMMITTED.relative_to(REPO_ROOT)} is stale: run `make graph` and commit it"
    )


def test_a_changed_definition_no_longer_matches_the_committed_image(
    definition: dict[str, Any],
) -> None:
    changed = copy.deepcopy(definition)
    changed["States"]["StartRun"]["Catch"] = []
    committed = svg_source_digest(COMMITTED.read_text())
    assert committed != source_digest(workflow_graph(changed))


def test_cli_writes_svg_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "-o", str(tmp_path / "wf.svg")]) == 0
    assert main(["graph", "--format", "png", "-o", str(tmp_path / "wf.png")]) == 0
    assert (tmp_path / "wf.svg").read_bytes() == render(workflow_graph(load_definition()), "svg")
    assert (tmp_path / "wf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_missing_graphviz_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    assert main(["graph", "-o", str(tmp_path / "wf.svg")]) == 2
    assert "install Graphviz: make system-deps" in capsys.readouterr().err
    assert not (tmp_path / "wf.svg").exists()
