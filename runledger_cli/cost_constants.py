"""The names ``runledger cost`` offers and ``runledger_cli.costs`` computes with.

A leaf: it imports nothing, so that building the command line (``runledger --help``)
loads neither boto3 nor pydantic, which ``runledger_cli.costs`` needs for its work.
"""

from typing import Literal

GroupBy = Literal["run", "workflow", "cost-center", "day"]
GROUPINGS: tuple[GroupBy, ...] = ("run", "workflow", "cost-center", "day")
#: The services of a run's estimate, in the order of ``cost.breakdown``.
SERVICES = ("batch", "stepfunctions", "lambda", "pipes", "dynamodb")
