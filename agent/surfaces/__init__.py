"""The surfaces users touch: Python API, CLI, batch, bench, MCP server, report and UI."""
