"""Fix: ``AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`` while the local cloud is up.

With account-based endpoints botocore sends DynamoDB (Streams) requests to
``<account>.ddb.<region>.amazonaws.com``, hosts moto's server did not route (they
answered 404). Not reproduced with botocore 1.43.127; kept as cheap insurance, since
the pipe runner reads the stream through it. Delete once moto routes account hosts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

from runledger_local.patches._seams import Seam
from runledger_local.runtime.lambdas import environ
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "endpoint_mode"
SEAMS: Final[tuple[Seam, ...]] = ()


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    with environ({"AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}):
        yield
