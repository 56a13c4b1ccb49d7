"""The local cloud: runs the real template offline on moto.

The local cloud's own logs (the pipe runner, the moto adaptations: loggers under
``runledger.local``) are JSON lines on stdout, like the handlers', with service
``runledger.local``. They do not pass through the handlers' Powertools logger
``runledger`` (their parent by name), whose lines carry the keys of the last handler
invoked (``run_id``, ``function_name``, ...): a pipe's DLQ warning is no run's.
"""

import logging
import sys
from typing import TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter


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
_handler.setFormatter(LambdaPowertoolsFormatter(service=__name__))
_logger = logging.getLogger(__name__)
_logger.addHandler(_handler)
_logger.propagate = False
