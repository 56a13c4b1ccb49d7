"""Local Batch job processes, started cheaply.

A Batch job runs its job definition's command as a process of its own (see
runledger_local.patches.features.batch_sync). A Python job pays the
interpreter's start and its imports every time: ``python kmer_count.py`` spends ~0.4 s of
CPU importing boto3 before it reads a byte, which for 300 jobs is a minute of CPU on two
cores. So ``python SCRIPT.py ARGS...`` commands are forked from a warm interpreter
(multiprocessing's fork server, with boto3 and its service data already loaded) and run
the script as ``__main__`` with the job's argv, environment (its PYTHONPATH on ``sys.path``,
as python puts it), working directory and output file, in a new session: still one process
per job, with its own exit code, signals and memory. Any other command, or
``RUNLEDGER_LOCAL_JOBS=subprocess``, runs through ``subprocess.Popen`` exactly as written.
Measured 2026-12-04, bench/bench_speed.py --mechanism fork_server --rounds 5 --runs 30 (off:
``RUNLEDGER_LOCAL_JOBS=subprocess``): with every job Popen'd, the jobs' CPU is 14.1x (median
of 5 alternated pairs, range 14.0-17.4x), wall 5.3x (5.0-6.4x), the engine's CPU 1.55x
(1.49-1.94x).

The engine compiles each script once (per path, modification time and size) and hands the
code to the child, marshalled: compiling ``kmer_count.py`` took ~10 ms of every job's CPU.
A script that does not compile is left to the child, which fails as ``python SCRIPT`` does.

Both kinds of process have the same small interface (``JobProcess``): ``pid``, ``poll()``,
``wait(timeout)``, exit status as ``subprocess`` reports it (negative for a signal).

The fork server is driven through ``multiprocessing.forkserver``'s own protocol as of
Python 3.13 (the project's runtime), not ``multiprocessing.Process``, which would make
every job re-import the parent's ``__main__``; tests/local/test_processes.py fails if a
Python upgrade changes it. A job's atexit hooks run, as under ``python SCRIPT``.
``start_fork_server()`` starts it ahead of the first job.

Jobs run nicer than the engine (``JOB_NICENESS``), so that they use its CPU only when it
waits.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import io
import marshal
import os
import runpy
import subprocess
import sys
import threading
import traceback
import types
from collections.abc import Mapping, Sequence
from multiprocessing import connection, forkserver, reduction
from pathlib import Path
from typing import IO, Protocol

#: The fork server's job preload (runledger_local._job_preload).
_JOB_PRELOAD = "runledger_local._job_preload"
#: Modules the fork server imports once; every forked job finds them loaded. This module
#: too: each job is handed a pickled ``_ScriptRun``, and unpickling it in a child that
#: lacks this module imported it there: 6 ms of every job's CPU (49.1 -> 43.4 ms a
#: kmer-count job, medians of 8 alternated rounds of 60 jobs, bench_jobs.one_repeat).
PRELOAD = ("runledger_local.processes", _JOB_PRELOAD)
_MODE_VARIABLE = "RUNLEDGER_LOCAL_JOBS"
#: The fork server last made nicer.
_server_pid: int | None = None
#: How much nicer than the engine jobs run (see _lower_priority).
JOB_NICENESS = 10

_server_lock = threading.Lock()
_server_preloaded = False

#: (path, mtime_ns, size) -> the script's code, marshalled; at most one version per path.
_compiled: dict[tuple[str, int, int], bytes] = {}
_compile_lock = threading.Lock()


class JobProcess(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class _ForkedProcess:
    """A child of the fork server seen through Popen's ``poll``/``wait``.

    The fork server reaps its children and writes each one's exit status (negative for a
    signal, as ``subprocess`` reports it) on the child's sentinel pipe.
    """

    def __init__(self, pid: int, sentinel: int) -> None:
        self.pid = pid
        self._sentinel = sentinel
        self._returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        return self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(["forked job", str(self.pid)], timeout or 0)
        return code

    def _collect(self, timeout: float | None) -> int | None:
        with self._lock:
            if self._returncode is None and connection.wait([self._sentinel], timeout):
                try:
                    self._returncode = forkserver.read_signed(self._sentinel)
                except (OSError, EOFError):  # the fork server itself died
                    self._returncode = 255
                os.close(self._sentinel)
            return self._returncode


class _ScriptRun:
    """What a forked child runs: ``python SCRIPT ARGS`` in ``cwd`` with exactly ``env``.

    ``_bootstrap`` is the hook multiprocessing's fork server calls in the child; it returns
    the exit status the way the interpreter computes it from SystemExit or an exception.
    """

    def __init__(
        self,
        script: str,
        args: list[str],
        cwd: str,
        env: dict[str, str],
        output: str,
        code: bytes | None = None,
    ) -> None:
        self.script, self.args, self.cwd, self.env, self.output = script, args, cwd, env, output
        self.code = code  # marshalled; None: the child compiles the script itself

    def _bootstrap(self, parent_sentinel: object = None) -> int:
        os.setsid()  # its own process group, as start_new_session: timeouts kill the group
        out = os.open(self.output, os.O_WRONLY | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(self.cwd)
        os.environ.clear()
        os.environ.update(self.env)
        preload = sys.modules.get(_JOB_PRELOAD)
        if preload is not None:  # its session may have read files this job does not name
            preload.fit_environment()
        sys.argv = [self.script, *self.args]
        sys.path[0] = os.path.dirname(self.script)
        sys.path[1:1] = _new_pythonpath(self.env)  # as python puts PYTHONPATH after it
        code = 0
        try:
            if self.code is None:
                runpy.run_path(self.script, run_name="__main__")
            else:
                self._run_compiled()
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        return code

    def _run_compiled(self) -> None:
        # The globals `python SCRIPT` gives its __main__ module (runpy.run_path's differ:
        # __package__ "", __loader__ None). The module stays __main__ to the end: this
        # process ends with the job.
        module = types.ModuleType("__main__")
        module.__dict__.update(
            __file__=self.script,
            __cached__=None,
            __loader__=importlib.machinery.SourceFileLoader("__main__", self.script),
        )
        sys.modules["__main__"] = module
        code = marshal.loads(self.code or b"")  # noqa: S302 - compiled by our engine from the script
        exec(code, module.__dict__)  # noqa: S102 - the job's own script, as python runs it


def _new_pythonpath(env: Mapping[str, str]) -> list[str]:
    """The folders of ``env``'s PYTHONPATH not on this process's ``sys.path`` (the fork
    server's, which already holds the engine's PYTHONPATH), absolute, in order."""
    entries = [os.path.abspath(e) for e in env.get("PYTHONPATH", "").split(os.pathsep) if e]
    return list(dict.fromkeys(e for e in entries if e not in sys.path))


def _compile(script: str) -> bytes | None:
    """``script``'s code, marshalled, compiled once per version; None if it does not compile."""
    try:
        status = os.stat(script)
        key = (script, status.st_mtime_ns, status.st_size)
        with _compile_lock:
            if key not in _compiled:
                with open(script, "rb") as source:
                    # dont_inherit: not this module's `from __future__ import annotations`
                    code = compile(source.read(), script, "exec", dont_inherit=True)
                for stale in [known for known in _compiled if known[0] == script]:
                    del _compiled[stale]
                _compiled[key] = marshal.dumps(code)
            return _compiled[key]
    except (OSError, SyntaxError, ValueError):  # the child reports it, as python would
        return None


