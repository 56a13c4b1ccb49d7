"""kmer-count: the AWS Batch job behind runledger's ``kmer-count`` workflow.

Streams one FASTA or FASTQ file (optionally gzip-compressed) from S3 or local disk, counts
reads, bases, GC content and canonical k-mers, and writes a metrics JSON document.

Configured by environment variables (see README.md). This file is the counting only: exit
codes (0, 2 permanent, 75 transient and retried, 1 a bug), log lines, the input stream,
the metrics JSON and SIGTERM are runledger_job's (jobs/common, beside it in the image).
"""

from __future__ import annotations

import functools
import heapq
import io
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

import runledger_job as job

K_MIN, K_MAX = 1, 31
TOP_N = 10
DEFAULT_PROGRESS_EVERY = 100_000

REQUIRED_ENV = (
    "RUNLEDGER_INPUT_URI",
    "RUNLEDGER_KMER_K",
    "RUNLEDGER_RESULTS_URI",
    "RUNLEDGER_RUN_ID",
)

_NON_ACGT = re.compile(r"[^ACGT]+")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


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
    job.require_env(env, REQUIRED_ENV)
    k = job.int_in_range("RUNLEDGER_KMER_K", env["RUNLEDGER_KMER_K"].strip(), K_MIN, K_MAX)

    raw_every = env.get("RUNLEDGER_PROGRESS_EVERY", "").strip() or str(DEFAULT_PROGRESS_EVERY)
    try:
        progress_every = int(raw_every)
    except ValueError:
        progress_every = 0
    if progress_every < 1:
        raise job.ConfigError(
            f"RUNLEDGER_PROGRESS_EVERY must be a positive integer, got {raw_every!r}"
        )

    config = Config(
        input_uri=env["RUNLEDGER_INPUT_URI"].strip(),
        k=k,
        results_uri=env["RUNLEDGER_RESULTS_URI"].strip(),
        run_id=env["RUNLEDGER_RUN_ID"].strip(),
        variant=job.variant_of(env),
        progress_every=progress_every,
    )
    # Fail fast on unusable URIs, before any input is read.
    job.parse_location(config.input_uri, "RUNLEDGER_INPUT_URI")
    job.parse_location(config.results_uri, "RUNLEDGER_RESULTS_URI")
    return config


# --------------------------------------------------------------------------- input


@contextmanager
def open_text(uri: str) -> Iterator[TextIO]:
    """Yield a text stream over the (decompressed) input; nothing is read up front."""
    with job.open_input(uri) as stream:
        yield io.TextIOWrapper(stream, encoding="ascii", newline=None)


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
    raise job.InputError(f"malformed input at line {lineno}: {message}")


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
        raise job.InputError("input is empty: no FASTA or FASTQ records found")

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


# --------------------------------------------------------------------------- main


def run(config: Config, log: job.JsonLog) -> dict[str, Any]:
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
        with open_text(config.input_uri) as text:
            stats = count_stream(text, config.k, on_record)
    except UnicodeDecodeError as exc:
        raise job.InputError(
            f"input {config.input_uri!r} is not ASCII FASTA/FASTQ text "
            f"(byte {exc.start}; compressed with something other than gzip?)"
        ) from exc
    except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
        raise job.InputError(f"cannot read input {config.input_uri!r}: {exc}") from exc

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


def work(env: Mapping[str, str], log: job.JsonLog) -> None:
    config = load_config(env)
    log.event(
        "started",
        input_uri=config.input_uri,
        results_uri=config.results_uri,
        k=config.k,
    )
    metrics = run(config, log)
    summary = {key: value for key, value in metrics.items() if key != "top_kmers"}
    job.finish(log, config.results_uri, metrics, **summary)


def main(environ: Mapping[str, str] | None = None) -> int:
    return job.run_job("kmer-count", environ, work)


if __name__ == "__main__":
    job.run_as_program(main)
