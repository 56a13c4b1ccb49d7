"""Tests for the kmer-count Batch job (jobs/kmer_count/kmer_count.py).

Expected k-mer counts are either written out by hand or produced by ``naive_counts`` below,
a deliberately different (character-by-character) computation from the program's.
"""

import gzip
import io
import json
import socket
import time

import boto3
import botocore.exceptions as bce
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

JOB_PATH = ROOT / "jobs" / "kmer_count" / "kmer_count.py"
SAMPLE_FASTA = ROOT / "events" / "data" / "sample.fasta"

METRIC_KEYS = {
    "reads",
    "bases",
    "k",
    "total_kmers",
    "distinct_kmers",
    "gc_fraction",
    "top_kmers",
    "elapsed_seconds",
    "input_uri",
    "run_id",
    "variant",
}


kc = load_job(JOB_PATH, "kmer_count_job")


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch, tmp_path):
    fake_aws(monkeypatch, tmp_path)


def job_env(input_uri, results_uri, k=3, **extra):
    env = {
        "RUNLEDGER_INPUT_URI": str(input_uri),
        "RUNLEDGER_KMER_K": str(k),
        "RUNLEDGER_RESULTS_URI": str(results_uri),
        "RUNLEDGER_RUN_ID": "run-0001",
        "RUNLEDGER_VARIANT": "baseline",
    }
    env.update(extra)
    return env


def run_local(tmp_path, content, k, name="reads.fastq", **extra):
    """Write `content` (str or bytes) to a file, run main() on it, return (code, metrics)."""
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    out = tmp_path / "out" / "metrics.json"
    code = kc.main(job_env(path, out, k, **extra))
    return code, (json.loads(out.read_text()) if out.exists() else None)


def naive_counts(seqs, k):
    complement = {"A": "T", "C": "G", "G": "C", "T": "A"}
    counts = {}
    for seq in seqs:
        seq = seq.upper()
        for i in range(len(seq) - k + 1):
            kmer = seq[i : i + k]
            if all(base in complement for base in kmer):
                rc = "".join(complement[base] for base in reversed(kmer))
                canonical = kmer if kmer <= rc else rc
                counts[canonical] = counts.get(canonical, 0) + 1
    return counts


def naive_metrics(seqs, k):
    counts = naive_counts(seqs, k)
    joined = "".join(seqs).upper()
    acgt = sum(joined.count(b) for b in "ACGT")
    gc = joined.count("G") + joined.count("C")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {
        "reads": len(seqs),
        "bases": len(joined),
        "k": k,
        "total_kmers": sum(counts.values()),
        "distinct_kmers": len(counts),
        "gc_fraction": gc / acgt,
        "top_kmers": [[kmer, n] for kmer, n in ranked[:10]],
    }


def sample_fastq_sequences():
    return SAMPLE_FASTQ.read_text().splitlines()[1::4]


def assert_matches_naive(metrics, expected):
    assert set(metrics) == METRIC_KEYS
    for key in ("reads", "bases", "k", "total_kmers", "distinct_kmers", "top_kmers"):
        assert metrics[key] == expected[key], key
    assert metrics["gc_fraction"] == pytest.approx(expected["gc_fraction"], abs=1e-6)
    assert isinstance(metrics["elapsed_seconds"], float)
    assert metrics["elapsed_seconds"] >= 0


TINY_FASTQ = "@r1\nACGTA\n+\nIIIII\n@r2 lower-case\nttacg\n+r2\nIIIII\n"
# By hand, k=3:
#   ACGTA -> ACG (rc CGT) ACG | CGT (rc ACG) ACG | GTA (rc TAC) GTA
#   TTACG -> TTA (rc TAA) TAA | TAC (rc GTA) GTA | ACG         ACG
TINY_EXPECTED = {"ACG": 3, "GTA": 2, "TAA": 1}


# --------------------------------------------------------------------------- counting