def python_script(command: Sequence[str]) -> tuple[str, list[str]] | None:
    """``(script, args)`` when ``command`` is this interpreter running a ``.py`` file."""
    if len(command) >= 2 and command[0] == sys.executable and command[1].endswith(".py"):
        return command[1], list(command[2:])
    return None


def start(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    output: IO[bytes],
    speed: bool = True,
) -> JobProcess:
    """Start ``command`` in ``cwd`` with exactly ``env``, stdout and stderr to ``output``.

    Raises OSError (as Popen does) when the program or the working directory is missing.
    A forked Python job needs ``output`` to have a path (a NamedTemporaryFile).
    ``speed=False`` (the local cloud with speed off) starts every command through Popen, at
    the engine's priority: no fork server, no niceness.
    """
    script = python_script(command)
    if script is None or not speed or os.environ.get(_MODE_VARIABLE) == "subprocess":
        process = subprocess.Popen(  # noqa: S603 - the job definition's command
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if speed:
            with contextlib.suppress(OSError):  # it may have ended already
                _lower_priority(process.pid)
        return process
    path = Path(script[0]) if os.path.isabs(script[0]) else cwd / script[0]
    if not cwd.is_dir():
        raise FileNotFoundError(f"no such working directory: {cwd}")
    if not path.is_file():
        raise FileNotFoundError(f"{command[0]}: can't open file {str(path)!r}")
    if not isinstance(getattr(output, "name", None), str):
        raise TypeError("a forked job needs an output file with a path (NamedTemporaryFile)")
    code = _compile(str(path))
    return _fork(_ScriptRun(str(path), script[1], str(cwd), dict(env), str(output.name), code))


def _lower_priority(pid: int) -> None:
    """Make ``pid`` JOB_NICENESS nicer than this process (at most 19, the nicest).

    The engine (one process whose threads share one GIL) sets the pace of every run; a
    job that waits for a CPU delays only itself. At equal priority the jobs on the
    engine's CPU took a share of it. Measured 2026-12-04, bench/bench_speed.py --mechanism
    job_niceness --rounds 5 --runs 30 (jobs at the engine's priority): wall 1.13x with it
    off (median of 5 alternated pairs, range 0.90-1.18x), engine CPU 1.09x (0.86-1.15x).
    """
    if hasattr(os, "setpriority"):
        niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + JOB_NICENESS)
        os.setpriority(os.PRIO_PROCESS, pid, niceness)


