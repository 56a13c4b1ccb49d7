"""Speed (memory): what moto keeps for the life of the process is let go.

moto appends every execution's, Map iteration's and ``.sync`` task's thread to
``TMP_THREADS`` and never reads or empties it (LocalStack joins them at shutdown): about
30 Thread objects a run. Finished ones are dropped at every start and at the end. Two
method caches (functools on methods) hold their instances: through them a reset cloud's
EC2 backend (1,300 AMIs with snapshots and volumes) outlives the reset; they are cleared
at the end.

Measured 2026-12-04, bench/bench_speed.py --mechanism leaks --rounds 5 --runs 40 --waves 4
(40 runs written in 4 waves, each once the last was final, as ``serve`` receives them):
with it off the engine's peak RSS is 1.10x (median of 5 alternated pairs, range
1.06-1.10x; 242 -> 266 MB, growing with the runs), moto holds 1,200 threads instead of
~280 and the collector tracks 15,000 more objects; CPU and wall the same (0.98x,
0.86-1.06x; 1.00x). The reset cloud's EC2 backend it frees shows only in ``serve``
sessions that reset, which the bench does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

from runledger_local.patches import start_execution
from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "leaks"
_TMP_THREADS: Final = Seam(NAME, "moto.stepfunctions.parser.utils", "TMP_THREADS")
_METHOD_CACHES: Final = (
    Seam(NAME, "moto.core.base_backend", "AccountSpecificBackend._generate_regions"),
    Seam(NAME, "moto.ec2.models.subnets", "Subnet._base_avail_ip_iterator"),
)
SEAMS: Final[tuple[Seam, ...]] = (_TMP_THREADS, *_METHOD_CACHES, *start_execution.SEAMS)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    threads = _TMP_THREADS.value
    if not isinstance(threads, list):
        raise AdaptationBrokenError(NAME, "moto.stepfunctions.parser.utils.TMP_THREADS is gone")
    method_caches = [seam.value for seam in _METHOD_CACHES]
    for cached in method_caches:
        if not callable(getattr(cached, "cache_clear", None)):
            raise AdaptationBrokenError(NAME, f"{cached.__qualname__} is no longer cached")

    def forget_finished() -> None:
        threads[:] = [thread for thread in threads if thread.is_alive()]

    @contextlib.contextmanager
    def at_start(
        backend: Any, request: start_execution.StartRequest
    ) -> Iterator[start_execution.StartRequest]:
        del backend
        forget_finished()
        yield request

    with start_execution.hooked(at_start):
        try:
            yield
        finally:
            forget_finished()
            for cached in method_caches:
                cached.cache_clear()
