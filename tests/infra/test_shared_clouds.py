"""The test suite's shared local clouds: who may ask for one, and the order files go out."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from shared_clouds import (
    REPO_ROOT,
    SLOW_FIRST,
    WAITING,
    GroupedFileScheduling,
    SharedCloud,
    slow_first,
)


def item(path: str, *fixtures: str, **params: Any) -> Any:
    callspec = SimpleNamespace(params=params) if params else None
    return SimpleNamespace(path=REPO_ROOT / path, fixturenames=list(fixtures), callspec=callspec)


def test_a_file_asking_for_a_shared_cloud_it_is_not_listed_for_is_refused() -> None:
    shared = SharedCloud("pipeline", start=lambda: None, files=["tests/local/test_a.py"])  # type: ignore[arg-type, return-value]
    shared.check([item("tests/local/test_a.py", "pipeline")])  # listed: fine
    shared.check([item("tests/unit/test_b.py", "pipeline", pipeline="a parameter")])  # a param
    with pytest.raises(pytest.UsageError, match=r"tests/unit/test_c\.py ask for the shared"):
        shared.check([item("tests/unit/test_c.py", "tmp_path", "pipeline")])


def test_the_slowest_files_and_their_cloud_partners_go_first_in_order() -> None:
    pipeline = "tests/local/test_pipeline.py"
    slower, slowest = SLOW_FIRST[SLOW_FIRST.index(pipeline) + 1], SLOW_FIRST[0]
    items = [item("tests/unit/test_x.py"), item("tests/report/test_report_local.py"),
             item(slower), item(pipeline), item(slowest), item("tests/unit/test_y.py")]  # fmt: skip
    slow_first(items)
    order = [str(i.path.relative_to(REPO_ROOT)) for i in items]
    # test_report_local shares test_pipeline's cloud, so it goes out with it (one unit).
    assert order[0] == slowest
    assert set(order[1:3]) == {pipeline, "tests/report/test_report_local.py"}
    assert order[3:] == [slower, "tests/unit/test_x.py", "tests/unit/test_y.py"]


class FakeNode:
    """What the scheduler asks of a worker: take tests by index, shut down."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def test_every_waiting_file_exists() -> None:
    assert WAITING
    assert all((REPO_ROOT / name).is_file() for name in WAITING), sorted(WAITING)


def test_no_two_workers_hold_waiting_files_while_other_files_are_left() -> None:
    waiting = sorted(WAITING)[:4]
    others = [f"tests/unit/test_other_{n}.py" for n in range(8)]
    # The waiting files first, as collection order would send them to three workers at once.
    collection = [f"{file}::test_{n}" for file in waiting + others for n in range(3)]
    config = SimpleNamespace(
        getvalue={"tx": ["3*popen"]}.__getitem__, option=SimpleNamespace(loadscopereorder=False)
    )
    scheduler = GroupedFileScheduling(config)  # type: ignore[arg-type]
    nodes = [FakeNode(f"gw{n}") for n in range(3)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
        scheduler.add_node_collection(node, collection)  # type: ignore[arg-type]
    scheduler.schedule()

    def holding_waiting_files() -> list[FakeNode]:
        return [
            node
            for node, work in scheduler.assigned_work.items()
            if any(scope in WAITING and not all(unit.values()) for scope, unit in work.items())
        ]

    done: list[int] = []
    while len(done) < len(collection):
        if any(scope not in WAITING for scope in scheduler.workqueue):
            assert len(holding_waiting_files()) <= 1
        node = next(n for n in nodes if [i for i in n.sent if i not in done])
        index = next(i for i in node.sent if i not in done)
        done.append(index)
        scheduler.mark_test_complete(node, index)  # type: ignore[arg-type]
        nodes.append(nodes.pop(0))  # the workers finish tests in turn
    assert sorted(i for node in nodes for i in node.sent) == list(range(len(collection)))
    first_waiting = min(collection.index(f"{file}::test_0") for file in waiting)
    assert any(node.sent[0] == first_waiting for node in nodes)  # a waiting file starts at once