def _fork_server_pid() -> int | None:
    """The running fork server's pid (multiprocessing keeps it privately), or None."""
    pid: int | None = getattr(forkserver._forkserver, "_forkserver_pid", None)
    return pid


def _place_fork_server() -> None:
    # A new fork server is made nicer, and its jobs with it (they inherit its priority).
    global _server_pid
    pid = _fork_server_pid()
    if pid is None or pid == _server_pid:
        return
    with contextlib.suppress(OSError):  # restarted meanwhile: the next job places it
        _lower_priority(pid)
        _server_pid = pid


def jobs_cpu_seconds() -> float:
    """CPU seconds (user + system) of the local jobs that have ended so far (Linux /proc).

    Forked jobs are the fork server's children, which it reaps: their time is in its
    /proc stat. Popen'd jobs are this process's children (os.times), as is any other child
    it has waited for. For benchmarks: the engine's own CPU is ``time.process_time()``.
    """
    times = os.times()
    total = times.children_user + times.children_system
    pid = _fork_server_pid()
    if pid is not None:
        with contextlib.suppress(OSError, IndexError, ValueError):  # no server, or no /proc
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return total


def start_fork_server() -> None:
    """Start the fork server (and its imports) now, not when the first job needs it.

    Nothing to start when jobs run through Popen (``RUNLEDGER_LOCAL_JOBS=subprocess``).
    """
    global _server_preloaded
    if os.environ.get(_MODE_VARIABLE) == "subprocess":
        return
    with _server_lock:
        if not _server_preloaded:
            forkserver.set_forkserver_preload(list(PRELOAD))
            _server_preloaded = True
    forkserver.ensure_running()
    _place_fork_server()


def _fork(run: _ScriptRun) -> _ForkedProcess:
    # The fork server's protocol (multiprocessing.popen_forkserver): preparation data,
    # then the object whose _bootstrap the child calls. No preparation: the child must
    # not re-import our __main__ (multiprocessing would run the CLI again in every job).
    payload = io.BytesIO()
    reduction.dump({}, payload)
    reduction.dump(run, payload)
    start_fork_server()
    sentinel, write_end = forkserver.connect_to_new_process([])
    with open(write_end, "wb", closefd=True) as pipe:
        pipe.write(payload.getbuffer())
    return _ForkedProcess(forkserver.read_signed(sentinel), sentinel)
