"""The shared fixtures keep unit tests away from real AWS and the network."""

from __future__ import annotations

import os
import socket

import boto3
import pytest


def test_unit_tests_cannot_connect_to_a_remote_address() -> None:
    with socket.socket() as sock, pytest.raises(RuntimeError, match="never open a network"):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: unroutable by design
    with pytest.raises(RuntimeError, match="never open a network"):
        socket.create_connection(("s3.amazonaws.com", 443))


def test_credentials_and_region_are_fake() -> None:
    credentials = boto3.session.Session().get_credentials()
    assert credentials is not None
    assert credentials.access_key == "testing"
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_PROFILE" not in os.environ
