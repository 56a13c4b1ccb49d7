"""runledger: DynamoDB runs table -> EventBridge Pipe -> Step Functions -> Lambda + AWS Batch.

The package holds the domain code shared by every Lambda function (shipped to Lambda
through the ``RunledgerLayer`` in template.yaml) and, in ``runledger.local``, the offline
local cloud used by tests and ``runledger local run``.
"""

__version__ = "0.1.0"
