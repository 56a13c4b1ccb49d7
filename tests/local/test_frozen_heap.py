"""frozen_heap: the objects alive when a pipeline starts stay out of full collections."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from runledger_local.cloud import frozen_heap


@pytest.fixture
def nothing_frozen() -> Iterator[None]:
    """A heap no one has frozen; a pipeline a fixture keeps open gets its freeze back."""
    frozen_before = gc.get_freeze_count()
    gc.unfreeze()
    yield
    if frozen_before:
        gc.freeze()


def test_frozen_heap_freezes_what_exists_and_hands_it_back_at_exit(nothing_frozen: None) -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        frozen = gc.get_freeze_count()
        made_inside = [[] for _ in range(1000)]
        still_frozen = gc.get_freeze_count()
    assert frozen > 1000  # every object tracked at entry
    # Objects made later are not frozen (the count may fall: a thread an earlier test left
    # may free frozen objects meanwhile, but 1000 new ones would make it rise).
    assert frozen - 100 < still_frozen <= frozen
    assert all(gc.is_tracked(item) for item in made_inside)
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_already_is_left_to_whoever_froze_it(nothing_frozen: None) -> None:
    gc.freeze()
    try:
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0  # not handed back by frozen_heap
    finally:
        gc.unfreeze()