def test_fastq_counts_match_hand_computation(tmp_path):
    code, metrics = run_local(tmp_path, TINY_FASTQ, k=3)

    assert code == 0
    assert set(metrics) == METRIC_KEYS
    assert metrics["reads"] == 2
    assert metrics["bases"] == 10
    assert metrics["k"] == 3
    assert metrics["total_kmers"] == sum(TINY_EXPECTED.values()) == 6
    assert metrics["distinct_kmers"] == 3
    assert metrics["gc_fraction"] == pytest.approx(4 / 10)
    assert metrics["top_kmers"] == [["ACG", 3], ["GTA", 2], ["TAA", 1]]
    assert metrics["run_id"] == "run-0001"
    assert metrics["variant"] == "baseline"
    assert metrics["input_uri"] == str(tmp_path / "reads.fastq")


def test_fasta_kmers_span_line_breaks_but_not_records(tmp_path):
    fasta = ">r1 two lines\nACG\nTAC\n\n>r2\nGGGNCC\n"
    # r1 = ACGTAC: ACG, CGT->ACG, GTA, TAC->GTA (CGT and GTA cross the line break).
    # r2 = GGGNCC: GGG->CCC only. Nothing may join r1's "AC" with r2's "G".
    out = tmp_path / "fasta-metrics.json"
    path = tmp_path / "reads.fa"
    path.write_text(fasta)

    code = kc.main(job_env(f"file://{path}", f"file://{out}", k=3))

    metrics = json.loads(out.read_text())
    assert code == 0
    assert metrics["reads"] == 2
    assert metrics["bases"] == 12
    assert metrics["top_kmers"] == [["ACG", 2], ["GTA", 2], ["CCC", 1]]
    assert metrics["total_kmers"] == 5
    assert metrics["gc_fraction"] == pytest.approx(8 / 11)


def test_n_and_iupac_codes_break_kmers_but_count_as_bases(tmp_path):
    fastq = "@a\nACGNTTA\n+\nIIIIIII\n@b\nNNNN\n+\nIIII\n@c\nACRGT\n+\nIIIII\n"
    # k=2 by hand: ACGNTTA -> AC, CG, TT->AA, TA ; NNNN -> none ; ACRGT -> AC, GT->AC
    code, metrics = run_local(tmp_path, fastq, k=2)

    assert code == 0
    assert metrics["reads"] == 3
    assert metrics["bases"] == 16
    assert metrics["total_kmers"] == 6
    assert metrics["top_kmers"] == [["AC", 3], ["AA", 1], ["CG", 1], ["TA", 1]]
    assert metrics["gc_fraction"] == pytest.approx(4 / 10)  # GC over A/C/G/T only


def test_top_kmers_is_ten_long_with_ties_broken_alphabetically(tmp_path):
    # One 3-mer per record, fed in reverse alphabetical order, some as reverse complements.
    kmers = ["GTG", "TTG", "CAT", "ATC", "ATA", "CCT", "GCT", "AGA", "AGT", "ACG", "GGT"]
    kmers += ["ACA", "AAA", "TTT"]
    fasta = "".join(f">r{i}\n{kmer}\n" for i, kmer in enumerate(kmers))

    code, metrics = run_local(tmp_path, fasta, k=3, name="one-per-record.fasta")

    assert code == 0
    assert metrics["distinct_kmers"] == 13
    assert metrics["top_kmers"] == [
        ["AAA", 2],
        ["ACA", 1],
        ["ACC", 1],
        ["ACG", 1],
        ["ACT", 1],
        ["AGA", 1],
        ["AGC", 1],
        ["AGG", 1],
        ["ATA", 1],
        ["ATC", 1],
    ]


@pytest.mark.parametrize("k", [1, 5, 31])
def test_sample_fasta_matches_naive_computation(tmp_path, k):
    records, current = [], None
    for line in SAMPLE_FASTA.read_text().splitlines():
        if line.startswith(">"):
            current = []
            records.append(current)
        else:
            current.append(line)
    seqs = ["".join(parts) for parts in records]

    out = tmp_path / "m.json"
    code = kc.main(job_env(SAMPLE_FASTA, out, k))

    assert code == 0
    assert_matches_naive(json.loads(out.read_text()), naive_metrics(seqs, k))


