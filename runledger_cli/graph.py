"""Draw a state machine (ASL) as a graph, as the Step Functions console does.

States are nodes labelled with their name and type (and, for tasks, the integration they
call); ``Next`` and Choice rules (``Default`` included) are solid edges, ``Catch`` edges are
dashed and labelled with the errors they catch; Map (``ItemProcessor``/``Iterator``) and
Parallel (``Branches``) states are clusters holding their inner states; Start and End
markers close the flow. Layout and rendering are Graphviz's (the ``dot`` program, from the
Debian package ``graphviz``; ``make system-deps`` installs it).

``workflow_graph(definition)`` gives the plain graph (``runledger graph``); given a
``NodeStatus`` per state it colours each state by what happened in one execution
(``runledger report``). No state machine in the tree is restated here: the definition is
read from the file template.yaml's state machine names.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runledger_cli.sam_template import REPO_ROOT, TEMPLATE_PATH

Format = Literal["svg", "png", "dot"]
Status = Literal["succeeded", "failed", "caught", "retried", "running", "not-entered"]

INSTALL_HINT = "install Graphviz: make system-deps (Debian package graphviz)"
FONT = "Arial"  # fonts-liberation (make system-deps) gives dot Arial's metrics
START, END = "__start__", "__end__"
# The mark that ties a committed SVG to the DOT source it was drawn from.
SOURCE_MARK = "runledger-graph-source-sha256"


@dataclass(frozen=True)
class StatusStyle:
    """How one status looks: node fill and border, and its name in the legend."""

    fill: str
    border: str
    legend: str
    tint: str  # a Map or Parallel box's fill: lighter, so its inner states stand out


STATUS_STYLES: dict[Status, StatusStyle] = {
    "succeeded": StatusStyle("#d7f0d8", "#2e7d32", "succeeded", "#f3faf3"),
    "failed": StatusStyle("#f9d0cf", "#c62828", "failed", "#fdf1f1"),
    "caught": StatusStyle("#ffe0b2", "#e65100", "caught (error handled by a Catch)", "#fff6ea"),
    "retried": StatusStyle("#fff4b3", "#a07800", "retried (then succeeded)", "#fffbe6"),
    "running": StatusStyle("#d4e6fb", "#1565c0", "in progress", "#f1f7fe"),
    "not-entered": StatusStyle("#ffffff", "#a0a0a0", "not entered", "#ffffff"),
}
# Plain graph: a quiet fill per state type.
TYPE_FILLS = {
    "Task": "#eef3fb",
    "Choice": "#fdf6e3",
    "Succeed": "#e8f5e9",
    "Fail": "#fdecea",
    "Pass": "#f5f5f5",
    "Wait": "#f5f5f5",
}
CATCH_COLOUR = "#c0504d"


@dataclass(frozen=True)
class NodeStatus:
    """What happened to one state in one execution: its status and a short note."""

    status: Status
    note: str = ""


class GraphvizMissingError(RuntimeError):
    """Graphviz's ``dot`` program is not installed."""


def workflow_definition_path(template: Path = TEMPLATE_PATH) -> Path:
    """The ASL file of the template's (only) state machine, from its ``DefinitionUri``."""
    from runledger_cli.sam_template import load_sam_as_read, resources_of_type

    machines = resources_of_type(load_sam_as_read(template), "AWS::Serverless::StateMachine")
    if len(machines) != 1:
        raise ValueError(f"expected one state machine in {template}, found {sorted(machines)}")
    (machine,) = machines.values()
    return template.parent / str(machine["Properties"]["DefinitionUri"])


def load_definition(path: Path | None = None) -> dict[str, Any]:
    """The state machine definition (ASL JSON); default: the template's state machine."""
    definition: dict[str, Any] = json.loads((path or workflow_definition_path()).read_text())
    return definition


# --------------------------------------------------------------------------- structure
@dataclass
class _Scope:
    """One level of states: the machine, a Map's processor or a Parallel branch."""

    states: dict[str, Any]
    start: str
    cluster: str | None = None  # the Graphviz cluster holding this scope, if any
    children: dict[str, list[_Scope]] = field(default_factory=dict)  # state -> inner scopes


