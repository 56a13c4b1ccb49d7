"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runledger_cli.sam_template import table_schema


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A DynamoDB client (moto) with the template's runs table, named ``runs-test``."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="runs-test", **table_schema())
        yield client
