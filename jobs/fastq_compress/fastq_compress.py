"""fastq-compress: a multi-threaded BGZF compressor, runledger's CPU-bound sample workload.

Streams one file (FASTQ or anything else; gzip input is decompressed first) from S3 or
local disk, cuts it into blocks of at most 65,280 bytes, deflates the blocks in a thread
pool (zlib releases the GIL, so the vCPU count matters) and writes them, in input order, as
a BGZF file (SAM/BAM specification section 4.1: the blocked gzip of bgzip and samtools)
next to the metrics: ``<directory of RUNLEDGER_RESULTS_URI>/output.fastq.bgz``. Then it
writes a metrics JSON document to RUNLEDGER_RESULTS_URI.

Configured by environment variables (see README.md). This file is the compressing and the
output only; what every job shares (its exit codes, log lines, input, metrics, SIGTERM) is
runledger_job's (jobs/common/runledger_job.py, beside this program in the image).
"""

from __future__ import annotations

import math
import os
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import botocore.config
import botocore.exceptions as bce
import runledger_job as job

LEVEL_MIN, LEVEL_MAX, DEFAULT_LEVEL = 1, 9, 6
THREADS_MAX = 256  # a guard against typos: each thread keeps IN_FLIGHT_PER_THREAD blocks

# BGZF (SAM/BAM specification section 4.1). A block is one gzip member of at most 64 KiB,
# header and footer included. 65,280 uncompressed bytes per block, as bgzip: even
# incompressible data (deflate's stored blocks, 5 bytes per 64 KiB) then fits in 64 KiB.
BLOCK_SIZE = 0xFF00
MAX_BGZF_BLOCK = 1 << 16
# ID1 ID2 CM FLG(FEXTRA) MTIME(0) XFL OS(unknown) XLEN(6) SI1 SI2 ('B','C') SLEN(2) BSIZE
_BGZF_HEADER = struct.Struct("<4BI2BH2BHH")
_BGZF_FOOTER = struct.Struct("<II")  # CRC32, ISIZE
#: The empty block that ends every BGZF file (the specification's 28 bytes).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

# At most this many blocks per thread are read and not yet written: memory stays bounded
# (a few 64 KiB blocks per thread) and the workers never wait for the reader.
IN_FLIGHT_PER_THREAD = 2
# S3 multipart: parts of 8 MiB, growing by 8 MiB every 1,000 parts (S3 allows 10,000
# parts), so outputs up to about 430 GiB fit. One part is uploaded while the next fills.
PART_SIZE = 8 << 20
PARTS_PER_SIZE_STEP = 1000
PROGRESS_EVERY_BLOCKS = 1024  # a progress line every 1,024 blocks (about 64 MiB of input)

OUTPUT_NAME = "output.fastq.bgz"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota|max> <period>"

REQUIRED_ENV = (
    "RUNLEDGER_INPUT_URI",
    "RUNLEDGER_RESULTS_URI",
    "RUNLEDGER_RUN_ID",
)
# The clean-up call after a failure (AbortMultipartUpload) must not hold up the exit code:
# one attempt, short timeouts. The results bucket's lifecycle rule removes what it misses.
_CLEANUP_CLIENT_CONFIG = botocore.config.Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10
)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    input_uri: str
    results_uri: str
    output_uri: str
    run_id: str
    variant: str | None
    level: int
    threads: int
    threads_from: str  # "RUNLEDGER_COMPRESS_THREADS" or how the default was found


