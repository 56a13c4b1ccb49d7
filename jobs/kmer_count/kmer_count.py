"""kmer-count: the AWS Batch job behind runledger's ``kmer-count`` workflow.

Streams one FASTA or FASTQ file (optionally gzip-compressed) from S3 or local disk, counts
reads, bases, GC content and canonical k-mers, and writes a metrics JSON document.

Configuration comes from environment variables (see README.md). Exit codes are a contract
with the Batch job definition's retry strategy:

* 0  - success, metrics written.
* 2  - permanent failure: bad configuration or bad input. Retrying cannot help.
* 75 - EX_TEMPFAIL, transient failure (S3 throttling, 5xx, connection errors, SIGTERM from
       a Spot reclaim). The job definition retries these.
* 1  - unexpected internal error (a bug). Not retried.

Only the standard library and boto3 are used, so the image stays small.
"""

from __future__ import annotations

import functools
import gzip
import heapq
import io
import json
import os
import re
import signal
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, TextIO
from urllib.parse import unquote, urlsplit

import boto3
import botocore.exceptions as bce

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_PERMANENT = 2
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL from sysexits.h

K_MIN, K_MAX = 1, 31
TOP_N = 10
DEFAULT_PROGRESS_EVERY = 100_000
READ_CHUNK = 1 << 20  # bytes requested from S3 per read; the input is never read whole

REQUIRED_ENV = (
    "RUNLEDGER_INPUT_URI",
    "RUNLEDGER_KMER_K",
    "RUNLEDGER_RESULTS_URI",
    "RUNLEDGER_RUN_ID",
)

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

_NON_ACGT = re.compile(r"[^ACGT]+")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


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

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = {k: v for k, v in context.items() if v is not None}

    def event(self, phase: str, *, level: str = "INFO", **fields: Any) -> None:
        record = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "job": "kmer-count",
            "phase": phase,
            **self.context,
            **fields,
        }
        stream = sys.stderr if level in {"ERROR", "CRITICAL"} else sys.stdout
        print(json.dumps(record, default=str), file=stream, flush=True)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    input_uri: str
    k: int
    results_uri: str
    run_id: str
    variant: str | None
    progress_every: int


