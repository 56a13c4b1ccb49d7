"""Tests for the fastq-compress Batch job (jobs/fastq_compress/fastq_compress.py).

The output is checked two ways: with Python's gzip module (what any gzip reader sees) and
with ``parse_bgzf`` below, a reading of the BGZF layout (SAM/BAM specification section
4.1) written independently of the program's writer.
"""

import gzip
import io
import json
import random
import struct
import threading
import time
import zlib

import boto3
import moto.s3.models
import pytest
from botocore.stub import ANY
from job_fixtures import (
    ROOT,
    SAMPLE_FASTQ,
    failure_log,
    fake_aws,
    load_job,
    patch_s3_client,
    run_job_process,
    shared,
    sigterm_mid_read,
    stubbed_s3,
    subprocess_env,
)
from moto import mock_aws

JOB_PATH = ROOT / "jobs" / "fastq_compress" / "fastq_compress.py"

METRIC_KEYS = {
    "input_bytes",
    "output_bytes",
    "compression_ratio",
    "blocks",
    "threads",
    "level",
    "reads",
    "elapsed_seconds",
    "throughput_mib_per_second",
    "input_uri",
    "output_uri",
    "run_id",
    "variant",
}
# The end-of-file block, byte for byte as the SAM/BAM specification prints it.
SPEC_EOF = bytes.fromhex(
    "1f 8b 08 04 00 00 00 00 00 ff 06 00 42 43 02 00 1b 00 03 00 00 00 00 00 00 00 00 00"
)
MAX_BLOCK = 65536


fc = load_job(JOB_PATH, "fastq_compress_job")


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch, tmp_path):
    fake_aws(monkeypatch, tmp_path)


def job_env(input_uri, results_uri, threads=2, **extra):
    env = {
        "RUNLEDGER_INPUT_URI": str(input_uri),
        "RUNLEDGER_RESULTS_URI": str(results_uri),
        "RUNLEDGER_RUN_ID": "run-0001",
        "RUNLEDGER_VARIANT": "baseline",
        "RUNLEDGER_COMPRESS_THREADS": str(threads),
    }
    env.update(extra)
    return env


def run_local(tmp_path, content, name="reads.fastq", threads=2, **extra):
    """Write ``content`` to a file, run main() on it: (code, metrics or None, output or None)."""
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out" / "metrics.json"
    code = fc.main(job_env(path, out, threads, **extra))
    output = out.parent / "output.fastq.bgz"
    return (
        code,
        json.loads(out.read_text()) if out.exists() else None,
        output.read_bytes() if output.exists() else None,
    )


