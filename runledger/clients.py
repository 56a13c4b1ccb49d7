"""boto3 clients shared by the handlers, one per service, endpoint and region.

boto3 is imported with the first client, not with the module: close_run,
collect_metrics, summarize_run and start_run load it in their first invocation rather
than in their import, ~0.17-0.21 s
for boto3 and the client together (docs/cold-start.md). A client is keyed by the settings
it reads when created (the endpoint variables and the region), so handlers run
in-process by the local cloud get a new client when another local cloud (another
endpoint) starts.
"""

from __future__ import annotations

import functools
import os
from typing import Any

#: botocore's service-specific endpoint variable suffix (AWS_ENDPOINT_URL_<ID>).
_ENDPOINT_IDS = {"dynamodb": "DYNAMODB", "s3": "S3", "stepfunctions": "SFN"}


def client(service: str) -> Any:
    """The client for ``service`` (``dynamodb``, ``s3``, ``stepfunctions``) in these settings."""
    specific = os.environ.get(f"AWS_ENDPOINT_URL_{_ENDPOINT_IDS[service]}")
    return _client(
        service,
        specific or os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )


@functools.cache
def _client(service: str, endpoint_url: str | None, region: str | None) -> Any:
    import boto3

    del endpoint_url, region  # the cache key: boto3 reads both from the environment
    return boto3.client(service)  # type: ignore[call-overload]
