"""Where inputs and results live: ``s3://bucket/key``; in the local cloud, local files too.

Deployed, every location is an S3 object, and anything else (``file:///abs/path``, a
plain path, another scheme) is a ``LocationError``: a request naming one ends INVALID.
Local files are an option of the emulator: the local cloud (``runledger_local``) runs
Batch jobs as local processes and sets ``RUNLEDGER_LOCAL_PATHS=1`` for the functions it
runs, and only then do ``file:///abs/path`` and plain paths parse (``local_paths``). The
rules match the kmer-count job's own parser (jobs/kmer_count/kmer_count.py), so a URI
this module accepts is one the job can open.

boto3 is imported on first S3 use (``runledger.clients``), not with the module: the
request models use ``parse_location``, and importing them must not load it
(docs/cold-start.md).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from runledger import clients

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: Set to ``1`` (by the local cloud, for the functions it runs), local files are locations.
LOCAL_PATHS_ENV = "RUNLEDGER_LOCAL_PATHS"

#: S3 error codes that mean "this object is not there for you" (not a transient fault).
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound", "AccessDenied", "403"})


class LocationError(ValueError):
    """A URI that is not ``s3://bucket/key`` (nor, with ``local_paths()``, a local file)."""


class ObjectNotFoundError(FileNotFoundError):
    """The object or file at a location does not exist or cannot be read."""


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed location: an S3 object (``bucket``, ``key``) or a local file (``path``)."""

    scheme: Literal["s3", "file"]
    bucket: str = ""
    key: str = ""
    path: str = ""


def local_paths() -> bool:
    """Whether local files are locations: ``RUNLEDGER_LOCAL_PATHS=1``, which only the local
    cloud sets. Read at each call, so in-process functions see their own environment."""
    return os.environ.get(LOCAL_PATHS_ENV) == "1"


def parse_location(uri: str) -> Location:
    """Parse ``s3://bucket/key``; with ``local_paths()`` also ``file:///abs/path`` (or
    ``file://localhost/...``) and plain paths.

    Raises:
        LocationError: for an empty URI, an S3 URI without bucket or key (or a key ending in
            ``/``), any other scheme; without ``local_paths()`` a ``file://`` URI or a
            path, with it a ``file://`` URI with a remote host.
    """
    if not uri:
        raise LocationError("must not be empty")
    if uri.startswith("s3://"):
        parts = urlsplit(uri)
        key = parts.path.lstrip("/")
        if not parts.netloc or not key or key.endswith("/"):
            raise LocationError(f"must look like s3://bucket/key, got {uri!r}")
        return Location("s3", bucket=parts.netloc, key=key)
    if uri.startswith("file://") or not _SCHEME.match(uri):
        if not local_paths():
            raise LocationError(
                f"must be an S3 object, s3://bucket/key, got {uri!r} (local files are read "
                "only in the local cloud)"
            )
        if not uri.startswith("file://"):
            return Location("file", path=uri)
        parts = urlsplit(uri)
        if parts.netloc not in {"", "localhost"} or not parts.path:
            raise LocationError(f"must look like file:///absolute/path, got {uri!r}")
        return Location("file", path=unquote(parts.path))
    use = "s3://, file:// or a path" if local_paths() else "s3://bucket/key"
    raise LocationError(f"unsupported scheme in {uri!r} (use {use})")


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
