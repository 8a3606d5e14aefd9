"""`atelier serve`: one warm process for every surface (issue 28).

One process holds the pipelines warm (the registry builds each back end once per process, and each
loaded pipeline has one owner that batches the requests of every surface) and serves, on one port:

- `/ui/`: the chat UI (the Gradio app of `agent.surfaces.ui`, mounted);
- `/mcp`: MCP over streamable HTTP (`agent.surfaces.mcp_server`'s server, its callers and tokens);
- `/v1/images/generations`, `/v1/images/edits`: the OpenAI Images API with the loop behind it
  (`images.py`);
- `/api/...`: Atelier's own run API: start a run, follow its events (server-sent events), get the
  record and files, stop or resume it (`runs_api.py`); the schema at `/openapi.json`, pages at `/docs`.

This module stays light (no FastAPI, no torch): the CLI reads its constants to find a server.
"""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8780  # the CLI looks for a warm server here when ATELIER_SERVER is not set
SERVER_VAR = "ATELIER_SERVER"  # URL of the server the CLI should use
TOKEN_VAR = "ATELIER_SERVER_TOKEN"  # the bearer token the CLI sends to it (one of the server's --tokens)
