"""The patches that let moto run the whole runledger pipeline offline, grouped by why.

moto (pinned in constraints.txt) emulates DynamoDB, Step Functions (with execution), Batch
and Lambda, but leaves holes that stop the pipeline. Each patch is one module with
``NAME``, ``SEAMS`` (the moto internals it needs, as data: ``_seams.Seam``) and
``apply(cloud)``, a context manager that patches on entry and undoes on exit:

``fixes/``     moto bugs; each module says what AWS does, and is deleted when moto does it.
``features/``  what moto lacks: Lambda handlers in-process and Batch jobs as local
               processes (sibling backends, as moto's own ``*_simple`` ones), ``.sync``,
               integrations' parameters in each API's shape, JSONata and its errors,
               StartSyncExecution, Step Functions Local's mock config, scaled retries,
               faults injected into one run's Task states, a Distributed Map's
               ItemBatcher and its iterations as child executions.
``speed/``     performance only: with ``speed=False`` (or ``RUNLEDGER_LOCAL_SPEED=0``) none
               of them is applied and the answers are the same (tests/local/
               test_speed_switch.py runs the pipeline both ways and compares).

Every speed mechanism together (these patches and the speed paths elsewhere that
``speed=False`` turns off: the job fork server, the frozen heap, the template read
ahead, the JSONata cache), measured 2026-12-04, bench/bench_speed.py --mechanism speed
--rounds 5 --runs 30: with speed off, engine CPU 7.8x (median of 5 alternated pairs,
range 7.1-11.0x; 5.0 -> 45 CPU-s), jobs' CPU 13.7x (12.0-16.4x), wall 8.1x (7.2-10.7x),
the engine's peak RSS 1.71x (245 -> 419 MB), the pipeline's start 1.49x. Each
mechanism's own figure is in its docstring.

``python -m runledger_local.patches --check`` resolves every seam without patching
anything: the first thing to run after a moto upgrade. A patch whose seam moved raises
``AdaptationBrokenError`` naming it, before anything is patched.

In-process::

    with mock_aws(), local_aws() as cloud:
        cloud.register_function("validate-request", code_dir=Path("functions/validate"))

Server mode (``runledger_local.server.moto_server``): pass its URL, so the engine reaches its
own services (``MOTO_PORT``) and handlers and jobs reach moto (``AWS_ENDPOINT_URL``)::

    with moto_server() as url, local_aws(endpoint_url=url) as cloud:
        ...

Only one ``local_aws`` may be active per process (the patches are process-wide).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Final

from runledger_local.patches import start_execution
from runledger_local.patches._seams import AdaptationBrokenError, Seam, check_all
from runledger_local.patches.features import (
    batch_sync,
    distributed_map,
    item_batcher,
    jsonata,
    jsonata_errors,
    lambda_invoke,
    mock_config,
    moto_config,
    retry_sleep,
    service_shapes,
    start_sync_execution,
    task_faults,
)
from runledger_local.patches.features.mock_config import MockConfigError
from runledger_local.patches.fixes import (
    assign_literals,
    assign_order,
    assigned_variables,
    aws_sdk_errors,
    batch_platforms,
    batch_task_errors,
    branch_aborts,
    branch_states_errors,
    context_redrive_count,
    context_timestamps,
    describe_execution_output,
    dynamodb_atomic,
    dynamodb_consumed_capacity,
    dynamodb_task_errors,
    dynamodb_validation,
    endpoint_mode,
    execution_end,
    execution_input_size,
    execution_names,
    intrinsic_escapes,
    parser_error_codes,
    s3_sdk_objects,
    secret_names,
    sqs_queue_urls,
    stop_execution,
)
from runledger_local.patches.speed import (
    asl_parse_cache,
    batch_sync_wake,
    client_cache,
    dynamodb_items,
    json_copies,
    lambda_direct,
    leaks,
    loopback,
    query_partition,
    server_dispatch,
    shared_models,
    wire_json,
)
from runledger_local.runtime.lambdas import LambdaSpec, LocalLambdaContext, environ
from runledger_local.runtime.local_cloud import LocalCloud
from runledger_local.speed_switch import speed_from_env

__all__ = [
    "ADAPTATIONS",
    "SPEED",
    "AdaptationBrokenError",
    "LambdaSpec",
    "LocalCloud",
    "LocalLambdaContext",
    "MockConfigError",
    "all_seams",
    "local_aws",
    "speed_from_env",
]

#: Every patch, in the order applied (the environment first, clients before their users).
_ORDER: Final[tuple[ModuleType, ...]] = (
    endpoint_mode,
    shared_models,
    client_cache,
    execution_names,
    context_redrive_count,
    context_timestamps,
    execution_input_size,
    lambda_invoke,
    lambda_direct,
    service_shapes,
    batch_sync,
    batch_sync_wake,
    jsonata,
    jsonata_errors,
    retry_sleep,
    mock_config,
    start_sync_execution,
    asl_parse_cache,
    item_batcher,  # after asl_parse_cache: it wraps the (cached) parse
    server_dispatch,
    wire_json,
    dynamodb_items,
    query_partition,
    leaks,
    loopback,
    json_copies,
    dynamodb_validation,
    dynamodb_atomic,
    stop_execution,
    aws_sdk_errors,
    s3_sdk_objects,
    dynamodb_task_errors,
    batch_task_errors,
    batch_platforms,
    task_faults,
    dynamodb_consumed_capacity,
    sqs_queue_urls,
    secret_names,
    assign_literals,
    assign_order,
    assigned_variables,
    intrinsic_escapes,
    parser_error_codes,
    describe_execution_output,
    distributed_map,  # after describe_execution_output (wraps its answer), before
    # execution_end (whose DescribeExecution wait then covers a child's status too)
    branch_states_errors,
    branch_aborts,
    execution_end,
)
PATCHES: Final[dict[str, ModuleType]] = {module.NAME: module for module in _ORDER}
ADAPTATIONS: Final[tuple[str, ...]] = tuple(PATCHES)
#: The patches that exist for speed (and memory) alone: ``speed=False`` leaves them out.
SPEED: Final[frozenset[str]] = frozenset(
    module.NAME for module in _ORDER if module.__name__.startswith(f"{__name__}.speed.")
)
_ACTIVE = threading.Lock()


def all_seams() -> tuple[Seam, ...]:
    """Every seam every patch (and the local server) declares."""
    from runledger_local import server

    return (
        *moto_config.SEAMS,
        *start_execution.SEAMS,
        *(seam for module in _ORDER for seam in module.SEAMS),
        *server.SEAMS,
    )


def check() -> list[AdaptationBrokenError]:
    """Resolve every seam without patching anything; the ones that failed."""
    return check_all(dict.fromkeys(all_seams()))


@contextlib.contextmanager
def local_aws(
    *,
    adapters: Iterable[str] = ADAPTATIONS,
    speed: bool | None = None,
    endpoint_url: str | None = None,
    batch_workdir: Path | None = None,
    batch_env: Mapping[str, str] | None = None,
    lambda_env: Mapping[str, str] | None = None,
    retry_sleep_scale: float = 0.0,
    mock_config_file: Path | None = None,
    configure_moto: bool = True,
) -> Iterator[LocalCloud]:
    """Apply the patches for the duration of the block; yield the ``LocalCloud``.

    In-process, enter it inside ``mock_aws()``. In server mode pass the server's
    ``endpoint_url``: ``MOTO_PORT`` is set from it for the ASL engine, and handlers and
    jobs get it as ``AWS_ENDPOINT_URL``. ``speed`` (default: ``RUNLEDGER_LOCAL_SPEED``)
    False leaves out every speed patch and the speed paths inside the others.
    ``configure_moto`` turns on moto's state machine execution and its Docker-less
    Lambda and Batch backends, which the patches build on. ``mock_config_file`` sets
    SFN_MOCK_CONFIG.
    """
    chosen = set(adapters)
    unknown = sorted(chosen - set(PATCHES))
    if unknown:
        raise ValueError(f"unknown adaptations {unknown}; known: {list(ADAPTATIONS)}")
    speed = speed_from_env() if speed is None else speed
    if not speed:
        chosen -= SPEED
    if not _ACTIVE.acquire(blocking=False):
        raise RuntimeError("local_aws() is already active in this process")
    try:
        cloud = LocalCloud(
            endpoint_url=endpoint_url,
            batch_workdir=batch_workdir,
            batch_env=batch_env,
            lambda_env=lambda_env,
            retry_sleep_scale=retry_sleep_scale,
            speed=speed,
        )
        with contextlib.ExitStack() as stack:
            env: dict[str, str] = {}
            if endpoint_url:
                port = endpoint_url.rstrip("/").rsplit(":", 1)[-1]
                if port.isdigit():
                    env["MOTO_PORT"] = port
            if mock_config_file is not None:
                env["SFN_MOCK_CONFIG"] = str(mock_config_file)
            stack.enter_context(environ(env))
            if configure_moto:
                stack.enter_context(moto_config.apply())
            for module in _ORDER:
                if module.NAME in chosen:
                    stack.enter_context(module.apply(cloud))
            yield cloud
    finally:
        _ACTIVE.release()
