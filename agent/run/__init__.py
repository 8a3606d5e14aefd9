"""The run: the director loop, its context, planning and the toolbox (the tools live in `tools/`).
Imports only the core."""
