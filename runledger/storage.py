"""Where inputs and results live: ``s3://bucket/key``, ``file:///abs/path`` or a plain path.

Deployed runs use S3. The local cloud (``runledger_local``) runs Batch jobs as local
processes, so it hands out ``file://`` URIs or plain paths; every reader here accepts all
three. The rules match the kmer-count job's own parser (jobs/kmer_count/kmer_count.py), so
a URI this module accepts is one the job can open.

boto3 is imported on first S3 use (``runledger.clients``), not with the module: the
request models use ``parse_location``, and prepare_variant needs no AWS SDK at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from runledger import clients

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: S3 error codes that mean "this object is not there for you" (not a transient fault).
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound", "AccessDenied", "403"})


class LocationError(ValueError):
    """A URI that is neither ``s3://bucket/key``, ``file:///path`` nor a plain path."""


class ObjectNotFoundError(FileNotFoundError):
    """The object or file at a location does not exist or cannot be read."""


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed location: an S3 object (``bucket``, ``key``) or a local file (``path``)."""

    scheme: Literal["s3", "file"]
    bucket: str = ""
    key: str = ""
    path: str = ""


def parse_location(uri: str) -> Location:
    """Parse ``s3://bucket/key``, ``file:///abs/path`` (or ``file://localhost/...``) or a path.

    Raises:
        LocationError: for an empty URI, an S3 URI without bucket or key (or a key ending in
            ``/``), a ``file://`` URI with a remote host, or any other scheme.
    """
    if not uri:
        raise LocationError("must not be empty")
    if uri.startswith("s3://"):
        parts = urlsplit(uri)
        key = parts.path.lstrip("/")
        if not parts.netloc or not key or key.endswith("/"):
            raise LocationError(f"must look like s3://bucket/key, got {uri!r}")
        return Location("s3", bucket=parts.netloc, key=key)
    if uri.startswith("file://"):
        parts = urlsplit(uri)
        if parts.netloc not in {"", "localhost"} or not parts.path:
            raise LocationError(f"must look like file:///absolute/path, got {uri!r}")
        return Location("file", path=unquote(parts.path))
    if _SCHEME.match(uri):
        raise LocationError(f"unsupported scheme in {uri!r} (use s3://, file:// or a path)")
    return Location("file", path=uri)


def join_uri(base: str, *parts: str) -> str:
    """Append path segments to a bucket name, ``s3://bucket[/prefix]``, ``file://...`` or a path.

    A bare name (no scheme, no ``/``) is taken as an S3 bucket name, which is how
    template.yaml passes ``RESULTS_BUCKET``.
    """
    tail = "/".join(part.strip("/") for part in parts)
    if not _SCHEME.match(base) and "/" not in base:
        return f"s3://{base}/{tail}"
    return f"{base.rstrip('/')}/{tail}"


def s3_client() -> S3Client:
    """The S3 client for this process's endpoint and region (``runledger.clients``)."""
    s3: S3Client = clients.client("s3")
    return s3


def read_bytes(uri: str) -> bytes:
    """Read the whole object or file at ``uri``.

    Raises:
        LocationError: the URI is malformed.
        ObjectNotFoundError: the object or file is missing or access is denied.
        botocore.exceptions.ClientError: any other S3 error (throttling, 5xx), left to
            the caller's retry policy.
    """
    from botocore.exceptions import ClientError  # lazy: see the module docstring

    location = parse_location(uri)
    if location.scheme == "file":
        try:
            return Path(location.path).read_bytes()
        except OSError as exc:
            raise ObjectNotFoundError(f"cannot read {uri}: {exc.strerror or exc}") from exc
    try:
        response = s3_client().get_object(Bucket=location.bucket, Key=location.key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            raise ObjectNotFoundError(f"cannot read {uri}: {code}") from exc
        raise
    return response["Body"].read()
