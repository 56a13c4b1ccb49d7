"""runledger_job: what every runledger Batch job program shares.

The job programs (jobs/<folder>/<program>.py) import this module for the parts of a job
that are not its own work: the exit-code contract and its errors, the classification of
boto3/botocore errors into permanent (2) and transient (75), one-JSON-object log lines,
``s3://`` / ``file://`` / path locations, the streaming S3-or-local input, the metrics JSON
and SIGTERM (a Spot reclaim) as a retry.

In an image it sits beside the program in WORKDIR (each Dockerfile copies it from the
``common`` build context, jobs/common); offline, the local cloud puts jobs/common on the job
process's import path (``Metadata.DockerBuildContexts`` of the job definition in
template.yaml). Only the standard library and boto3, so the images stay small.

Exit codes, a contract with the Batch job definition's retry strategy:

* 0  - success.
* 2  - permanent failure: bad configuration or bad input. Retrying cannot help.
* 75 - EX_TEMPFAIL, transient failure (S3 throttling, 5xx, connection errors, SIGTERM from
       a Spot reclaim). The job definition retries these.
* 1  - unexpected internal error (a bug). Not retried.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn
from urllib.parse import unquote, urlsplit

import boto3
import botocore.config
import botocore.exceptions as bce

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_PERMANENT = 2
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL from sysexits.h

READ_CHUNK = 1 << 20  # bytes requested from S3 per read; the input is never read whole

# S3 / AWS error codes that mean "try again later".
TRANSIENT_ERROR_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "OperationAborted",
    }
)
# botocore errors raised when the network, not the request, is the problem.
TRANSIENT_BOTOCORE_ERRORS: tuple[type[BaseException], ...] = (
    bce.HTTPClientError,  # ReadTimeoutError, ConnectionClosedError, ResponseStreamingError...
    bce.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, SSLError...
    bce.IncompleteReadError,
    bce.CredentialRetrievalError,  # container credentials endpoint hiccup on Fargate
)


# --------------------------------------------------------------------------- errors


class JobError(Exception):
    """A failure with a known exit code."""

    exit_code = EXIT_INTERNAL
    kind = "internal"

    @property
    def retryable(self) -> bool:
        return self.exit_code == EXIT_TEMPFAIL


class ConfigError(JobError):
    exit_code = EXIT_PERMANENT
    kind = "config"


class InputError(JobError):
    exit_code = EXIT_PERMANENT
    kind = "input"


class TransientError(JobError):
    exit_code = EXIT_TEMPFAIL
    kind = "transient"


class Interrupted(TransientError):
    kind = "interrupted"


def classify_aws_error(exc: Exception, action: str) -> JobError:
    """Map a boto3/botocore exception to a permanent (2) or transient (75) JobError."""
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = error.get("Message") or ""
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        text = f"{action} failed: {code} (HTTP {status or '?'}) {message}".rstrip()
        if code in TRANSIENT_ERROR_CODES or status >= 500 or status == 429:
            return TransientError(text)
        if code in {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}:
            return InputError(f"{text} - check the URI")
        return ConfigError(text)  # AccessDenied, InvalidBucketName, ... : fix config/IAM
    if isinstance(exc, TRANSIENT_BOTOCORE_ERRORS):
        return TransientError(f"{action} failed: {type(exc).__name__}: {exc}")
    return ConfigError(f"{action} failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- logging


class JsonLog:
    """One JSON object per line; CloudWatch Logs (awslogs driver) indexes them as-is."""

    def __init__(self, job: str, context: dict[str, Any]) -> None:
        self.job = job
        self.context = {k: v for k, v in context.items() if v is not None}

    def event(self, phase: str, *, level: str = "INFO", **fields: Any) -> None:
        record = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "job": self.job,
            "phase": phase,
            **self.context,
            **fields,
        }
        stream = sys.stderr if level in {"ERROR", "CRITICAL"} else sys.stdout
        print(json.dumps(record, default=str), file=stream, flush=True)


# --------------------------------------------------------------------------- configuration


def require_env(env: Mapping[str, str], names: tuple[str, ...]) -> None:
    """ConfigError naming every one of ``names`` that is unset or blank in ``env``."""
    missing = [name for name in names if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")


def variant_of(env: Mapping[str, str]) -> str | None:
    """RUNLEDGER_VARIANT, None if unset or blank."""
    return (env.get("RUNLEDGER_VARIANT") or "").strip() or None


def int_in_range(var: str, raw: str, low: int, high: int) -> int:
    """``raw`` (the value of ``var``) as an integer from ``low`` to ``high``."""
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{var} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{var} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Location:
    scheme: str  # "s3" or "file"
    path: str = ""  # local path
    bucket: str = ""
    key: str = ""

    @property
    def name(self) -> str:
        return self.key if self.scheme == "s3" else self.path


def parse_location(uri: str, var: str) -> Location:
    """s3://bucket/key, file:///abs/path or a plain local path."""
    if uri.startswith("s3://"):
        parts = urlsplit(uri)
        key = parts.path.lstrip("/")
        if not parts.netloc or not key or key.endswith("/"):
            raise ConfigError(f"{var} must look like s3://bucket/key, got {uri!r}")
        return Location("s3", bucket=parts.netloc, key=key)
    if uri.startswith("file://"):
        parts = urlsplit(uri)
        if parts.netloc not in {"", "localhost"} or not parts.path:
            raise ConfigError(f"{var} must look like file:///absolute/path, got {uri!r}")
        return Location("file", path=unquote(parts.path))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", uri):
        raise ConfigError(f"{var}: unsupported scheme in {uri!r} (use s3://, file:// or a path)")
    return Location("file", path=uri)


