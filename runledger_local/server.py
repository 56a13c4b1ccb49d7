"""``moto_server()``: a ThreadedMotoServer in this process, from an empty cloud."""

from __future__ import annotations

import contextlib
import logging
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import Seam

LOG = get_logger(__name__)

NAME: Final = "moto_server"


#: Seconds the local server waits for a connection before it looks for a stop request
#: again (werkzeug's default: 0.5 s, which every stop of the local cloud waited).
SERVER_POLL_SECONDS: Final[float] = 0.05


_BASE_WSGISERVER_SERVE_FOREVER: Final = Seam(
    NAME, "werkzeug.serving", "BaseWSGIServer.serve_forever", ("self", "poll_interval")
)


@contextlib.contextmanager
def moto_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """A ``ThreadedMotoServer`` in this process (port 0: a free one); yields its URL.

    moto's state is process-wide: the server starts from an empty cloud and leaves none
    behind (``/moto-api/reset`` on the way in and out), so a second server in the same
    process does not find the first one's resources. It stops within
    ``SERVER_POLL_SECONDS`` of leaving the block.
    """
    from moto.server import ThreadedMotoServer

    if port:
        # The server thread would die on a taken port without telling us: check first.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug does
            probe.bind((host, port))  # OSError: address already in use
    # Port 0 goes to the server, which binds a free port itself: a port taken and let go
    # beforehand could be taken by another process before the server binds it, and then
    # the server thread dies and start() waits for ever (moto sets its ready event only
    # after a successful bind).
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    # werkzeug's server looks for a stop request between two waits for a connection, each
    # up to 0.5 s long (serve_forever's poll_interval), so every stop waited for one.
    owner, attribute, serve = _BASE_WSGISERVER_SERVE_FOREVER.resolve()

    def serve_forever(self: Any, poll_interval: float = 0.5) -> None:
        serve(self, poll_interval=min(poll_interval, SERVER_POLL_SECONDS))

    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)
    with mock.patch.object(owner, attribute, serve_forever):  # until it has stopped
        server.start()
        url = f"http://{host}:{server.get_host_and_port()[1]}"
        try:
            _reset_moto(url)
            yield url
        finally:
            with contextlib.suppress(OSError):
                _reset_moto(url)
            server.stop()
            werkzeug_log.setLevel(level)


def _reset_moto(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        answer.read()


SEAMS: Final[tuple[Seam, ...]] = (_BASE_WSGISERVER_SERVE_FOREVER,)
