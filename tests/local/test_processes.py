"""Local job processes: a forked ``python SCRIPT`` behaves as the command would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing import forkserver, reduction
from pathlib import Path

import pytest

from runledger_local import processes

SCRIPT = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ),
                  "path0": sys.path[0], "boto3_loaded": "boto3" in sys.modules}))
mode = os.environ.get("MODE")
if mode == "raise":
    raise RuntimeError("boom")
if mode == "sleep":
    import time
    time.sleep(60)
if mode == "text-exit":
    sys.exit("bad configuration")
sys.exit(int(os.environ.get("CODE", "0")))
"""


def same_files(tmp_path: Path) -> dict[str, str]:
    """The variables naming the files the fork server's session read, as the fork server
    has them (it was started with the environment of whichever test started it)."""
    (tmp_path / "files_read.py").write_text(
        "import json, sys\n"
        "print(json.dumps(sys.modules['runledger_local._job_preload']._read_with))\n"
    )
    code, out, _ = run([sys.executable, "files_read.py"], tmp_path, {})
    assert code == 0, out
    return {name: value for name, value in json.loads(out).items() if value is not None}


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "job.py"
    path.write_text(SCRIPT)
    return path


def run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float = 30
) -> tuple[int, str, processes.JobProcess]:
    with tempfile.NamedTemporaryFile() as output:
        process = processes.start(command, cwd=cwd, env=env, output=output)
        code = process.wait(timeout)
        output.seek(0)
        return code, output.read().decode(), process


def forked_output(tmp_path: Path, name: str, source: str, env: dict[str, str]) -> list[str]:
    """The words ``python NAME`` (``source``, written to ``tmp_path``) printed, once it ran
    forked from the warm fork server and exited 0."""
    (tmp_path / name).write_text(source)
    code, out, process = run([sys.executable, name], tmp_path, env)
    assert not isinstance(process, subprocess.Popen)  # forked from the warm fork server
    assert code == 0, out
    return out.split()


def test_python_scripts_are_forked_with_exact_argv_cwd_and_env(
    script: Path, tmp_path: Path
) -> None:
    code, out, process = run(
        [sys.executable, "job.py", "--k", "21"], tmp_path, {"CODE": "7", "ONLY": "this"}
    )
    assert not isinstance(process, subprocess.Popen)  # the fork server ran it
    assert code == 7
    seen = json.loads(out.splitlines()[0])
    assert seen["argv"] == ["--k", "21"]
    assert seen["cwd"] == str(tmp_path)
    assert seen["env"] == {"CODE": "7", "ONLY": "this"}  # nothing of ours leaks in
    assert seen["path0"] == str(tmp_path)  # as `python job.py` sets it
    assert seen["boto3_loaded"] is True  # preloaded by the fork server


def test_forked_jobs_make_clients_from_their_own_environment(tmp_path: Path) -> None:
    # The fork server made an S3 client of its own (fake keys, us-east-1, a dead endpoint)
    # to warm botocore's caches: none of it may reach a job's clients.
    script = (
        "import boto3\n"
        "warm = boto3.DEFAULT_SESSION is not None\n"
        "s3 = boto3.client('s3')\n"
        "keys = s3._request_signer._credentials\n"
        "print(warm, s3.meta.region_name, s3.meta.endpoint_url, keys.access_key)\n"
    )
    env = {
        **same_files(tmp_path),  # the fork server's warm session is kept
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ACCESS_KEY_ID": "job-key",
        "AWS_SECRET_ACCESS_KEY": "job-secret",
    }

    out = forked_output(tmp_path, "client.py", script, env)

    assert out == ["True", "eu-west-3", "http://127.0.0.1:4566", "job-key"]


