"""Speed: moto's server finds a request's handler once per key, not at every request.

- A request's service is looked up once per host: moto tries every service's URL regex
  for every request, under its dispatch lock, though the answer depends on the host alone.
- A REST service's operation router (a werkzeug Map of every operation, ~75 ms to build)
  is built once, not by every request that arrives before the first build ends (runs
  started together all built it).
- A response class's method names (``inspect.getmembers``, ~0.3 ms) are listed once.

Measured 2026-12-04, bench/bench_speed.py --mechanism server_dispatch --rounds 5 --runs 30:
engine CPU 1.15x with it off (median of 5 alternated pairs, range 1.11-1.28x), wall
1.06x (1.06-1.24x), pipeline start 1.06x, peak RSS 0.99x.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import OncePerKey, Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "server_dispatch"
_GET_BACKEND_FOR_HOST: Final = Seam(
    NAME,
    "moto.moto_server.werkzeug_app",
    "DomainDispatcherApplication.get_backend_for_host",
    ("self", "host"),
)
_GET_SERVICE_ROUTER: Final = Seam(
    NAME, "moto.core.responses", "get_service_router", ("service_name",)
)
_GET_ROUTER: Final = Seam(
    NAME, "moto.core.routing", "ServiceOperationRouter._get_router", ("self", "protocol")
)
_METHOD_NAMES_FROM_CLASS: Final = Seam(
    NAME, "moto.core.responses", "method_names_from_class", ("clazz",)
)
SEAMS: Final[tuple[Seam, ...]] = (
    _GET_BACKEND_FOR_HOST,
    _GET_SERVICE_ROUTER,
    _GET_ROUTER,
    _METHOD_NAMES_FROM_CLASS,
)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    dispatcher, lookup_attr, original_lookup = _GET_BACKEND_FOR_HOST.resolve()
    responses_module, _, service_router = _GET_SERVICE_ROUTER.resolve()
    router_class, _, get_router = _GET_ROUTER.resolve()
    method_names = _METHOD_NAMES_FROM_CLASS.value
    backends_by_host: dict[str | None, Any] = {}
    routers = OncePerKey(service_router, maxsize=64)
    protocol_routers = OncePerKey(get_router, maxsize=256)
    names_by_class = OncePerKey(lambda clazz: tuple(method_names(clazz)), maxsize=256)

    def get_protocol_router(self: Any, protocol: str) -> Any:
        return protocol_routers(self, protocol)

    def method_names_once(clazz: object) -> list[str]:
        return list(names_by_class(clazz))

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        # Called with moto's dispatch lock held.
        if host not in backends_by_host:
            backends_by_host[host] = original_lookup(self, host)
        return backends_by_host[host]

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(dispatcher, lookup_attr, get_backend_for_host))
        stack.enter_context(mock.patch.object(responses_module, "get_service_router", routers))
        stack.enter_context(mock.patch.object(router_class, "_get_router", get_protocol_router))
        stack.enter_context(
            mock.patch.object(responses_module, "method_names_from_class", method_names_once)
        )
        yield
