"""The local cloud's own logs: JSON lines on stdout, service ``runledger_local``.

The pipe runner and the moto adaptations log through ``get_logger(__name__)``: loggers
under ``runledger_local``, written like the handlers' Powertools lines but not through
the handlers' logger ``runledger`` (their parent by name), whose lines carry the keys of
the last handler invoked (``run_id``, ``function_name``, ...): a pipe's DLQ warning is no
run's. Kept out of ``runledger_local/__init__.py`` so that the job fork server, which
imports ``runledger_local._job_preload``, does not load Powertools.
"""

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "runledger_local"


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stdout`` as it is when a record is emitted (``runledger local run``
    redirects it to local-run.log; pytest's capsys replaces it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _stream: TextIO) -> None:
        pass  # StreamHandler.__init__ and setStream set it: always sys.stdout


_handler = _CurrentStdout()
_handler.setFormatter(LambdaPowertoolsFormatter(service=SERVICE))
_root = logging.getLogger(SERVICE)
_root.addHandler(_handler)
_root.propagate = False


def get_logger(name: str) -> logging.Logger:
    """The logger of module ``name`` (``runledger_local.*``), writing as above."""
    if not name.startswith(SERVICE + "."):
        raise ValueError(f"{name!r} is not a module of {SERVICE}")
    return logging.getLogger(name)


#: moto's ASL engine logs, at ERROR, every failure event a state raises (a Fail state, a
#: task failing into its Catch, a Map iteration of a stopped execution) with the state's
#: whole repr: kilobytes a line, for what the execution's history records anyway.
ENGINE_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


def _not_a_failure_event(record: logging.LogRecord) -> bool:
    args = record.args if isinstance(record.args, tuple) else ()
    return not (args and str(args[0]).startswith("Exception=FailureEventException"))


@contextlib.contextmanager
def quiet_failure_events() -> Iterator[None]:
    """While inside, moto's ERROR lines for failure events are dropped; its lines for
    exceptions that are not failure events (an engine error) still go through."""
    engine = logging.getLogger(ENGINE_LOGGER)
    engine.addFilter(_not_a_failure_event)
    try:
        yield
    finally:
        engine.removeFilter(_not_a_failure_event)