@pytest.mark.parametrize("name", ["reads.fastq.gz", "reads.bin"])
def test_gzip_input_detected_by_suffix_or_magic(tmp_path, name):
    code, metrics = run_local(tmp_path, gzip.compress(TINY_FASTQ.encode()), k=3, name=name)

    assert code == 0
    assert metrics["reads"] == 2
    assert metrics["top_kmers"] == [["ACG", 3], ["GTA", 2], ["TAA", 1]]


def test_input_is_streamed_in_bounded_chunks(tmp_path, monkeypatch):
    """The S3 body is read in bounded chunks, never with a bare read() of everything."""
    payload = gzip.compress(("@r\nACGTACGTAC\n+\nIIIIIIIIII\n" * 50).encode())
    requested = []

    class Body:
        def __init__(self):
            self._buf = io.BytesIO(payload)

        def read(self, amt=None):
            requested.append(amt)
            return self._buf.read(amt)

        def close(self):
            pass

    class Client:
        def get_object(self, Bucket, Key):
            assert (Bucket, Key) == ("in-bucket", "big.fastq.gz")
            return {"Body": Body()}

    monkeypatch.setattr(shared, "READ_CHUNK", 64)
    patch_s3_client(monkeypatch, Client)
    out = tmp_path / "m.json"

    code = kc.main(job_env("s3://in-bucket/big.fastq.gz", out, k=4))

    assert code == 0
    assert json.loads(out.read_text())["reads"] == 50
    assert None not in requested
    assert max(requested) <= 64
    assert len(requested) >= len(payload) // 64


# --------------------------------------------------------------------------- exit code 2


@pytest.mark.parametrize("missing", kc.REQUIRED_ENV)
def test_missing_required_env_var_exits_2(tmp_path, capsys, missing):
    out = tmp_path / "m.json"
    env = job_env(SAMPLE_FASTQ, out)
    del env[missing]

    assert kc.main(env) == 2
    record = failure_log(capsys)
    assert missing in record["error"]
    assert record["retryable"] is False
    assert not out.exists()


@pytest.mark.parametrize("k", ["0", "32", "-1", "abc", "3.5", " "])
def test_bad_k_exits_2(tmp_path, capsys, k):
    out = tmp_path / "m.json"

    assert kc.main(job_env(SAMPLE_FASTQ, out, k)) == 2
    assert "RUNLEDGER_KMER_K" in failure_log(capsys)["error"]
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("@r1\nACGT\n+\nIII\n", "quality length 3 != sequence length 4"),
        ("@r1\nACGT\nIIII\n@r2\n", "'+' separator"),
        ("@r1\nACGT\n+\n", "truncated FASTQ record"),
        ("@r1\nAC GT\n+\nIIIII\n", "non-letter"),
        ("@r1\nACGT\n+\nIIII\nr2\nACGT\n+\nIIII\n", "line 5"),
        ("hello world\n", "unrecognised format"),
        ("\n\n", "input is empty"),
        (">r1\nAC-GT\n", "non-letter"),
        (b"@r1\nAC\xffT\n+\nIIII\n", "not ASCII"),
        (gzip.compress(TINY_FASTQ.encode(), mtime=0)[:-12], "cannot read input"),
        (TINY_FASTQ, "Not a gzipped file"),  # .gz name, plain content
    ],
)
def test_malformed_input_exits_2(tmp_path, capsys, content, message):
    name = "reads.fastq.gz" if message == "Not a gzipped file" else "reads.fastq"

    code, metrics = run_local(tmp_path, content, k=3, name=name)

    assert code == 2
    assert metrics is None
    record = failure_log(capsys)
    assert record["error_kind"] == "input"
    assert message in record["error"]


def test_missing_or_directory_input_exits_2(tmp_path, capsys):
    out = tmp_path / "m.json"

    assert kc.main(job_env(tmp_path / "absent.fastq", out)) == 2
    assert "No such file" in failure_log(capsys)["error"]
    assert kc.main(job_env(tmp_path, out)) == 2
    assert not out.exists()


