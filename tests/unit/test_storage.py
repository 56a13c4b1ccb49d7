"""Locations: s3://; file:// and plain paths where the local cloud allows them; reading each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runledger.storage import (
    LOCAL_PATHS_ENV,
    Location,
    LocationError,
    ObjectNotFoundError,
    join_uri,
    local_paths,
    parse_location,
    read_bytes,
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/a/b.json", Location("s3", bucket="bucket", key="a/b.json")),
        ("file:///tmp/x.json", Location("file", path="/tmp/x.json")),
        ("file://localhost/tmp/x%20y.json", Location("file", path="/tmp/x y.json")),
        ("/tmp/x.json", Location("file", path="/tmp/x.json")),
        ("relative/x.json", Location("file", path="relative/x.json")),
    ],
)
@pytest.mark.usefixtures("local_paths")
def test_parse_location_understands_s3_file_and_paths(uri: str, expected: Location) -> None:
    assert parse_location(uri) == expected


@pytest.mark.parametrize(
    "uri", ["", "s3://", "s3://bucket", "s3://bucket/dir/", "file://remote/x", "http://x/y"]
)
@pytest.mark.parametrize("local", [False, True], ids=["aws", "local-cloud"])
def test_parse_location_rejects_what_the_job_could_not_open(
    uri: str, local: bool, request: pytest.FixtureRequest
) -> None:
    if local:
        request.getfixturevalue("local_paths")
    with pytest.raises(LocationError):
        parse_location(uri)


@pytest.mark.parametrize(
    "uri", ["file:///tmp/x.json", "file://localhost/tmp/x.json", "/tmp/x.json", "relative/x"]
)
def test_without_the_local_cloud_a_local_file_is_no_location(uri: str) -> None:
    with pytest.raises(LocationError, match=r"must be an S3 object, s3://bucket/key, got "):
        parse_location(uri)
    assert parse_location("s3://bucket/a.json") == Location("s3", bucket="bucket", key="a.json")


def test_local_paths_are_what_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_paths() is False
    monkeypatch.setenv(LOCAL_PATHS_ENV, "1")
    assert local_paths() is True
    assert parse_location("/tmp/x.json") == Location("file", path="/tmp/x.json")
    monkeypatch.setenv(LOCAL_PATHS_ENV, "0")
    assert local_paths() is False


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("my-bucket", "s3://my-bucket/runs/r/v/metrics.json"),
        ("s3://my-bucket/prefix/", "s3://my-bucket/prefix/runs/r/v/metrics.json"),
        ("file:///tmp/results", "file:///tmp/results/runs/r/v/metrics.json"),
        ("/tmp/results", "/tmp/results/runs/r/v/metrics.json"),
    ],
)
def test_join_uri_treats_a_bare_name_as_a_bucket(base: str, expected: str) -> None:
    assert join_uri(base, "runs", "r", "v", "metrics.json") == expected


@pytest.mark.usefixtures("local_paths")
def test_read_bytes_reads_paths_and_file_uris(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    target.write_bytes(b"{}")
    assert read_bytes(str(target)) == b"{}"
    assert read_bytes(target.as_uri()) == b"{}"


@pytest.mark.usefixtures("local_paths")
def test_read_bytes_of_a_missing_file_raises_object_not_found(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match="cannot read"):
        read_bytes(str(tmp_path / "absent.json"))


def test_read_bytes_reads_s3_objects(s3: Any) -> None:
    s3.create_bucket(Bucket="results-bucket")
    s3.put_object(Bucket="results-bucket", Key="k/m.json", Body=b'{"a": 1}')
    assert read_bytes("s3://results-bucket/k/m.json") == b'{"a": 1}'


@pytest.mark.parametrize(("bucket_exists", "code"), [(True, "NoSuchKey"), (False, "NoSuchBucket")])
def test_read_bytes_of_a_missing_s3_object_raises_object_not_found(
    s3: Any, bucket_exists: bool, code: str
) -> None:
    if bucket_exists:
        s3.create_bucket(Bucket="results-bucket")
    with pytest.raises(ObjectNotFoundError, match=code):
        read_bytes("s3://results-bucket/absent.json")
