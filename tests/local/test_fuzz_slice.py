"""The slice of the fuzz tier in make test (make test-fuzz runs the whole tier): one batch
of generated hostile items (tests/hostile_items.py) through the shared local cloud, with a
valid control, and a few request files through ``runledger local run`` in this process,
each checked as the tier checks them (tests/fuzz_checks.py)."""

from __future__ import annotations

import pytest
from fuzz_checks import cli_hostile, table_batch
from hostile_items import PROFILE, Hostile, drawn, file_items, file_stems, table_items
from hypothesis import given, settings
from hypothesis import strategies as st

from runledger_local.cloud import LocalPipeline


def test_hostile_items_written_to_the_table_come_to_their_kind(pipeline: LocalPipeline) -> None:
    # The second example: the first is the simplest (the same change in every item).
    batch = drawn(st.lists(table_items(), min_size=8, max_size=8), 2)[-1]

    assert table_batch(pipeline, batch).problems == []


@settings(PROFILE, max_examples=15)
@given(hostile=file_items(), stem=file_stems)
def test_hostile_request_files_are_refused_in_one_line_or_admitted(
    tmp_path_factory: pytest.TempPathFactory, hostile: Hostile, stem: str
) -> None:
    assert cli_hostile(tmp_path_factory.mktemp("slice"), hostile, stem).problems == []
