"""What `make bench` keeps: one JSON line per run, with when, what and the figures."""

from __future__ import annotations

import datetime as dt
import json
from types import ModuleType


def test_a_bench_run_is_one_json_line_with_its_medians_and_peak(bench: ModuleType) -> None:
    results = [
        {"wall_s": 12.0, "cpu_s": 10.0, "jobs_cpu_s": 9.0, "gc_s": 0.1, "peak_mb": 380.0,
         "speed_check_s": 0.2},
        {"wall_s": 14.0, "cpu_s": 11.0, "jobs_cpu_s": 9.5, "gc_s": 0.2, "peak_mb": 401.5,
         "speed_check_s": 0.3},
        {"wall_s": 13.0, "cpu_s": 12.0, "jobs_cpu_s": 8.0, "gc_s": 0.3, "peak_mb": 390.0,
         "speed_check_s": 0.25},
    ]  # fmt: skip
    when = dt.datetime(2026, 12, 4, 20, 0, tzinfo=dt.UTC)
    record = bench.result_record(results, 100, when, "abc1234")
    line = json.dumps(record, sort_keys=True)
    assert "\n" not in line
    back = json.loads(line)
    assert back["date"] == "2026-12-04T20:00:00+00:00"
    assert (back["commit"], back["runs"], back["repeats"]) == ("abc1234", 100, 3)
    assert back["median"]["wall_s"] == 13.0
    assert back["median"]["cpu_s"] == 11.0
    assert back["peak_mb_max"] == 401.5
    assert back["speed_check_s"] == [0.2, 0.3, 0.25]
    assert [each["wall_s"] for each in back["each"]] == [12.0, 14.0, 13.0]


def test_the_commit_names_a_dirty_tree(bench: ModuleType) -> None:
    commit = bench._commit()
    assert commit.split("+")[0] != "unknown"  # this is a git checkout
    assert commit.endswith("+dirty") or "+" not in commit