def load_config(env: Mapping[str, str]) -> Config:
    job.require_env(env, REQUIRED_ENV)

    raw_level = env.get("RUNLEDGER_COMPRESS_LEVEL", "").strip() or str(DEFAULT_LEVEL)
    level = job.int_in_range("RUNLEDGER_COMPRESS_LEVEL", raw_level, LEVEL_MIN, LEVEL_MAX)

    raw_threads = env.get("RUNLEDGER_COMPRESS_THREADS", "").strip()
    if raw_threads:
        threads = job.int_in_range("RUNLEDGER_COMPRESS_THREADS", raw_threads, 1, THREADS_MAX)
        threads_from = "RUNLEDGER_COMPRESS_THREADS"
    else:
        threads, threads_from = available_cpus()

    input_uri = env["RUNLEDGER_INPUT_URI"].strip()
    results_uri = env["RUNLEDGER_RESULTS_URI"].strip()
    # Fail fast on unusable URIs, before any input is read.
    job.parse_location(input_uri, "RUNLEDGER_INPUT_URI")
    results = job.parse_location(results_uri, "RUNLEDGER_RESULTS_URI")
    if Path(results.name).name == OUTPUT_NAME:
        raise job.ConfigError(
            f"RUNLEDGER_RESULTS_URI must not be named {OUTPUT_NAME}: the compressed output "
            f"goes to that name beside the metrics, got {results_uri!r}"
        )
    return Config(
        input_uri=input_uri,
        results_uri=results_uri,
        output_uri=output_uri_for(results_uri),
        run_id=env["RUNLEDGER_RUN_ID"].strip(),
        variant=job.variant_of(env),
        level=level,
        threads=threads,
        threads_from=threads_from,
    )


def output_uri_for(results_uri: str) -> str:
    """The output's location: ``output.fastq.bgz`` in the metrics file's directory."""
    head, slash, _ = results_uri.rpartition("/")
    return f"{head}{slash}{OUTPUT_NAME}"


def cgroup_cpu_quota(cpu_max: Path) -> float | None:
    """The cgroup v2 CPU limit in CPUs (``cpu.max`` "150000 100000" -> 1.5); None if unset."""
    try:
        quota, period = cpu_max.read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def available_cpus() -> tuple[int, str]:
    """The CPUs this process may use: its affinity mask, capped by a cgroup v2 quota."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux (a developer's Mac)
        affinity = os.cpu_count() or 1
    quota = cgroup_cpu_quota(CGROUP_CPU_MAX)
    if quota is None:
        return max(1, affinity), f"sched_getaffinity: {affinity}"
    cpus = max(1, min(affinity, math.ceil(quota)))
    return cpus, f"sched_getaffinity: {affinity}, cgroup cpu.max: {quota:g}"


# --------------------------------------------------------------------------- input


def read_blocks(stream: BinaryIO, uri: str, size: int = BLOCK_SIZE) -> Iterator[bytes]:
    """Full blocks of ``size`` bytes (the last may be shorter), whatever the reads return:
    the blocks, and so the output, depend only on the input's bytes."""
    while True:
        try:
            block = stream.read(size)
            while block and len(block) < size:
                more = stream.read(size - len(block))
                if not more:
                    break
                block += more
        except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
            raise job.InputError(f"cannot read input {uri!r}: {exc}") from exc
        if not block:
            return
        yield block


# --------------------------------------------------------------------------- BGZF


