"""runledger: DynamoDB runs table -> EventBridge Pipe -> Step Functions -> Lambda + AWS Batch.

This package is the code that runs in Lambda, and only that: the request contract, the
steps the handlers in ``functions/`` call, pricing and the AWS clients they use. It ships
to Lambda in the ``RunledgerLayer`` (``layer/runledger`` links here). It never imports the
operator tools (``runledger_cli``: the CLI, report, graph and cost) or the offline emulator
(``runledger_local``); tests/infra/test_layout.py holds it to that.
"""

__version__ = "0.1.0"