@pytest.mark.parametrize(
    ("var", "uri"),
    [
        ("RUNLEDGER_INPUT_URI", "https://example.com/reads.fastq"),
        ("RUNLEDGER_INPUT_URI", "s3://just-a-bucket"),
        ("RUNLEDGER_RESULTS_URI", "s3://bucket/prefix/"),
        ("RUNLEDGER_RESULTS_URI", "file://otherhost/tmp/m.json"),
    ],
)
def test_unusable_uri_exits_2_before_reading(tmp_path, capsys, monkeypatch, var, uri):
    def no_s3():
        raise AssertionError("must not reach S3")

    patch_s3_client(monkeypatch, no_s3)
    env = job_env(SAMPLE_FASTQ, tmp_path / "m.json")
    env[var] = uri

    assert kc.main(env) == 2
    assert var in failure_log(capsys)["error"]


def test_unwritable_results_path_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    assert kc.main(job_env(SAMPLE_FASTQ, blocker / "m.json")) == 2
    assert "cannot write results" in failure_log(capsys)["error"]


# --------------------------------------------------------------------------- exit code 75


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("SlowDown", 503),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("RequestTimeout", 400),
        ("BadGateway", 502),  # unknown code: any 5xx is transient
    ],
)
def test_transient_s3_get_error_exits_75(tmp_path, capsys, monkeypatch, code, status):
    stubber = stubbed_s3(monkeypatch)
    stubber.add_client_error(
        "get_object",
        service_error_code=code,
        http_status_code=status,
        expected_params={"Bucket": "in-bucket", "Key": "reads.fastq"},
    )
    out = tmp_path / "m.json"

    with stubber:
        assert kc.main(job_env("s3://in-bucket/reads.fastq", out)) == 75

    stubber.assert_no_pending_responses()
    record = failure_log(capsys)
    assert record["exit_code"] == 75
    assert record["retryable"] is True
    assert code in record["error"]
    assert not out.exists()


def test_access_denied_is_permanent_exit_2(tmp_path, capsys, monkeypatch):
    stubber = stubbed_s3(monkeypatch)
    stubber.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)

    with stubber:
        assert kc.main(job_env("s3://in-bucket/reads.fastq", tmp_path / "m.json")) == 2

    assert failure_log(capsys)["retryable"] is False


def test_throttled_results_upload_exits_75(tmp_path, capsys, monkeypatch):
    stubber = stubbed_s3(monkeypatch)
    stubber.add_client_error(
        "put_object",
        service_error_code="SlowDown",
        http_status_code=503,
        expected_params={
            "Bucket": "out-bucket",
            "Key": "runs/run-0001/metrics.json",
            "Body": ANY,
            "ContentType": "application/json",
        },
    )
    with stubber:
        code = kc.main(job_env(SAMPLE_FASTQ, "s3://out-bucket/runs/run-0001/metrics.json"))

    assert code == 75
    stubber.assert_no_pending_responses()
    assert "PutObject" in failure_log(capsys)["error"]


def test_connection_refused_exits_75(tmp_path, capsys, monkeypatch):
    with socket.socket() as sock:  # find a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    assert kc.main(job_env("s3://in-bucket/reads.fastq", tmp_path / "m.json")) == 75
    record = failure_log(capsys)
    assert "EndpointConnectionError" in record["error"]
    assert record["error_kind"] == "transient"


def test_connection_drop_mid_stream_exits_75(tmp_path, capsys, monkeypatch):
    class Body:
        calls = 0

        def read(self, amt=None):
            Body.calls += 1
            if Body.calls == 1:
                return b"@r1\nACGT\n+\nIIII\n@r2\nAC"
            raise bce.ResponseStreamingError(error="Connection broken: IncompleteRead")

        def close(self):
            pass

    class Client:
        def get_object(self, Bucket, Key):
            return {"Body": Body()}

    patch_s3_client(monkeypatch, Client)
    out = tmp_path / "m.json"

    assert kc.main(job_env("s3://in-bucket/reads.fastq", out)) == 75
    assert "mid-stream" in failure_log(capsys)["error"]
    assert not out.exists()


