"""The benchmark of the generated projects and of the tool: `python -m bench.run [--quick]`."""
