"""Running the server: `atelier serve` in the foreground (SIGINT / SIGTERM shut it down gracefully), or
in a thread of this process (tests, benchmarks)."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from agent.core.errors import AtelierError
from agent.surfaces.server import DEFAULT_HOST, DEFAULT_PORT


def _uvicorn_server(app, host: str, port: int, grace_s: float, log_level: str = "warning"):
    import uvicorn
    # connections (an OpenAI request waiting for its runs) get the grace period too; the lifespan's
    # drain then gives the runs in flight what is left of it, and stops the rest after their step
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=max(grace_s, 0.1), ws="none")
    return uvicorn.Server(config)


def serve(host: str | None = None, port: int | None = None, *, runs_dir: str | Path = "runs",
          tokens: str | None = None, grace_s: float = 30.0, ui_auth: str | None = None, **options) -> None:
    """Serve until SIGINT / SIGTERM. Bad settings end the process with one line on stderr."""
    from agent.core.trust import MCP_TOKENS_VAR, caller_tokens, is_loopback
    from agent.surfaces.server.app import build
    host = host or DEFAULT_HOST
    port = DEFAULT_PORT if port is None else port
    if not 0 < port < 65536:
        raise SystemExit(f"error: --port must be between 1 and 65535, not {port}")
    if grace_s < 0:
        raise SystemExit(f"error: --grace must be 0 or more seconds, not {grace_s}")
    os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")
    try:
        table = caller_tokens(tokens if tokens is not None else os.environ.get(MCP_TOKENS_VAR))
        auth = None
        if options.get("ui", True):  # --no-ui: Gradio is never imported
            from agent.surfaces.ui import parse_auth
            auth = parse_auth(ui_auth or os.environ.get("ATELIER_UI_AUTH"))
        app = build(runs_dir, tokens=table, host=host, grace_s=grace_s, ui_auth=auth, **options)
    except AtelierError as e:
        raise SystemExit(f"error: {e}") from None
    if not is_loopback(host) and not table:
        print("warning: the server is reachable from other machines and every caller is one identity "
              "(mcp:default); pass --tokens NAME:TOKEN,... (or ATELIER_MCP_TOKENS)", file=sys.stderr)
    print(f"atelier serve: http://{host}:{port}  (UI /ui/, MCP /mcp, OpenAI /v1/images/..., runs /api/runs, "
          f"schema /docs)", file=sys.stderr, flush=True)
    server = _uvicorn_server(app, host, port, grace_s, log_level="warning")
    server.run()


class Running:
    """A server on a thread of this process, for tests and benchmarks: `.url`, `.stop()`."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, grace_s: float = 30.0):
        import socket
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.app, self.url = app, f"http://{host}:{port}"
        self.server = _uvicorn_server(app, host, port, grace_s)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="atelier-serve")
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)

    def stop(self, timeout: float = 180) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> "Running":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