# --------------------------------------------------------------------------- S3 with moto


@mock_aws
def test_s3_input_and_output_with_moto(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="runledger-inputs")
    s3.create_bucket(Bucket="runledger-results")
    s3.put_object(
        Bucket="runledger-inputs",
        Key="samples/sample.fastq.gz",
        Body=gzip.compress(SAMPLE_FASTQ.read_bytes()),
    )
    input_uri = "s3://runledger-inputs/samples/sample.fastq.gz"

    code = kc.main(job_env(input_uri, "s3://runledger-results/runs/run-0001/metrics.json", k=7))

    assert code == 0
    obj = s3.get_object(Bucket="runledger-results", Key="runs/run-0001/metrics.json")
    assert obj["ContentType"] == "application/json"
    metrics = json.loads(obj["Body"].read())
    assert_matches_naive(metrics, naive_metrics(sample_fastq_sequences(), 7))
    assert metrics["input_uri"] == input_uri


@mock_aws
def test_s3_missing_key_and_missing_results_bucket_exit_2(tmp_path, capsys):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="runledger-inputs")
    s3.put_object(Bucket="runledger-inputs", Key="r.fastq", Body=TINY_FASTQ.encode())

    assert kc.main(job_env("s3://runledger-inputs/nope.fastq", tmp_path / "m.json")) == 2
    assert "NoSuchKey" in failure_log(capsys)["error"]
    assert kc.main(job_env("s3://runledger-inputs/r.fastq", "s3://no-such-bucket/m.json")) == 2
    assert "NoSuchBucket" in failure_log(capsys)["error"]


# --------------------------------------------------------------------------- logging


def test_structured_log_lines_per_phase(tmp_path, capsys):
    fastq = "".join(f"@r{i}\nACGTT\n+\nIIIII\n" for i in range(5))

    code, _ = run_local(tmp_path, fastq, k=2, RUNLEDGER_PROGRESS_EVERY="2")

    assert code == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["phase"] for r in records] == ["started", "progress", "progress", "finished"]
    assert [r["reads"] for r in records[1:3]] == [2, 4]
    assert all(r["run_id"] == "run-0001" and r["variant"] == "baseline" for r in records)
    finished = records[-1]
    assert finished["reads"] == 5
    assert finished["total_kmers"] == 20
    assert finished["exit_code"] == 0


# --------------------------------------------------------------------------- as a process


def test_subprocess_on_sample_fastq_matches_naive(tmp_path):
    out = tmp_path / "results" / "metrics.json"
    env = subprocess_env(
        **job_env("events/data/sample.fastq", out, k=11, RUNLEDGER_PROGRESS_EVERY="100")
    )

    proc = run_job_process(JOB_PATH, env)

    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    assert_matches_naive(metrics, naive_metrics(sample_fastq_sequences(), 11))
    assert metrics["reads"] == 200
    phases = [json.loads(line)["phase"] for line in proc.stdout.splitlines()]
    assert phases == ["started", "progress", "progress", "finished"]


def test_subprocess_missing_env_exits_2(tmp_path):
    proc = run_job_process(JOB_PATH, subprocess_env())

    assert proc.returncode == 2
    record = json.loads(proc.stderr.strip().splitlines()[-1])
    assert record["level"] == "ERROR"
    assert "RUNLEDGER_INPUT_URI" in record["error"]


def test_subprocess_sigterm_exits_75(tmp_path):
    """A Spot reclaim (SIGTERM) mid-read asks Batch for a retry."""
    fifo = tmp_path / "reads.fastq"
    env = subprocess_env(**job_env(fifo, tmp_path / "m.json"))

    returncode, stderr = sigterm_mid_read(JOB_PATH, fifo, env, until=lambda _: time.sleep(0.3))

    assert returncode == 75
    record = json.loads(stderr.strip().splitlines()[-1])
    assert record["error_kind"] == "interrupted"
    assert "SIGTERM" in record["error"]
