"""The test suite's shared local clouds: who may ask for one, and the order files go out."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from shared_clouds import REPO_ROOT, SLOW_FIRST, SharedCloud, slow_first


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
