"""runledger_local.local_paths: a request's relative local input made absolute, and
nothing else changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runledger.dynamo import to_dynamodb_json
from runledger.validation import validate_request
from runledger_local.local_paths import localize_request

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "requests" / "kmer-valid-local.json"


@pytest.mark.usefixtures("local_paths")
def test_an_empty_input_uri_stays_empty_and_the_request_is_invalid(tmp_path: Path) -> None:
    """Found by the fuzz tier: runledger local run made "" the current folder, so the
    request was valid, its jobs read a folder and the run ended FAILED, not INVALID."""
    item = json.loads(SAMPLE.read_text())
    item["input"]["uri"] = ""

    localized = localize_request(item, tmp_path)
    result = validate_request(localized["pk"], to_dynamodb_json(localized))

    assert localized["input"]["uri"] == ""
    assert result.valid is False
    assert (result.reason or "").startswith("input.uri: ")


def test_a_relative_path_is_made_absolute_against_the_base(tmp_path: Path) -> None:
    item = localize_request({"input": {"uri": "data/x.fastq"}}, tmp_path)

    assert item["input"]["uri"] == str(tmp_path / "data" / "x.fastq")
