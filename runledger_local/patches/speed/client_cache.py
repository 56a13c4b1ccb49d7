"""Speed: the ASL engine reuses one boto3 client per (service, region, endpoint).

moto's engine builds a client for every task it runs. moto ignores the state's
credentials (fixed fake keys), so they are not part of the key.

Measured 2026-12-04, bench/bench_speed.py --mechanism client_cache --rounds 5 --runs 30:
engine CPU 1.48x with it off (median of 5 alternated pairs, range 1.42-1.56x), wall
1.37x (1.34-1.55x), peak RSS 1.02x.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "client_cache"


_BOTO_CLIENT_MODULE: Final[str] = "moto.stepfunctions.parser.asl.utils.boto_client"
_BOTO_CLIENT_USERS: Final[tuple[str, ...]] = tuple(
    "moto.stepfunctions.parser.asl.component.state." + suffix
    for suffix in (
        "exec.state_task.lambda_eval_utils",
        "exec.state_task.service.state_task_service_aws_sdk",
        "exec.state_task.service.state_task_service_batch",
        "exec.state_task.service.state_task_service_dynamodb",
        "exec.state_task.service.state_task_service_ecs",
        "exec.state_task.service.state_task_service_events",
        "exec.state_task.service.state_task_service_glue",
        "exec.state_task.service.state_task_service_sfn",
        "exec.state_task.service.state_task_service_sns",
        "exec.state_task.service.state_task_service_sqs",
        "exec.state_task.service.state_task_service_unsupported",
        "exec.state_map.item_reader.eval.resource_eval_s3",
        "exec.state_map.result_writer.resource_eval.resource_eval_s3",
    )
)


_BOTO_CLIENT_FOR: Final = Seam(
    NAME, _BOTO_CLIENT_MODULE, "boto_client_for", ("region", "service", "state_credentials")
)
_BOTOCORE_STUBBER: Final = Seam(NAME, "moto.core.models", "botocore_stubber")
_MOTO_SERVER_PORT: Final = Seam(NAME, "moto.settings", "moto_server_port")
#: Every module of the engine that imports ``boto_client_for`` (and its own).
_USERS: Final = tuple(
    Seam(NAME, module, "boto_client_for") for module in (_BOTO_CLIENT_MODULE, *_BOTO_CLIENT_USERS)
)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    _, _, original = _BOTO_CLIENT_FOR.resolve()
    _, _, stubber = _BOTOCORE_STUBBER.resolve()
    _, _, server_port = _MOTO_SERVER_PORT.resolve()
    cache: dict[tuple[str, str, str | None], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto ignores state_credentials (fixed fake keys), so it is not part of the key.
        endpoint = None if stubber.enabled else f"http://localhost:{server_port()}"
        key = (service, region, endpoint)
        client = cache.get(key)
        if client is None:
            with lock:
                client = cache.get(key)
                if client is None:
                    client = original(region, service, state_credentials)
                    cache[key] = client
        return client

    # Import every user before patching: a module imported while the patch is on would
    # keep the cached function after the undo.
    modules = [seam.resolve()[0] for seam in _USERS]
    for module in modules:
        if getattr(module, "boto_client_for", None) is not original:
            raise AdaptationBrokenError(NAME, f"{module.__name__} no longer uses boto_client_for")
    with contextlib.ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, "boto_client_for", boto_client_for))
        try:
            yield
        finally:
            cache.clear()


SEAMS: Final[tuple[Seam, ...]] = (
    *_USERS,
    _BOTO_CLIENT_FOR,
    _BOTOCORE_STUBBER,
    _MOTO_SERVER_PORT,
)
