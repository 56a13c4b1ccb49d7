"""runledger_cli: the operator tools (``runledger`` command, report, graph, cost) and the
template reader they and the emulator share. Not shipped to Lambda."""