def load_config(env: Mapping[str, str]) -> Config:
    missing = [name for name in REQUIRED_ENV if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")

    raw_k = env["RUNLEDGER_KMER_K"].strip()
    try:
        k = int(raw_k)
    except ValueError:
        raise ConfigError(f"RUNLEDGER_KMER_K must be an integer, got {raw_k!r}") from None
    if not K_MIN <= k <= K_MAX:
        raise ConfigError(f"RUNLEDGER_KMER_K must be between {K_MIN} and {K_MAX}, got {k}")

    raw_every = env.get("RUNLEDGER_PROGRESS_EVERY", "").strip() or str(DEFAULT_PROGRESS_EVERY)
    try:
        progress_every = int(raw_every)
    except ValueError:
        progress_every = 0
    if progress_every < 1:
        raise ConfigError(f"RUNLEDGER_PROGRESS_EVERY must be a positive integer, got {raw_every!r}")

    config = Config(
        input_uri=env["RUNLEDGER_INPUT_URI"].strip(),
        k=k,
        results_uri=env["RUNLEDGER_RESULTS_URI"].strip(),
        run_id=env["RUNLEDGER_RUN_ID"].strip(),
        variant=(env.get("RUNLEDGER_VARIANT") or "").strip() or None,
        progress_every=progress_every,
    )
    # Fail fast on unusable URIs, before any input is read.
    parse_location(config.input_uri, "RUNLEDGER_INPUT_URI")
    parse_location(config.results_uri, "RUNLEDGER_RESULTS_URI")
    return config


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


def s3_client() -> Any:
    """A plain S3 client: honours AWS_ENDPOINT_URL, AWS_REGION, AWS_MAX_ATTEMPTS, ..."""
    try:
        return boto3.client("s3")
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
def open_input(uri: str) -> Iterator[TextIO]:
    """Yield a text stream over the (decompressed) input; nothing is read up front."""
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
        yield io.TextIOWrapper(stream, encoding="ascii", newline=None)
    finally:
        binary.close()


# --------------------------------------------------------------------------- counting


class KmerStats:
    """Streaming accumulator: reads, bases, GC and canonical k-mer counts.

    Sequence may arrive in pieces (FASTA lines); the last k-1 bases of the current record
    are carried over so k-mers spanning line breaks are counted exactly once.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.reads = 0
        self.bases = 0
        self.gc = 0
        self.acgt = 0
        self.counts: Counter[str] = Counter()
        self._carry = ""

    def start_record(self) -> None:
        self.reads += 1
        self._carry = ""

    def add_sequence(self, piece: str) -> None:
        seq = piece.upper()
        self.bases += len(seq)
        gc = seq.count("G") + seq.count("C")
        self.gc += gc
        self.acgt += gc + seq.count("A") + seq.count("T")
        k = self.k
        text = self._carry + seq
        if len(text) >= k:
            self._count(text)
        self._carry = text[len(text) - (k - 1) :] if k > 1 else ""

    def _count(self, text: str) -> None:
        k = self.k
        for run in _NON_ACGT.split(text):  # N / IUPAC codes break k-mers
            length = len(run)
            if length < k:
                continue
            rc = run.translate(_COMPLEMENT)[::-1]
            # rc[length-i-k : length-i] is the reverse complement of run[i : i+k].
            self.counts.update(
                min(run[i : i + k], rc[length - i - k : length - i]) for i in range(length - k + 1)
            )

    @property
    def total_kmers(self) -> int:
        return self.counts.total()

    @property
    def gc_fraction(self) -> float:
        return round(self.gc / self.acgt, 6) if self.acgt else 0.0

    def top_kmers(self, n: int = TOP_N) -> list[list[Any]]:
        best = heapq.nsmallest(n, self.counts.items(), key=lambda item: (-item[1], item[0]))
        return [[kmer, count] for kmer, count in best]


def _bad(lineno: int, message: str) -> NoReturn:
    raise InputError(f"malformed input at line {lineno}: {message}")


def _check_sequence(lineno: int, seq: str) -> None:
    if not (seq.isascii() and (seq.isalpha() or not seq)):
        _bad(lineno, f"sequence contains non-letter characters: {seq[:40]!r}")


def _parse_fastq(
    lines: Iterator[tuple[int, str]], stats: KmerStats, on_record: Callable[[], None]
) -> None:
    for lineno, line in lines:
        header = line.rstrip()
        if not header:
            continue
        if not header.startswith("@"):
            _bad(lineno, f"expected a FASTQ header starting with '@', got {header[:40]!r}")
        try:
            seq_no, seq = next(lines)
            plus_no, plus = next(lines)
            qual_no, qual = next(lines)
        except StopIteration:
            _bad(lineno, f"truncated FASTQ record {header[:40]!r} (needs 4 lines)")
        seq, qual = seq.rstrip(), qual.rstrip()
        _check_sequence(seq_no, seq)
        if not plus.startswith("+"):
            _bad(plus_no, f"expected the FASTQ '+' separator line, got {plus.rstrip()[:40]!r}")
        if len(qual) != len(seq):
            _bad(qual_no, f"quality length {len(qual)} != sequence length {len(seq)}")
        stats.start_record()
        stats.add_sequence(seq)
        on_record()


def _parse_fasta(
    lines: Iterator[tuple[int, str]], stats: KmerStats, on_record: Callable[[], None]
) -> None:
    in_record = False
    for lineno, line in lines:
        text = line.strip()
        if not text or text.startswith(";"):  # blank or old-style comment
            continue
        if text.startswith(">"):
            if in_record:
                on_record()
            stats.start_record()
            in_record = True
            continue
        if not in_record:
            _bad(lineno, "sequence data before the first '>' header")
        _check_sequence(lineno, text)
        stats.add_sequence(text)
    if in_record:
        on_record()


def count_stream(text: TextIO, k: int, on_record: Callable[[KmerStats], None]) -> KmerStats:
    """Detect FASTA/FASTQ from the first non-blank line and stream-count it."""
    stats = KmerStats(k)
    lines = enumerate(text, start=1)
    for lineno, line in lines:
        if line.strip():
            first = (lineno, line)
            break
    else:
        raise InputError("input is empty: no FASTA or FASTQ records found")

    numbered = _chain(first, lines)
    callback = functools.partial(on_record, stats)
    if first[1].startswith("@"):
        _parse_fastq(numbered, stats, callback)
    elif first[1].startswith(">"):
        _parse_fasta(numbered, stats, callback)
    else:
        _bad(first[0], "unrecognised format: expected '>' (FASTA) or '@' (FASTQ)")
    return stats


def _chain(first: tuple[int, str], rest: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


# --------------------------------------------------------------------------- results


def write_results(uri: str, metrics: dict[str, Any]) -> None:
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


# --------------------------------------------------------------------------- main


def run(config: Config, log: JsonLog) -> dict[str, Any]:
    started = time.monotonic()

    def on_record(stats: KmerStats) -> None:
        if stats.reads % config.progress_every == 0:
            log.event(
                "progress",
                reads=stats.reads,
                bases=stats.bases,
                distinct_kmers=len(stats.counts),
                elapsed_seconds=round(time.monotonic() - started, 3),
            )

    try:
        with open_input(config.input_uri) as text:
            stats = count_stream(text, config.k, on_record)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"input {config.input_uri!r} is not ASCII FASTA/FASTQ text "
            f"(byte {exc.start}; compressed with something other than gzip?)"
        ) from exc
    except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError(f"cannot read input {config.input_uri!r}: {exc}") from exc

    return {
        "reads": stats.reads,
        "bases": stats.bases,
        "k": config.k,
        "total_kmers": stats.total_kmers,
        "distinct_kmers": len(stats.counts),
        "gc_fraction": stats.gc_fraction,
        "top_kmers": stats.top_kmers(),
        "elapsed_seconds": round(time.monotonic() - started, 3),
        "input_uri": config.input_uri,
        "run_id": config.run_id,
        "variant": config.variant,
    }


def main(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    log = JsonLog(
        {
            "run_id": env.get("RUNLEDGER_RUN_ID") or None,
            "variant": env.get("RUNLEDGER_VARIANT") or None,
            "batch_job_id": env.get("AWS_BATCH_JOB_ID"),
            "batch_attempt": env.get("AWS_BATCH_JOB_ATTEMPT"),
        }
    )
    try:
        config = load_config(env)
        log.event(
            "started",
            input_uri=config.input_uri,
            results_uri=config.results_uri,
            k=config.k,
        )
        metrics = run(config, log)
        write_results(config.results_uri, metrics)
        summary = {key: value for key, value in metrics.items() if key != "top_kmers"}
        log.event("finished", results_uri=config.results_uri, exit_code=EXIT_OK, **summary)
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


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(main())