def synthetic_fastq(reads, seed=26):
    """A FASTQ of ``reads`` records, 100 to 150 bases each, deterministic."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    quality = [chr(c) for c in range(35, 74)]
    lines = []
    for i in range(reads):
        n = rng.randint(100, 150)
        lines += [f"@read{i}", "".join(rng.choices("ACGT", k=n)), "+"]
        lines.append("".join(rng.choices(quality, k=n)))
    return ("\n".join(lines) + "\n").encode()


BIG_FASTQ = synthetic_fastq(1200)  # 313,710 bytes: 4 full blocks and a short one
BIG_BLOCKS = 5


def parse_bgzf(data):
    """The blocks of a BGZF file as (uncompressed payload, whole block size) pairs, checking
    each gzip header, the BC subfield, BSIZE, CRC32 and ISIZE on the way."""
    blocks, pos = [], 0
    while pos < len(data):
        id1, id2, cm, flg, _mtime, _xfl, _os, xlen = struct.unpack_from("<BBBBIBBH", data, pos)
        assert (id1, id2, cm) == (31, 139, 8), f"not a gzip member at {pos}"
        assert flg & 4, "FEXTRA must be set"
        extra, bsize, i = data[pos + 12 : pos + 12 + xlen], None, 0
        while i < xlen:
            si1, si2, slen = struct.unpack_from("<BBH", extra, i)
            if (si1, si2) == (ord("B"), ord("C")):
                assert slen == 2
                (bsize,) = struct.unpack_from("<H", extra, i + 4)
            i += 4 + slen
        assert bsize is not None, f"no BC subfield in the block at {pos}"
        size = bsize + 1
        assert size <= MAX_BLOCK
        block = data[pos : pos + size]
        assert len(block) == size, "BSIZE runs past the end of the file"
        crc, isize = struct.unpack("<II", block[-8:])
        payload = zlib.decompress(block[12 + xlen : -8], -15)  # each block stands alone
        assert len(payload) == isize <= MAX_BLOCK
        assert zlib.crc32(payload) == crc
        blocks.append((payload, size))
        pos += size
    return blocks


# --------------------------------------------------------------------------- output


def test_sample_round_trips_and_metrics_are_consistent(tmp_path):
    content = SAMPLE_FASTQ.read_bytes()

    code, metrics, output = run_local(tmp_path, content)

    assert code == 0
    assert gzip.decompress(output) == content
    assert set(metrics) == METRIC_KEYS
    assert metrics["input_bytes"] == len(content) == 55696
    assert metrics["output_bytes"] == len(output)
    assert metrics["compression_ratio"] == round(len(content) / len(output), 4)
    assert metrics["blocks"] == len(parse_bgzf(output)) - 1 == 1
    assert (metrics["threads"], metrics["level"], metrics["reads"]) == (2, 6, 200)
    assert isinstance(metrics["elapsed_seconds"], float)
    assert metrics["throughput_mib_per_second"] >= 0
    assert metrics["input_uri"] == str(tmp_path / "reads.fastq")
    assert metrics["output_uri"] == str(tmp_path / "out" / "output.fastq.bgz")
    assert (metrics["run_id"], metrics["variant"]) == ("run-0001", "baseline")


def test_output_is_bgzf_blocks_of_at_most_64k_in_order_then_the_eof_block(tmp_path):
    code, metrics, output = run_local(tmp_path, BIG_FASTQ)

    assert code == 0
    blocks = parse_bgzf(output)
    payloads = [payload for payload, _ in blocks]
    assert b"".join(payloads) == BIG_FASTQ
    assert [len(p) for p in payloads[:-2]] == [fc.BLOCK_SIZE] * (len(blocks) - 2)
    assert output.endswith(SPEC_EOF)
    assert blocks[-1] == (b"", 28)
    assert b"" not in payloads[:-1]  # the only empty block is the last one
    assert metrics["blocks"] == len(blocks) - 1 == BIG_BLOCKS
    assert metrics["reads"] == 1200
    with gzip.open(io.BytesIO(output)) as stream:  # streaming gzip readers see it too
        assert stream.read() == BIG_FASTQ


def test_the_eof_block_is_an_empty_data_block():
    assert fc.BGZF_EOF == SPEC_EOF
    assert fc.bgzf_block(b"", 6) == SPEC_EOF


@pytest.mark.parametrize("level", [1, 9])
def test_incompressible_blocks_still_fit_in_64k(level):
    data = random.Random(level).randbytes(fc.BLOCK_SIZE)  # noqa: S311 (test data)

    ((payload, size),) = parse_bgzf(fc.bgzf_block(data, level))

    assert payload == data
    assert size <= MAX_BLOCK


@pytest.mark.parametrize("name", ["reads.fastq.gz", "reads.bin"])
def test_gzip_input_is_decompressed_first(tmp_path, name):
    code, metrics, output = run_local(tmp_path, gzip.compress(BIG_FASTQ, mtime=0), name=name)

    assert code == 0
    assert gzip.decompress(output) == BIG_FASTQ
    assert metrics["input_bytes"] == len(BIG_FASTQ)
    assert metrics["reads"] == 1200


def test_output_is_identical_whatever_the_thread_count_and_the_pool_has_that_many(
    tmp_path, monkeypatch
):
    pools, workers = [], set()
    real_compress = fc.compress_block

    class RecordingPool(fc.ThreadPoolExecutor):
        def __init__(self, max_workers, thread_name_prefix=""):
            pools.append((max_workers, thread_name_prefix))
            super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)

    def compress(data, level):
        workers.add(threading.current_thread().name)
        return real_compress(data, level)

    monkeypatch.setattr(fc, "ThreadPoolExecutor", RecordingPool)
    monkeypatch.setattr(fc, "compress_block", compress)
    outputs = {}
    for threads in (1, 2, 3, 8):
        pools.clear()
        workers.clear()
        code, metrics, output = run_local(tmp_path, BIG_FASTQ, threads=threads)
        assert code == 0
        assert metrics["threads"] == threads
        assert pools == [(threads, "bgzf")]
        assert workers
        assert all(name.startswith("bgzf") for name in workers)
        assert len(workers) <= threads
        outputs[threads] = output

    assert len(set(outputs.values())) == 1
    assert gzip.decompress(outputs[1]) == BIG_FASTQ


def test_blocks_in_flight_are_bounded(monkeypatch):
    """The reader never gets more than threads * IN_FLIGHT_PER_THREAD blocks ahead."""
    threads, block = 2, 1000
    limit = threads * fc.IN_FLIGHT_PER_THREAD
    monkeypatch.setattr(fc, "BLOCK_SIZE", block)
    ahead = []

    class Sink:
        bytes_written = 0
        blocks = 0

        def write(self, data):
            self.blocks += 1

    sink = Sink()

    class Stream:
        def __init__(self):
            self._buf = io.BytesIO(b"@" + b"x" * (block * 40))
            self.blocks = 0

        def read(self, size):
            ahead.append(self.blocks - sink.blocks)
            data = self._buf.read(size)
            self.blocks += bool(data)
            return data

    totals = fc.compress_stream(Stream(), sink, uri="mem", level=1, threads=threads, on_block=None)

    assert totals.blocks == 41
    assert sink.blocks == 42  # and the EOF block
    assert max(ahead) <= limit


def test_level_is_honoured(tmp_path):
    sizes = {}
    for level in (1, 9):
        code, metrics, output = run_local(tmp_path, BIG_FASTQ, RUNLEDGER_COMPRESS_LEVEL=str(level))
        assert code == 0
        assert metrics["level"] == level
        assert gzip.decompress(output) == BIG_FASTQ
        sizes[level] = len(output)
    assert sizes[9] < sizes[1]


def test_empty_input_gives_just_the_eof_block(tmp_path):
    code, metrics, output = run_local(tmp_path, b"")

    assert code == 0
    assert output == SPEC_EOF
    assert (metrics["blocks"], metrics["reads"], metrics["output_bytes"]) == (0, 0, 28)
    assert metrics["compression_ratio"] == 0.0


@pytest.mark.parametrize(
    ("content", "reads"),
    [
        (b"@r1\nACGT\n+\nIIII\n@r2\nAC\n+\nII", 2),  # no final newline
        (b"\n@r1\nACGT\n+\nIIII", 1),
        (b">r1\nACGT\n", 0),  # FASTA: not FASTQ
        (b"\x00\x01binary\n", 0),
    ],
)
def test_reads_are_fastq_records(tmp_path, content, reads):
    code, metrics, output = run_local(tmp_path, content)

    assert code == 0
    assert metrics["reads"] == reads
    assert gzip.decompress(output) == content


def test_relative_results_path_puts_the_output_beside_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.fastq").write_bytes(SAMPLE_FASTQ.read_bytes())

    assert fc.main(job_env("in.fastq", "metrics.json")) == 0

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["output_uri"] == "output.fastq.bgz"
    assert (tmp_path / "output.fastq.bgz").stat().st_size == metrics["output_bytes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.fastq",
        "metrics.json",
        "output.fastq.bgz",
    ]


@pytest.mark.parametrize(
    ("results", "output"),
    [
        ("s3://b/runs/r1/od-2vcpu/metrics.json", "s3://b/runs/r1/od-2vcpu/output.fastq.bgz"),
        ("s3://b/metrics.json", "s3://b/output.fastq.bgz"),
        ("file:///tmp/a%20b/m.json", "file:///tmp/a%20b/output.fastq.bgz"),
        ("out/m.json", "out/output.fastq.bgz"),
        ("m.json", "output.fastq.bgz"),
    ],
)
def test_output_uri_is_in_the_results_directory(results, output):
    assert fc.output_uri_for(results) == output


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        (None, 3),  # no cgroup v2 file
        ("max 100000\n", 3),
        ("200000 100000\n", 2),
        ("150000 100000\n", 2),  # 1.5 CPUs: round up
        ("50000 100000\n", 1),
        ("800000 100000\n", 3),  # a quota above the affinity mask
        ("garbage\n", 3),
    ],
)
def test_default_threads_are_the_cpus_the_container_may_use(
    tmp_path, monkeypatch, cpu_max, expected
):
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    monkeypatch.setattr(fc, "CGROUP_CPU_MAX", path)
    monkeypatch.setattr(fc.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    env = job_env(SAMPLE_FASTQ, tmp_path / "m.json")
    del env["RUNLEDGER_COMPRESS_THREADS"]

    config = fc.load_config(env)

    assert config.threads == expected
    assert "sched_getaffinity: 3" in config.threads_from


# --------------------------------------------------------------------------- exit code 2


@pytest.mark.parametrize("missing", fc.REQUIRED_ENV)
def test_missing_required_env_var_exits_2(tmp_path, capsys, missing):
    out = tmp_path / "m.json"
    env = job_env(SAMPLE_FASTQ, out)
    del env[missing]

    assert fc.main(env) == 2
    record = failure_log(capsys)
    assert missing in record["error"]
    assert record["retryable"] is False
    assert not out.exists()


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("RUNLEDGER_COMPRESS_LEVEL", "0", "between 1 and 9, got 0"),
        ("RUNLEDGER_COMPRESS_LEVEL", "10", "between 1 and 9, got 10"),
        ("RUNLEDGER_COMPRESS_LEVEL", "fast", "must be an integer, got 'fast'"),
        ("RUNLEDGER_COMPRESS_LEVEL", "6.5", "must be an integer"),
        ("RUNLEDGER_COMPRESS_THREADS", "0", "between 1 and 256, got 0"),
        ("RUNLEDGER_COMPRESS_THREADS", "-2", "between 1 and 256"),
        ("RUNLEDGER_COMPRESS_THREADS", "100000", "between 1 and 256"),
        ("RUNLEDGER_COMPRESS_THREADS", "four", "must be an integer"),
        ("RUNLEDGER_INPUT_URI", "https://example.com/reads.fastq", "unsupported scheme"),
        ("RUNLEDGER_INPUT_URI", "s3://just-a-bucket", "s3://bucket/key"),
        ("RUNLEDGER_RESULTS_URI", "s3://bucket/prefix/", "s3://bucket/key"),
        ("RUNLEDGER_RESULTS_URI", "file://otherhost/tmp/m.json", "file:///absolute/path"),
        ("RUNLEDGER_RESULTS_URI", "s3://bucket/run/output.fastq.bgz", "must not be named"),
    ],
)
def test_bad_configuration_exits_2_before_reading(
    tmp_path, capsys, monkeypatch, var, value, message
):
    def no_s3(config=None):
        raise AssertionError("must not reach S3")

    patch_s3_client(monkeypatch, no_s3)
    env = job_env(SAMPLE_FASTQ, tmp_path / "m.json", **{var: value})

    assert fc.main(env) == 2
    record = failure_log(capsys)
    assert record["error_kind"] == "config"
    assert var in record["error"]
    assert message in record["error"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (gzip.compress(BIG_FASTQ, mtime=0)[:-12], "reads.fastq.gz", "cannot read input"),
        (SAMPLE_FASTQ.read_bytes(), "reads.fastq.gz", "Not a gzipped file"),
    ],
)
def test_bad_gzip_input_exits_2_and_leaves_no_output(tmp_path, capsys, content, name, message):
    code, metrics, output = run_local(tmp_path, content, name=name)

    assert code == 2
    assert (metrics, output) == (None, None)
    record = failure_log(capsys)
    assert record["error_kind"] == "input"
    assert message in record["error"]
    assert list((tmp_path / "out").iterdir()) == []  # the temporary file is gone too


def test_missing_input_exits_2(tmp_path, capsys):
    assert fc.main(job_env(tmp_path / "absent.fastq", tmp_path / "out" / "m.json")) == 2
    assert "No such file" in failure_log(capsys)["error"]
    assert not (tmp_path / "out").exists()


def test_unwritable_output_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    assert fc.main(job_env(SAMPLE_FASTQ, blocker / "m.json")) == 2
    assert "cannot write output" in failure_log(capsys)["error"]


# --------------------------------------------------------------------------- exit code 75


def test_transient_s3_get_error_exits_75(tmp_path, capsys, monkeypatch):
    stubber = stubbed_s3(monkeypatch)
    stubber.add_client_error(
        "get_object",
        service_error_code="SlowDown",
        http_status_code=503,
        expected_params={"Bucket": "in-bucket", "Key": "reads.fastq"},
    )
    out = tmp_path / "m.json"

    with stubber:
        assert fc.main(job_env("s3://in-bucket/reads.fastq", out)) == 75

    stubber.assert_no_pending_responses()
    record = failure_log(capsys)
    assert (record["exit_code"], record["retryable"]) == (75, True)
    assert "SlowDown" in record["error"]
    assert list(tmp_path.iterdir()) == []


def test_throttled_part_upload_exits_75_and_aborts_the_upload(tmp_path, capsys, monkeypatch):
    target = {"Bucket": "out-bucket", "Key": "runs/run-0001/baseline/output.fastq.bgz"}
    stubber = stubbed_s3(monkeypatch)
    stubber.add_response(
        "create_multipart_upload",
        {"UploadId": "upload-1", **target},
        {**target, "ContentType": "application/gzip"},
    )
    stubber.add_client_error(
        "upload_part",
        service_error_code="SlowDown",
        http_status_code=503,
        expected_params={**target, "UploadId": "upload-1", "PartNumber": 1, "Body": ANY},
    )
    stubber.add_response("abort_multipart_upload", {}, {**target, "UploadId": "upload-1"})

    with stubber:
        code = fc.main(job_env(SAMPLE_FASTQ, "s3://out-bucket/runs/run-0001/baseline/m.json"))

    assert code == 75
    stubber.assert_no_pending_responses()
    record = failure_log(capsys)
    assert "UploadPart 1" in record["error"]
    assert record["retryable"] is True


def test_part_sizes_grow_every_step_of_parts(monkeypatch):
    monkeypatch.setattr(fc, "PART_SIZE", 10)
    monkeypatch.setattr(fc, "PARTS_PER_SIZE_STEP", 2)
    uploaded, completed = [], []

    class Client:
        def create_multipart_upload(self, **kwargs):
            return {"UploadId": "u"}

        def upload_part(self, **kwargs):
            uploaded.append((kwargs["PartNumber"], len(kwargs["Body"])))
            return {"ETag": f'"{kwargs["PartNumber"]}"'}

        def complete_multipart_upload(self, **kwargs):
            completed.append(kwargs["MultipartUpload"]["Parts"])

    patch_s3_client(monkeypatch, lambda config=None: Client())
    sink = fc._S3Sink(shared.parse_location("s3://b/k", "test"), "s3://b/k")
    for _ in range(20):
        sink.write(b"12345")
    sink.commit()

    assert uploaded == [(1, 10), (2, 10), (3, 20), (4, 20), (5, 30), (6, 10)]
    assert completed == [[{"ETag": f'"{n}"', "PartNumber": n} for n in range(1, 7)]]
    assert sink.bytes_written == 100


# --------------------------------------------------------------------------- S3 with moto


@mock_aws
def test_s3_input_and_multipart_output_with_moto(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "PART_SIZE", 100_000)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="runledger-inputs")
    s3.create_bucket(Bucket="runledger-results")
    s3.put_object(
        Bucket="runledger-inputs",
        Key="samples/big.fastq.gz",
        Body=gzip.compress(BIG_FASTQ),
    )
    input_uri = "s3://runledger-inputs/samples/big.fastq.gz"
    prefix = "runs/run-0001/baseline"

    code = fc.main(job_env(input_uri, f"s3://runledger-results/{prefix}/metrics.json"))

    assert code == 0
    metrics = json.loads(
        s3.get_object(Bucket="runledger-results", Key=f"{prefix}/metrics.json")["Body"].read()
    )
    obj = s3.get_object(Bucket="runledger-results", Key=f"{prefix}/output.fastq.bgz")
    output = obj["Body"].read()
    assert gzip.decompress(output) == BIG_FASTQ
    assert obj["ContentType"] == "application/gzip"
    assert obj["ETag"].strip('"').endswith("-2")  # two parts
    assert metrics["output_bytes"] == obj["ContentLength"] == len(output)
    assert metrics["output_uri"] == f"s3://runledger-results/{prefix}/output.fastq.bgz"
    assert metrics["input_uri"] == input_uri
    assert metrics["reads"] == 1200


# --------------------------------------------------------------------------- logging


def test_structured_log_lines_per_phase(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fc, "PROGRESS_EVERY_BLOCKS", 2)

    code, metrics, _ = run_local(tmp_path, BIG_FASTQ, RUNLEDGER_COMPRESS_LEVEL="3")

    assert code == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["phase"] for r in records] == ["started", "progress", "progress", "finished"]
    assert all(r["level"] == "INFO" for r in records)
    assert all(r["run_id"] == "run-0001" and r["variant"] == "baseline" for r in records)
    started, finished = records[0], records[-1]
    assert (started["threads"], started["compress_level"]) == (2, 3)
    assert started["threads_from"] == "RUNLEDGER_COMPRESS_THREADS"
    assert [r["blocks"] for r in records[1:3]] == [2, 4]
    assert finished["exit_code"] == 0
    assert finished["output_bytes"] == metrics["output_bytes"]
    assert finished["compress_level"] == 3


# --------------------------------------------------------------------------- as a process


def test_subprocess_on_sample_fastq(tmp_path):
    out = tmp_path / "results" / "metrics.json"
    env = subprocess_env(**job_env("events/data/sample.fastq", out, threads=4))

    proc = run_job_process(JOB_PATH, env)

    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    output = (out.parent / "output.fastq.bgz").read_bytes()
    assert gzip.decompress(output) == SAMPLE_FASTQ.read_bytes()
    assert (metrics["reads"], metrics["threads"], metrics["output_bytes"]) == (
        200,
        4,
        len(output),
    )
    phases = [json.loads(line)["phase"] for line in proc.stdout.splitlines()]
    assert phases == ["started", "finished"]


def test_subprocess_sigterm_exits_75_and_leaves_no_output(tmp_path):
    """A Spot reclaim (SIGTERM) mid-read asks Batch for a retry."""
    fifo = tmp_path / "reads.fastq"
    results = tmp_path / "out"
    env = subprocess_env(**job_env(fifo, results / "m.json"))

    def output_open(deadline):
        while not (results.exists() and any(results.iterdir())):  # the output is open
            assert time.monotonic() < deadline, "job never opened its output"
            time.sleep(0.02)

    returncode, stderr = sigterm_mid_read(JOB_PATH, fifo, env, until=output_open)

    assert returncode == 75
    record = json.loads(stderr.strip().splitlines()[-1])
    assert record["error_kind"] == "interrupted"
    assert "SIGTERM" in record["error"]
    assert list(results.iterdir()) == []
