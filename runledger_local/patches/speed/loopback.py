"""Speed: this process's requests to its own moto server are served without a socket.

In server mode the engine's tasks, the handlers and the pipe runner call the server this
process runs; those requests are served in the calling thread by the server's routes and
handlers, as the server would serve them (no socket, no HTTP, no server thread per
request: werkzeug's dev server closes every connection). Other processes (jobs, the AWS
CLI) still use HTTP.

Measured 2026-12-04, bench/bench_speed.py --mechanism loopback --rounds 5 --runs 30:
engine CPU 1.35x with it off (median of 5 alternated pairs, range 1.28-1.40x), wall
1.26x (1.21-1.31x), peak RSS 1.09x (244 -> 265 MB).
"""

from __future__ import annotations

import contextlib
import io
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import Seam, import_module
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "loopback"


def _request_body(request: Any) -> bytes:
    body = request.body or b""
    if hasattr(body, "read"):  # a file or botocore's aws-chunked wrapper
        body = body.read()
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _wsgi_environ(request: Any, parts: urllib.parse.SplitResult, body: bytes) -> dict[str, Any]:
    """The WSGI environ werkzeug's server would build for a botocore request."""
    raw_uri = parts.path + (f"?{parts.query}" if parts.query else "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote(parts.path, "latin-1"),
        "QUERY_STRING": parts.query,
        "RAW_URI": raw_uri,  # moto matches S3 keys on the undecoded path
        "REQUEST_URI": raw_uri,
        "SERVER_NAME": parts.hostname or "",
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": parts.netloc,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in request.headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ[name] = text
        elif name not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):  # the body is whole
            environ["HTTP_" + name] = text
    return environ


def _wire_body(content: Any) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    return b"".join(_wire_body(chunk) for chunk in content)  # a streamed answer


_BOTOCORE_STUBBER_CALL: Final = Seam(
    NAME,
    "moto.core.botocore_stubber",
    "BotocoreStubber.__call__",
    ("self", "event_name", "request", "kwargs"),
)
_MOCK_RAW_RESPONSE: Final = Seam(NAME, "moto.core.botocore_stubber", "MockRawResponse")
_DOMAIN_DISPATCHER_APPLICATION: Final = Seam(
    NAME, "moto.moto_server.werkzeug_app", "DomainDispatcherApplication"
)
_DOMAIN_DISPATCHER_APPLICATION_GET_APPLICATION: Final = Seam(
    NAME, "moto.moto_server.werkzeug_app", "DomainDispatcherApplication.get_application"
)
_CREATE_BACKEND_APP: Final = Seam(NAME, "moto.moto_server.werkzeug_app", "create_backend_app")
_CONVERT_TO_FLASK_RESPONSE: Final = Seam(NAME, "moto.core.utils", "convert_to_flask_response")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    stubber_class, call_attr, original_call = _BOTOCORE_STUBBER_CALL.resolve()
    _, _, raw_response = _MOCK_RAW_RESPONSE.resolve()
    _, _, dispatcher = _DOMAIN_DISPATCHER_APPLICATION.resolve()
    _DOMAIN_DISPATCHER_APPLICATION_GET_APPLICATION.resolve()
    _, _, backend_app = _CREATE_BACKEND_APP.resolve()
    _, _, flask_view = _CONVERT_TO_FLASK_RESPONSE.resolve()
    recorder = import_module(NAME, "moto.moto_api").recorder
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders
    from botocore.exceptions import ClientError
    from werkzeug.exceptions import HTTPException

    endpoint = urllib.parse.urlsplit(cloud.endpoint_url or "")
    if endpoint.port is None:  # in-process (mock_aws): nothing goes over a socket anyway
        yield
        return
    # The server this process runs: any loopback name for its port (the ASL engine
    # calls http://localhost:$MOTO_PORT; handlers get AWS_ENDPOINT_URL).
    local_hosts = {endpoint.hostname, "localhost", "127.0.0.1"}

    def ours(parts: urllib.parse.SplitResult) -> bool:
        return parts.port == endpoint.port and parts.hostname in local_hosts

    app = dispatcher(backend_app)  # same backends as the server: moto's state is global

    def through_wsgi(environ: dict[str, Any]) -> tuple[int, Any, bytes]:
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            answer[:] = [int(status.split(" ", 1)[0]), headers]

        chunks = app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return answer[0], answer[1], body

    def serve(environ: dict[str, Any]) -> tuple[int, Any, bytes]:
        # What the server's Flask app does for a request, minus Flask: the service's URL
        # map picks moto's handler, which gets the request as the server would pass it.
        # Routes Flask alone knows (none, today) take the whole WSGI way.
        service_app = app.get_application(environ)
        try:
            route, _ = service_app.url_map.bind_to_environ(environ).match()
            view = service_app.view_functions[route]
        except (HTTPException, KeyError):
            return through_wsgi(environ)
        if not isinstance(view, flask_view):
            return through_wsgi(environ)
        moto_request = service_app.request_class(environ)
        recorder._record_request(moto_request)
        try:
            result = view.callback(moto_request, moto_request.raw_url, dict(moto_request.headers))
        except ClientError as exc:  # as moto's view does
            result = 400, {}, exc.response["Error"]["Message"]
        except HTTPException as exc:  # moto's service errors; Flask answers them so
            result = exc.code, exc.get_headers(), exc.get_body()
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        return int(status), headers, _wire_body(content)

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        # moto's stubber sees every request of every botocore client made after moto was
        # imported. Requests for our own server are served in this thread, as the server
        # would serve them: no socket, no HTTP, no server thread per request (werkzeug's
        # dev server closes every connection). Anything else goes on as before.
        parts = urllib.parse.urlsplit(request.url)
        if not ours(parts):
            return original_call(self, event_name, request, **kwargs)
        status, headers, body = serve(_wsgi_environ(request, parts, _request_body(request)))
        wire_headers = HTTPHeaders()
        for key, value in dict(headers).items():
            wire_headers[key] = str(value)
        return AWSResponse(request.url, status, wire_headers, raw_response(body))

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(stubber_class, call_attr, call))
        yield


SEAMS: Final[tuple[Seam, ...]] = (
    _BOTOCORE_STUBBER_CALL,
    _MOCK_RAW_RESPONSE,
    _DOMAIN_DISPATCHER_APPLICATION,
    _DOMAIN_DISPATCHER_APPLICATION_GET_APPLICATION,
    _CREATE_BACKEND_APP,
    _CONVERT_TO_FLASK_RESPONSE,
)
