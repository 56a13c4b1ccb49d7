"""route_output: a ThreadRoutedStream dropped from sys.stdout is never freed.

CPython 3.13.0-3.13.2's print() holds sys.stdout as a borrowed reference across its
writes (gh-130163): a handler thread printing while another thread replaced the wrapper
wrote through freed memory, and the garbage collector crashed on its frames later
(lambdas._WRAPPERS says more).
"""

from __future__ import annotations

import gc
import io
import sys
import weakref
from collections.abc import Callable, Iterator

import pytest

from runledger_local.runtime.lambdas import ThreadRoutedStream, route_output, routed_output


@pytest.fixture
def own_streams() -> Iterator[Callable[[], io.StringIO]]:
    """Call ``own_streams`` in the test itself: between a test's phases pytest's capture
    sets sys.stdout and sys.stderr again (to its own streams: dropping a wrapper)."""
    saved = sys.stdout, sys.stderr
    stdout = io.StringIO()

    def install() -> io.StringIO:
        sys.stdout, sys.stderr = stdout, io.StringIO()
        return stdout

    yield install
    sys.stdout, sys.stderr = saved


def test_a_wrapper_replaced_in_sys_stdout_stays_alive_and_is_routed_again(
    own_streams: Callable[[], io.StringIO],
) -> None:
    stdout = own_streams()
    route_output()
    assert isinstance(sys.stdout, ThreadRoutedStream)
    wrapper = weakref.ref(sys.stdout)
    sys.stdout = stdout  # as pytest's capture does between a test's phases
    gc.collect()
    assert wrapper() is not None  # a thread inside print() may still be writing to it
    route_output()
    assert sys.stdout is wrapper()  # the stream's one wrapper, not another each time


def test_a_wrapper_unwrapped_at_exit_stays_alive(own_streams: Callable[[], io.StringIO]) -> None:
    stdout = own_streams()
    with routed_output():
        wrapper = weakref.ref(sys.stdout)
        print("routed")
    assert sys.stdout is stdout
    gc.collect()
    assert wrapper() is not None
    assert stdout.getvalue() == "routed\n"
