"""The json_copies patch, proved through boto3 against moto."""

from __future__ import annotations

from typing import Any

import pytest

from runledger_local.patches import AdaptationBrokenError, local_aws
from runledger_local.patches.speed import json_copies


# ------------------------------------------------------------------------- json_copies
def test_json_copies_copy_json_trees_independently_and_leave_the_rest_to_deepcopy() -> None:
    import datetime as dt

    from moto.stepfunctions.parser.api import HistoryEventType

    class Tagged(dict[str, Any]):
        pass

    moment = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    tagged = Tagged(k=[1])
    value = {
        "a": [1, 2.5, {"b": "x", "c": None, "d": True}],
        "when": moment,
        "type": HistoryEventType.TaskStateEntered,
        "tagged": tagged,
    }

    copied = json_copies.json_copy(value)
    copied["a"][2]["b"] = "changed"
    copied["a"].append(3)
    copied["tagged"]["k"].append(2)

    assert value["a"] == [1, 2.5, {"b": "x", "c": None, "d": True}]
    assert copied["when"] == moment
    assert copied["type"] is HistoryEventType.TaskStateEntered
    assert type(copied["tagged"]) is Tagged
    assert tagged == {"k": [1]}


def test_json_copies_fail_loudly_when_an_engine_module_stops_importing_copy(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.eval import states

    monkeypatch.setattr(states, "copy", object())

    with pytest.raises(AdaptationBrokenError, match="'json_copies'"), local_aws():
        pass