def bgzf_block(data: bytes, level: int) -> bytes:
    """One BGZF block: a gzip member whose BC extra subfield holds its size minus 1."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
    cdata = compressor.compress(data) + compressor.flush()
    size = _BGZF_HEADER.size + len(cdata) + _BGZF_FOOTER.size
    if size > MAX_BGZF_BLOCK:  # cannot happen with BLOCK_SIZE input (deflate's bound)
        raise RuntimeError(f"BGZF block of {size} bytes exceeds {MAX_BGZF_BLOCK}")
    header = _BGZF_HEADER.pack(31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, size - 1)
    return header + cdata + _BGZF_FOOTER.pack(zlib.crc32(data), len(data))


def compress_block(data: bytes, level: int) -> tuple[bytes, int]:
    """Run in a worker thread: the BGZF block and the number of newlines in ``data``."""
    return bgzf_block(data, level), data.count(b"\n")


# --------------------------------------------------------------------------- output


class Sink(Protocol):
    bytes_written: int

    def write(self, data: bytes) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class _LocalSink:
    """A temporary file beside the target, renamed onto it on commit (atomic)."""

    def __init__(self, path: str, uri: str) -> None:
        self.bytes_written = 0
        self._uri = uri
        self._path = Path(path)
        self._tmp = self._path.with_name(f".{self._path.name}.tmp-{os.getpid()}")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed by commit()/abort()
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> job.ConfigError:
        return job.ConfigError(f"cannot write output to {self._uri!r}: {exc}")

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise self._error(exc) from exc
        self.bytes_written += len(data)

    def commit(self) -> None:
        try:
            self._file.close()
            self._tmp.replace(self._path)
        except OSError as exc:
            raise self._error(exc) from exc

    def abort(self) -> None:
        with suppress(OSError):
            self._file.close()
            self._tmp.unlink(missing_ok=True)


class _S3Sink:
    """A multipart upload, one part in the air while the next fills (2 parts in memory)."""

    def __init__(self, location: job.Location, uri: str) -> None:
        self.bytes_written = 0
        self._uri = uri
        self._target = {"Bucket": location.bucket, "Key": location.key}
        self._client = job.s3_client()
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._submitted = 0
        self._in_the_air: Future[dict[str, Any]] | None = None
        try:
            response = self._client.create_multipart_upload(
                **self._target, ContentType="application/gzip"
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise job.classify_aws_error(exc, f"S3 CreateMultipartUpload {uri}") from exc
        self._upload_id: str = response["UploadId"]
        self._uploader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-upload")

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.bytes_written += len(data)
        if len(self._buffer) >= PART_SIZE * (1 + self._submitted // PARTS_PER_SIZE_STEP):
            self._send_part()

    def _send_part(self) -> None:
        body = bytes(self._buffer)
        self._buffer.clear()
        self._wait()
        self._submitted += 1
        self._in_the_air = self._uploader.submit(self._upload_part, self._submitted, body)

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        try:
            response = self._client.upload_part(
                **self._target, UploadId=self._upload_id, PartNumber=number, Body=body
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise job.classify_aws_error(exc, f"S3 UploadPart {number} {self._uri}") from exc
        return {"ETag": response["ETag"], "PartNumber": number}

    def _wait(self) -> None:
        if self._in_the_air is not None:
            in_the_air, self._in_the_air = self._in_the_air, None
            self._parts.append(in_the_air.result())  # raises the upload's JobError

    def commit(self) -> None:
        if self._buffer or not self._submitted:  # the last part may be small
            self._send_part()
        self._wait()
        self._uploader.shutdown()
        try:
            self._client.complete_multipart_upload(
                **self._target,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise job.classify_aws_error(exc, f"S3 CompleteMultipartUpload {self._uri}") from exc

    def abort(self) -> None:
        """Best effort: no parts left behind (the bucket's lifecycle rule is the backstop)."""
        self._uploader.shutdown(wait=True, cancel_futures=True)
        with suppress(Exception):
            job.s3_client(_CLEANUP_CLIENT_CONFIG).abort_multipart_upload(
                **self._target, UploadId=self._upload_id
            )


@contextmanager
def open_output(uri: str) -> Iterator[Sink]:
    """Yield a sink for ``uri``; committed if the block ends normally, aborted if not."""
    location = job.parse_location(uri, "the output location")
    sink: Sink = (
        _S3Sink(location, uri) if location.scheme == "s3" else _LocalSink(location.path, uri)
    )
    try:
        yield sink
        sink.commit()
    except BaseException:
        sink.abort()
        raise


# --------------------------------------------------------------------------- compressing


@dataclass
class Totals:
    input_bytes: int = 0
    blocks: int = 0
    newlines: int = 0
    first_byte: bytes = b""  # the first non-whitespace byte: b"@" for FASTQ
    last_byte: bytes = b""

    @property
    def reads(self) -> int:
        """FASTQ records as lines / 4 (a last line without a newline counts); 0 if the
        input does not start with '@'. The job compresses any bytes: it does not check
        FASTQ syntax (kmer-count does)."""
        if self.first_byte != b"@":
            return 0
        return (self.newlines + (self.last_byte not in {b"", b"\n"})) // 4


def compress_stream(
    stream: BinaryIO,
    sink: Sink,
    *,
    uri: str,
    level: int,
    threads: int,
    on_block: Callable[[Totals], None] | None = None,
) -> Totals:
    """Compress ``stream`` into ``sink`` as BGZF, ``threads`` blocks at a time, in order.

    At most ``threads * IN_FLIGHT_PER_THREAD`` blocks are read and not yet written.
    ``on_block(totals)`` is called after each block is written.
    """
    totals = Totals()
    in_flight: deque[Future[tuple[bytes, int]]] = deque()
    limit = threads * IN_FLIGHT_PER_THREAD

    def write_oldest() -> None:
        block, newlines = in_flight.popleft().result()
        sink.write(block)
        totals.blocks += 1
        totals.newlines += newlines
        if on_block is not None:
            on_block(totals)

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bgzf")
    try:
        for data in read_blocks(stream, uri, BLOCK_SIZE):
            if not totals.first_byte:
                totals.first_byte = data.lstrip()[:1]
            totals.last_byte = data[-1:]
            totals.input_bytes += len(data)
            in_flight.append(pool.submit(compress_block, data, level))
            if len(in_flight) >= limit:
                write_oldest()
        while in_flight:
            write_oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    sink.write(BGZF_EOF)
    return totals


# --------------------------------------------------------------------------- main


def run(config: Config, log: job.JsonLog) -> dict[str, Any]:
    started = time.monotonic()

    def on_block(totals: Totals) -> None:
        if totals.blocks % PROGRESS_EVERY_BLOCKS == 0:
            log.event(
                "progress",
                blocks=totals.blocks,
                input_bytes=totals.input_bytes,
                elapsed_seconds=round(time.monotonic() - started, 3),
            )

    with job.open_input(config.input_uri) as stream, open_output(config.output_uri) as sink:
        totals = compress_stream(
            stream,
            sink,
            uri=config.input_uri,
            level=config.level,
            threads=config.threads,
            on_block=on_block,
        )
    elapsed = time.monotonic() - started

    return {
        "input_bytes": totals.input_bytes,
        "output_bytes": sink.bytes_written,
        "compression_ratio": round(totals.input_bytes / sink.bytes_written, 4),
        "blocks": totals.blocks,
        "threads": config.threads,
        "level": config.level,
        "reads": totals.reads,
        "elapsed_seconds": round(elapsed, 3),
        "throughput_mib_per_second": round(totals.input_bytes / (1 << 20) / elapsed, 3)
        if elapsed > 0
        else 0.0,
        "input_uri": config.input_uri,
        "output_uri": config.output_uri,
        "run_id": config.run_id,
        "variant": config.variant,
    }


def work(env: Mapping[str, str], log: job.JsonLog) -> None:
    config = load_config(env)
    log.event(
        "started",
        input_uri=config.input_uri,
        results_uri=config.results_uri,
        output_uri=config.output_uri,
        compress_level=config.level,  # "level" is the log line's own (INFO, ERROR)
        threads=config.threads,
        threads_from=config.threads_from,
    )
    metrics = run(config, log)
    summary = {("compress_level" if key == "level" else key): v for key, v in metrics.items()}
    job.finish(log, config.results_uri, metrics, **summary)


def main(environ: Mapping[str, str] | None = None) -> int:
    return job.run_job("fastq-compress", environ, work)


if __name__ == "__main__":
    job.run_as_program(main)