def s3_client(config: botocore.config.Config | None = None) -> Any:
    """A plain S3 client: honours AWS_ENDPOINT_URL, AWS_REGION, AWS_MAX_ATTEMPTS, ..."""
    try:
        return boto3.client("s3", config=config)
    except bce.BotoCoreError as exc:
        raise classify_aws_error(exc, "creating the S3 client") from exc


# --------------------------------------------------------------------------- input


class _S3RawStream(io.RawIOBase):
    """Adapts a botocore StreamingBody to RawIOBase so io/gzip can buffer and peek it.

    Network failures while streaming surface as TransientError (exit 75).
    """

    def __init__(self, body: Any, uri: str) -> None:
        self._body = body
        self._uri = uri

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), READ_CHUNK)
        try:
            data = self._body.read(size)
        except (bce.BotoCoreError, OSError) as exc:
            raise TransientError(
                f"reading {self._uri} failed mid-stream: {type(exc).__name__}: {exc}"
            ) from exc
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()


def _open_binary(location: Location, uri: str) -> BinaryIO:
    if location.scheme == "s3":
        try:
            response = s3_client().get_object(Bucket=location.bucket, Key=location.key)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise classify_aws_error(exc, f"S3 GetObject {uri}") from exc
        raw = _S3RawStream(response["Body"], uri)
        return io.BufferedReader(raw, buffer_size=READ_CHUNK)
    try:
        return open(location.path, "rb")  # closed by open_input()
    except OSError as exc:
        raise InputError(f"cannot open input {uri!r}: {exc.strerror or exc}") from exc


@contextmanager
def open_input(uri: str) -> Iterator[BinaryIO]:
    """Yield a binary stream over the (decompressed) input; nothing is read up front.

    Gzip input is recognised by its magic bytes or a ``.gz`` name.
    """
    location = parse_location(uri, "RUNLEDGER_INPUT_URI")
    binary = _open_binary(location, uri)
    try:
        try:
            magic = binary.peek(2)[:2]  # type: ignore[attr-defined]
        except OSError as exc:
            raise InputError(f"cannot read input {uri!r}: {exc}") from exc
        stream: BinaryIO = binary
        if magic == b"\x1f\x8b" or location.name.endswith(".gz"):
            stream = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
        yield stream
    finally:
        binary.close()


# --------------------------------------------------------------------------- results


def write_results(uri: str, metrics: dict[str, Any]) -> None:
    """The metrics as one JSON document at ``uri`` (S3 PutObject, or an atomic local write)."""
    location = parse_location(uri, "RUNLEDGER_RESULTS_URI")
    body = (json.dumps(metrics) + "\n").encode()
    if location.scheme == "s3":
        try:
            s3_client().put_object(
                Bucket=location.bucket,
                Key=location.key,
                Body=body,
                ContentType="application/json",
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise classify_aws_error(exc, f"S3 PutObject {uri}") from exc
        return
    path = Path(location.path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(body)
        tmp.replace(path)  # atomic: readers never see a half-written file
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write results to {uri!r}: {exc}") from exc


def finish(log: JsonLog, results_uri: str, metrics: dict[str, Any], **summary: Any) -> None:
    """Write ``metrics`` to ``results_uri``, then the ``finished`` line with ``summary``."""
    write_results(results_uri, metrics)
    log.event("finished", results_uri=results_uri, exit_code=EXIT_OK, **summary)


# --------------------------------------------------------------------------- main


def run_job(
    job: str,
    environ: Mapping[str, str] | None,
    work: Callable[[Mapping[str, str], JsonLog], None],
) -> int:
    """Run ``work(env, log)`` as job ``job``; its exit code, a ``failed`` line if it fails.

    ``work`` logs its own ``started`` line and ends with ``finish``; a JobError it raises ends
    the job with that error's exit code, any other exception with 1 and its traceback.
    """
    env = os.environ if environ is None else environ
    log = JsonLog(
        job,
        {
            "run_id": env.get("RUNLEDGER_RUN_ID") or None,
            "variant": env.get("RUNLEDGER_VARIANT") or None,
            "batch_job_id": env.get("AWS_BATCH_JOB_ID"),
            "batch_attempt": env.get("AWS_BATCH_JOB_ATTEMPT"),
        },
    )
    try:
        work(env, log)
        return EXIT_OK
    except JobError as exc:
        log.event(
            "failed",
            level="ERROR",
            error_kind=exc.kind,
            error=str(exc),
            exit_code=exc.exit_code,
            retryable=exc.retryable,
        )
        return exc.exit_code
    except Exception as exc:
        log.event(
            "failed",
            level="CRITICAL",
            error_kind="internal",
            error=f"{type(exc).__name__}: {exc}",
            exit_code=EXIT_INTERNAL,
            retryable=False,
            traceback=traceback.format_exc(),
        )
        return EXIT_INTERNAL


def _on_sigterm(signum: int, _frame: object) -> None:
    # Batch/ECS sends SIGTERM before SIGKILL when a Spot task is reclaimed: ask for a retry.
    raise Interrupted(f"received signal {signal.Signals(signum).name}; stopping")


def run_as_program(main: Callable[[], int]) -> NoReturn:
    """``if __name__ == "__main__"`` of a job: SIGTERM asks for a retry (75), then main()."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(main())