def _inner_scopes(name: str, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    if state.get("Type") == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        return [processor] if processor else []
    if state.get("Type") == "Parallel":
        return list(state.get("Branches", []))
    return []


def _scope(machine: Mapping[str, Any], cluster: str | None = None) -> _Scope:
    scope = _Scope(states=dict(machine["States"]), start=str(machine["StartAt"]), cluster=cluster)
    for name, state in scope.states.items():
        inner = _inner_scopes(name, state)
        if state.get("Type") == "Parallel":
            scope.children[name] = [
                _scope(branch, f"cluster_{name}_branch{i + 1}") for i, branch in enumerate(inner)
            ]
        elif inner:
            scope.children[name] = [_scope(inner[0], f"cluster_{name}")]
    return scope


def iter_states(definition: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of the definition, nested ones included, in definition order."""

    def walk(scope: _Scope) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, state in scope.states.items():
            yield name, state
            for child in scope.children.get(name, []):
                yield from walk(child)

    yield from walk(_scope(definition))


def _is_end(state: Mapping[str, Any]) -> bool:
    return bool(state.get("End")) or state.get("Type") in {"Succeed", "Fail"}


# --------------------------------------------------------------------------- labels
def integration(state: Mapping[str, Any]) -> str:
    """What a Task calls, short: ``lambda:invoke``, ``batch:submitJob.sync``, a function."""
    resource = str(state.get("Resource", ""))
    if ":::" in resource:  # arn:${Partition}:states:::service:api[.sync]
        return resource.split(":::", 1)[1]
    if ":function:" in resource:
        return "lambda " + resource.split(":function:", 1)[1]
    if ":activity:" in resource:
        return "activity " + resource.split(":activity:", 1)[1]
    return resource


def _type_line(state: Mapping[str, Any]) -> str:
    kind = str(state.get("Type", "?"))
    if kind == "Task" and integration(state):
        return f"{kind} · {integration(state)}"
    if kind == "Map":
        processor = state.get("ItemProcessor") or {}
        mode = processor.get("ProcessorConfig", {}).get("Mode", "INLINE")
        return f"Map · {str(mode).lower()}"
    if kind == "Parallel":
        return f"Parallel · {len(state.get('Branches', []))} branches"
    return kind


def _condition(rule: Mapping[str, Any]) -> str:
    text = str(rule.get("Condition") or _jsonpath_rule(rule))
    text = re.sub(r"^\{%\s*|\s*%\}$", "", text).replace("$states.input.", "")
    return text if len(text) <= 32 else text[:31] + "…"


def _jsonpath_rule(rule: Mapping[str, Any]) -> str:
    for op in ("And", "Or", "Not"):
        if op in rule:
            return op.lower() + "(…)"
    compare = next((k for k in rule if k not in {"Variable", "Next", "Comment"}), "")
    return f"{rule.get('Variable', '')} {compare} {json.dumps(rule.get(compare))}".strip()


def _label(name: str, state: Mapping[str, Any], note: str = "") -> str:
    rows = [
        f"<tr><td><b>{html.escape(name)}</b></td></tr>",
        f'<tr><td><font point-size="9" color="#555555">{html.escape(_type_line(state))}'
        "</font></td></tr>",
    ]
    if note:
        rows.append(f'<tr><td><font point-size="9">{html.escape(note)}</font></td></tr>')
    return (
        '<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">'
        + "".join(rows)
        + "</table>>"
    )


def node_id(name: str) -> str:
    """The SVG id of a state's node or cluster (``state-<name>``)."""
    return "state-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)


# --------------------------------------------------------------------------- graph
def workflow_graph(
    definition: Mapping[str, Any],
    statuses: Mapping[str, NodeStatus] | None = None,
    *,
    taken: Collection[tuple[str, str, str]] | None = None,
    title: str = "",
) -> Any:
    """The definition as a ``graphviz.Digraph``; states coloured by ``statuses`` if given.

    With ``statuses``, a state missing from it is drawn "not entered". ``taken`` holds the
    transitions an execution made, ``(from, to, "next" | "catch")`` (``START``/``END`` for
    the markers): those are drawn bold, the others faded.
    """
    import graphviz  # dev dependency, like the local cloud

    graph = graphviz.Digraph(name="workflow", format="svg")
    graph.attr(
        rankdir="TB",
        compound="true",
        newrank="true",
        nodesep="0.35",
        ranksep="0.45",
        fontname=FONT,
        fontsize="11",
        bgcolor="white",
        pad="0.2",
        label=html.escape(title),
        labelloc="t",
    )
    graph.attr("node", fontname=FONT, fontsize="11", shape="box", style="rounded,filled")
    graph.attr("edge", fontname=FONT, fontsize="8", color="#555555", arrowsize="0.7")
    drawing = _Drawing(graph, _scope(definition), statuses, taken)
    marker = {"shape": "box", "style": "rounded,filled", "fillcolor": "#37474f"}
    graph.node(START, "Start", fontcolor="white", id="start", **marker)
    drawing.draw_scope(graph, drawing.root)
    graph.node(END, "End", fontcolor="white", id="end", **marker)
    drawing.edge(drawing.root, START, drawing.root.start)
    drawing.transitions(drawing.root)
    return graph


@dataclass
class _Drawing:
    """One graph being drawn: the definition's scopes, and what happened in an execution."""

    graph: Any  # graphviz.Digraph
    root: _Scope
    statuses: Mapping[str, NodeStatus] | None
    taken: Collection[tuple[str, str, str]] | None

    # ------------------------------------------------------------------- nodes
    def style(self, name: str, state: Mapping[str, Any]) -> dict[str, str]:
        if self.statuses is None:
            fill = TYPE_FILLS.get(str(state.get("Type")), "#ffffff")
            return {"fillcolor": fill, "color": "#6b7a90", "class": "state"}
        found = self.statuses.get(name, NodeStatus("not-entered"))
        look = STATUS_STYLES[found.status]
        return {
            "fillcolor": look.fill,
            "tint": look.tint,
            "color": look.border,
            "penwidth": "1" if found.status == "not-entered" else "1.8",
            "class": f"state {found.status}",
            **({"style": "rounded,filled,dashed"} if found.status == "not-entered" else {}),
        }

    def note(self, name: str) -> str:
        return self.statuses[name].note if self.statuses and name in self.statuses else ""

    def draw_scope(self, sub: Any, scope: _Scope) -> None:
        for name, state in scope.states.items():
            if name in scope.children:
                self.draw_container(sub, scope, name, state)
            else:
                shape = {"Choice": "diamond", "Fail": "octagon"}.get(str(state.get("Type")), "box")
                look = self.style(name, state)
                look.pop("tint", None)
                sub.node(
                    name,
                    label=_label(name, state, self.note(name)),
                    shape=shape,
                    id=node_id(name),
                    tooltip=str(state.get("Comment", name)),
                    **look,
                )

    def draw_container(self, sub: Any, scope: _Scope, name: str, state: Mapping[str, Any]) -> None:
        """A Map or Parallel state: a cluster of its inner states (a sub-cluster per branch)."""
        look = self.style(name, state)
        with sub.subgraph(name=_cluster_of(name)) as cluster:
            cluster.attr(
                label=_label(name, state, self.note(name)),
                id=node_id(name),
                style="rounded,filled" + (",dashed" if "dashed" in look.get("style", "") else ""),
                fillcolor=look.get("tint", "#fafbfd"),
                color=look["color"],
                penwidth=look.get("penwidth", "1.2"),
                labeljust="l",
                margin="12",
                tooltip=str(state.get("Comment", name)),
                **{"class": look["class"]},
            )
            inner_scopes = scope.children[name]
            if len(inner_scopes) == 1:
                self.draw_scope(cluster, inner_scopes[0])
            else:
                for i, branch in enumerate(inner_scopes):
                    with cluster.subgraph(name=branch.cluster) as box:
                        box.attr(label=f"Branch {i + 1}", style="rounded,dashed", color="#9aa5b5")
                        self.draw_scope(box, branch)

    # ------------------------------------------------------------------- edges
    def transitions(self, scope: _Scope) -> None:
        """Every edge out of the scope's states (and their inner states), in order."""
        for name, state in scope.states.items():
            _EDGE_BUILDERS.get(str(state.get("Type")), _state_edges)(self, scope, name, state)

    def edge(self, scope: _Scope, src: str, dst: str, **attrs: str) -> None:
        """An edge from state ``src`` to ``dst`` (or the markers): from a container's last
        inner state and into its first one, styled by whether the execution took it."""
        if self.taken is not None:
            kind = "catch" if attrs.get("class") == "catch" else "next"
            if (src, dst, kind) in self.taken:
                attrs.update(penwidth="2.2", color=CATCH_COLOUR if kind == "catch" else "#222222")
                attrs["class"] = attrs.get("class", "next") + " taken"
            else:
                attrs.update(color="#e3b5b4" if kind == "catch" else "#b9c0ca")
                attrs["fontcolor"] = attrs["color"]
        tail, ltail = _exit(scope, src) if src != START else (START, None)
        head, lhead = _entry(scope, dst) if dst != END else (END, None)
        if ltail:
            attrs["ltail"] = ltail
        if lhead:
            attrs["lhead"] = lhead
        self.graph.edge(tail, head, **attrs)


def _cluster_of(name: str) -> str:
    """A Map's or Parallel's own cluster (a Parallel's holds one sub-cluster per branch)."""
    return f"cluster_{name}"


def _entry(scope: _Scope, name: str) -> tuple[str, str | None]:
    """Node an edge into state ``name`` points at, and the cluster it enters."""
    if name in scope.children:
        inner = scope.children[name][0]
        return _entry(inner, inner.start)[0], _cluster_of(name)
    return name, None


def _exit(scope: _Scope, name: str) -> tuple[str, str | None]:
    """Node an edge out of state ``name`` starts from, and the cluster it leaves."""
    if name in scope.children:
        inner = scope.children[name][0]
        last = next((n for n, s in inner.states.items() if _is_end(s)), inner.start)
        return _exit(inner, last)[0], _cluster_of(name)
    return name, None


# ------------------------------------------------------------------- edge builders
# One per state type, as ASL defines what each may lead to; every type ends with what
# any state may have (Next, Catch, and the End marker for a final state of the machine).
EdgeBuilder = Callable[[_Drawing, _Scope, str, Mapping[str, Any]], None]


def _state_edges(drawing: _Drawing, scope: _Scope, name: str, state: Mapping[str, Any]) -> None:
    """Task, Pass, Wait, Succeed, Fail: ``Next``, each ``Catch`` (dashed), the End marker."""
    if "Next" in state:
        drawing.edge(scope, name, state["Next"])
    for catcher in state.get("Catch", []):
        errors = ", ".join(catcher.get("ErrorEquals", []))
        drawing.edge(
            scope,
            name,
            catcher["Next"],
            style="dashed",
            color=CATCH_COLOUR,
            fontcolor=CATCH_COLOUR,
            label=html.escape(errors),
            **{"class": "catch"},
        )
    if scope is drawing.root and _is_end(state):
        drawing.edge(scope, name, END, **{"class": "end"})


def _choice_edges(drawing: _Drawing, scope: _Scope, name: str, state: Mapping[str, Any]) -> None:
    """Choice: an edge per rule, labelled with its condition, and ``Default``."""
    for rule in state.get("Choices", []):
        drawing.edge(scope, name, rule["Next"], label=html.escape(_condition(rule)))
    if "Default" in state:
        drawing.edge(scope, name, state["Default"], label="Default")
    _state_edges(drawing, scope, name, state)


def _container_edges(drawing: _Drawing, scope: _Scope, name: str, state: Mapping[str, Any]) -> None:
    """Map and Parallel: the edges inside each processor or branch, then their own."""
    for child in scope.children.get(name, []):
        drawing.transitions(child)
    _state_edges(drawing, scope, name, state)


_EDGE_BUILDERS: dict[str, EdgeBuilder] = {
    "Choice": _choice_edges,
    "Map": _container_edges,
    "Parallel": _container_edges,
}


# --------------------------------------------------------------------------- output
def dot_program() -> str:
    """The path of Graphviz's ``dot``, or a clear error telling how to install it."""
    found = shutil.which("dot")
    if not found:
        raise GraphvizMissingError(f"Graphviz's dot program is not on PATH: {INSTALL_HINT}")
    return found


def source_digest(graph: Any) -> str:
    """sha256 of the graph's DOT source: what a committed image is checked against."""
    return hashlib.sha256(str(graph.source).encode()).hexdigest()


def render(graph: Any, fmt: Format = "svg") -> bytes:
    """The graph drawn by ``dot`` as SVG or PNG bytes (or its DOT source, ``fmt="dot"``).

    An SVG carries the sha256 of its DOT source in a comment, so a test can tell a
    committed image from a stale one without depending on Graphviz's version or fonts.
    """
    if fmt == "dot":
        return str(graph.source).encode()
    dot_program()
    import graphviz

    try:
        data: bytes = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:  # raced with an uninstall, or PATH oddities
        raise GraphvizMissingError(f"{exc}: {INSTALL_HINT}") from exc
    if fmt == "svg":
        mark = f"<!-- {SOURCE_MARK}: {source_digest(graph)} -->\n".encode()
        head, sep, rest = data.partition(b"<svg")
        data = head + mark + sep + rest
    return data


def svg_source_digest(svg: str) -> str | None:
    """The DOT source digest an SVG made by ``render`` carries, if any."""
    found = re.search(SOURCE_MARK + r": ([0-9a-f]{64})", svg)
    return found.group(1) if found else None


def default_output(fmt: Format) -> Path:
    """Where ``runledger graph`` writes by default: docs/run_workflow.<fmt>."""
    return REPO_ROOT / "docs" / f"{workflow_definition_path().stem.removesuffix('.asl')}.{fmt}"