def test_forked_jobs_read_their_own_aws_config_and_credentials_files(tmp_path: Path) -> None:
    # The fork server's session read the fork server's ~/.aws files (and kept what it read):
    # a job whose environment names other files, or another home, reads those instead.
    (tmp_path / "config").write_text("[profile job]\nregion = ap-south-2\n")
    (tmp_path / "credentials").write_text(
        "[job]\naws_access_key_id = file-key\naws_secret_access_key = file-secret\n"
    )
    script = (
        "import boto3\n"
        "warm = boto3.DEFAULT_SESSION is not None\n"
        "s3 = boto3.client('s3')\n"
        "print(warm, s3.meta.region_name, s3._request_signer._credentials.access_key)\n"
    )
    env = {
        **same_files(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_PROFILE": "job",
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    out = forked_output(tmp_path, "files.py", script, env)

    assert out == ["False", "ap-south-2", "file-key"]


def test_the_fork_server_loads_boto3_but_not_the_local_clouds_logging(tmp_path: Path) -> None:
    # runledger_local's logs use Powertools; the fork server imports only the job preload.
    script = (
        "import sys\n"
        "powertools = any(m.startswith('aws_lambda_powertools') for m in sys.modules)\n"
        "print('boto3' in sys.modules, powertools)\n"
    )
    assert forked_output(tmp_path, "modules.py", script, {}) == ["True", "False"]


def test_forked_jobs_find_the_first_requests_work_done_and_share_rule_sets(
    tmp_path: Path,
) -> None:
    # What the fork server did once, each job need not: the host name codec is loaded,
    # and clients resolve endpoints from one rule set object per rule set, correctly.
    script = (
        "import sys, boto3\n"
        "idna = 'encodings.idna' in sys.modules\n"
        "one, two = boto3.client('s3'), boto3.client('s3', region_name='eu-west-1')\n"
        "rules = [c._ruleset_resolver._provider.ruleset for c in (one, two)]\n"
        "url = two._ruleset_resolver.construct_endpoint(\n"
        "    two.meta.service_model.operation_model('ListBuckets'), {}, {}).url\n"
        "print(idna, rules[0] is rules[1], url)\n"
    )
    env = {**same_files(tmp_path), "AWS_DEFAULT_REGION": "us-east-2", "AWS_ACCESS_KEY_ID": "k"}
    env["AWS_SECRET_ACCESS_KEY"] = "s"

    out = forked_output(tmp_path, "warm.py", script, env)

    assert out == ["True", "True", "https://s3.eu-west-1.amazonaws.com"]


def test_a_job_handed_to_the_fork_server_is_unpickled_without_importing_anything() -> None:
    # What the fork server has (multiprocessing's own modules, then PRELOAD, whose import
    # errors it ignores) must be all that a child needs to unpickle the job it is handed;
    # a module imported there is imported again in every job.
    job = processes._ScriptRun("job.py", ["--k", "21"], "/", {"A": "1"}, "/dev/null", b"")
    child = (
        "import json, pickle, sys\n"
        "import multiprocessing.forkserver, multiprocessing.spawn\n"
        "for name in sys.argv[1:]:\n"
        "    __import__(name)\n"
        "before = set(sys.modules)\n"
        "run = pickle.loads(sys.stdin.buffer.read())\n"
        "print(json.dumps([type(run).__name__, run.args, sorted(set(sys.modules) - before)]))\n"
    )

    out = subprocess.run(
        [sys.executable, "-c", child, *processes.PRELOAD],
        input=reduction.ForkingPickler.dumps(job),
        capture_output=True,
        check=True,
    ).stdout

    assert json.loads(out) == ["_ScriptRun", ["--k", "21"], []]


@pytest.mark.parametrize(
    ("mode", "expected_code", "expected_text"),
    [
        ("raise", 1, "RuntimeError: boom"),
        ("text-exit", 1, "bad configuration"),
    ],
)
def test_forked_scripts_exit_as_the_interpreter_would(
    script: Path, tmp_path: Path, mode: str, expected_code: int, expected_text: str
) -> None:
    code, out, _ = run([sys.executable, str(script)], tmp_path, {"MODE": mode})
    assert code == expected_code
    assert expected_text in out


def test_a_forked_job_leads_its_own_process_group_so_a_timeout_kills_it(
    script: Path, tmp_path: Path
) -> None:
    with tempfile.NamedTemporaryFile() as output:
        process = processes.start(
            [sys.executable, "job.py"], cwd=tmp_path, env={"MODE": "sleep"}, output=output
        )
        deadline = time.monotonic() + 10
        while not output.read() and time.monotonic() < deadline:
            time.sleep(0.02)
            output.seek(0)
        assert process.poll() is None
        assert os.getpgid(process.pid) == process.pid
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(10) == -signal.SIGTERM


def test_other_commands_and_the_subprocess_mode_use_popen(
    script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, process = run(["/bin/sh", "-c", "echo hi; exit 4"], tmp_path, {})
    assert isinstance(process, subprocess.Popen)
    assert (code, out) == (4, "hi\n")
    monkeypatch.setenv("RUNLEDGER_LOCAL_JOBS", "subprocess")
    code, out, process = run([sys.executable, "job.py"], tmp_path, {"CODE": "3"})
    assert isinstance(process, subprocess.Popen)
    assert code == 3
    assert json.loads(out.splitlines()[0])["boto3_loaded"] is False


def test_a_missing_script_or_directory_fails_to_start_like_popen(tmp_path: Path) -> None:
    with tempfile.NamedTemporaryFile() as output:
        with pytest.raises(FileNotFoundError, match="can't open file"):
            processes.start([sys.executable, "nope.py"], cwd=tmp_path, env={}, output=output)
        with pytest.raises(FileNotFoundError, match="working directory"):
            processes.start(
                [sys.executable, "/x/nope.py"], cwd=tmp_path / "gone", env={}, output=output
            )


GLOBALS = """
import sys
def later(x: not_defined_anywhere) -> None: ...  # NameError, unless annotations are lazy
"""
MODULE = """
import sys
main = sys.modules["__main__"]
print(__name__, __file__, repr(__package__), __spec__, main.__dict__ is globals(), __doc__)
print(type(__loader__).__name__, __loader__.name, __loader__.path, __cached__)
"""


@pytest.mark.parametrize("source", [GLOBALS, MODULE, "def broken(:\n"])
def test_a_forked_script_runs_as_python_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # The engine compiles the script and the child runs that code: compiled in a module
    # of its own (no `from __future__` of ours), as __main__, failing as python fails.
    (tmp_path / "job.py").write_text(source)
    forked = run([sys.executable, "job.py"], tmp_path, {})
    monkeypatch.setenv("RUNLEDGER_LOCAL_JOBS", "subprocess")
    plain = run([sys.executable, "job.py"], tmp_path, {})
    assert not isinstance(forked[2], subprocess.Popen)
    assert isinstance(plain[2], subprocess.Popen)
    assert forked[0] == plain[0]
    if source == MODULE:
        assert forked[1] == plain[1]
    else:  # the traceback's last line: the error
        assert forked[1].splitlines()[-1] == plain[1].splitlines()[-1]


def test_a_script_is_compiled_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = tmp_path / "job.py"
    job.write_text("print('one')\n")
    compiled = []
    real_compile = compile

    def counting_compile(*args: object, **kwargs: object) -> object:
        compiled.append(args[1])
        return real_compile(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(processes, "compile", counting_compile, raising=False)
    outputs = [run([sys.executable, "job.py"], tmp_path, {})[1] for _ in range(3)]
    assert outputs == ["one\n"] * 3
    assert compiled == [str(job)]
    job.write_text("print('two')\n")  # same size: the modification time tells them apart
    stat = job.stat()
    os.utime(job, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert run([sys.executable, "job.py"], tmp_path, {})[1] == "two\n"
    assert compiled == [str(job)] * 2


AFFINITY = "import os\nprint(sorted(os.sched_getaffinity(0)))\n"


def test_jobs_run_nicer_than_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine sets the pace of every run; jobs take its CPU only while it waits.
    (tmp_path / "nice.py").write_text("import os\nprint(os.getpriority(os.PRIO_PROCESS, 0))\n")
    engine = os.getpriority(os.PRIO_PROCESS, 0)
    expected = min(19, engine + processes.JOB_NICENESS)
    forkserver._forkserver._stop()  # a new server, made nicer when it is placed
    code, forked, process = run([sys.executable, "nice.py"], tmp_path, {})
    assert (code, int(forked)) == (0, expected)
    assert not isinstance(process, subprocess.Popen)
    server = forkserver._forkserver._forkserver_pid
    assert os.getpriority(os.PRIO_PROCESS, server) == expected  # forks at its priority
    monkeypatch.setenv("RUNLEDGER_LOCAL_JOBS", "subprocess")
    code, popened, process = run(["/bin/sh", "-c", "sleep 0.2; nice"], tmp_path, {})
    assert isinstance(process, subprocess.Popen)
    assert (code, int(popened)) == (0, expected)
    assert os.getpriority(os.PRIO_PROCESS, 0) == engine  # the engine keeps its own


def test_the_fork_server_starts_before_the_first_job_unless_jobs_use_popen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forkserver._forkserver._stop()
    monkeypatch.setenv("RUNLEDGER_LOCAL_JOBS", "subprocess")
    processes.start_fork_server()
    assert forkserver._forkserver._forkserver_pid is None  # Popen mode forks nothing
    monkeypatch.delenv("RUNLEDGER_LOCAL_JOBS")
    processes.start_fork_server()
    server = forkserver._forkserver._forkserver_pid
    assert server is not None
    os.kill(server, 0)  # running (raises if not)


def test_jobs_cpu_seconds_counts_ended_forked_and_popened_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "burn.py").write_text(
        "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end:\n    pass\n"
    )
    before = processes.jobs_cpu_seconds()
    code, _, process = run([sys.executable, "burn.py"], tmp_path, {})
    assert code == 0
    assert not isinstance(process, subprocess.Popen)
    forked = processes.jobs_cpu_seconds() - before
    assert 0.28 <= forked < 2.0  # the fork server reaped it: its children's time

    monkeypatch.setenv("RUNLEDGER_LOCAL_JOBS", "subprocess")
    code, _, process = run([sys.executable, "burn.py"], tmp_path, {})
    assert code == 0
    assert isinstance(process, subprocess.Popen)
    popened = processes.jobs_cpu_seconds() - before - forked
    assert 0.28 <= popened < 3.0  # this process reaped it (interpreter start-up included)
