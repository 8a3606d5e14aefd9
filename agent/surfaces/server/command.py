"""`atelier serve`: the command's options (registered by agent/surfaces/cli.py). Light to import: the
server itself is imported only when the command runs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import AtelierError
from agent.core.options import RunOptions
from agent.surfaces.server import DEFAULT_HOST, DEFAULT_PORT


def serve_command(
        host: str = typer.Option(DEFAULT_HOST, help="interface to listen on (loopback by default)"),
        port: int = typer.Option(DEFAULT_PORT, help="the CLI finds a warm server on this port by default"),
        out: Path = typer.Option(Path("runs"), "--out", help="runs folder (every surface's)"),
        llm: str = typer.Option(DEFAULT_LLM, help="default director"),
        image_model: str = typer.Option(DEFAULT_IMAGE_MODEL, "--image-model", help="default image back end"),
        video_model: Optional[str] = typer.Option(None, "--video-model", help="default video back end"),
        critic: str = typer.Option(DEFAULT_CRITIC, help="default critic"),
        max_iterations: int = typer.Option(RunOptions.default("max_iterations"), "--max-iterations",
                                           help="the UI's default: " + RunOptions.help("max_iterations")),
        tokens: Optional[str] = typer.Option(None, "--tokens", help="the HTTP callers' bearer tokens (API and "
                                             "MCP): a file of NAME:TOKEN lines or NAME:TOKEN,... pairs (also "
                                             "ATELIER_MCP_TOKENS); each caller sees only its own runs. "
                                             "Without: one caller, mcp:default"),
        allow_llm_url: Optional[list[str]] = typer.Option(None, "--allow-llm-url", help="a server URL callers "
                                                          "may name in openai-compatible:MODEL@URL (repeat; also "
                                                          "ATELIER_ALLOWED_LLM_URLS)"),
        allow_loopback_llm: bool = typer.Option(False, "--allow-loopback-llm", help="callers may name LLM "
                                                "servers on this machine (also ATELIER_ALLOW_LOOPBACK_LLM=1)"),
        files: Optional[Path] = typer.Option(None, "--files", help="a folder whose images callers may name"),
        auth: Optional[str] = typer.Option(None, "--auth", help="the UI's login, USER:PASSWORD[,...] "
                                           "(or ATELIER_UI_AUTH)"),
        single_user: bool = typer.Option(False, "--single-user", help="the UI's History may show every run"),
        max_runs: int = typer.Option(4, "--max-runs", min=1, help="the UI's runs at once across its sessions"),
        no_ui: bool = typer.Option(False, "--no-ui", help="serve the APIs and MCP only"),
        grace: float = typer.Option(30.0, "--grace", help="on shutdown (Ctrl-C, SIGTERM): seconds the runs in "
                                    "flight may take to finish before they stop after their step, saved")):
    """One warm process for every surface: the chat UI (/ui/), MCP (/mcp), the OpenAI Images API
    (/v1/images/generations, /v1/images/edits) and Atelier's run API (/api/runs, schema at /docs)."""
    from agent.core.trust import TrustPolicy
    from agent.surfaces.server.serve import serve
    try:
        RunOptions.parse(llm=llm, image_model=image_model, video_model=video_model, critic=critic,
                         max_iterations=max_iterations)  # the defaults, checked as a run's options are
        policy = TrustPolicy.from_env(allowed_urls=allow_llm_url or (),
                                      allow_loopback=True if allow_loopback_llm else None)
    except AtelierError as e:
        raise SystemExit(f"error: {e}") from None
    serve(host, port, runs_dir=out, tokens=tokens, grace_s=grace, ui_auth=auth, llm=llm, image_model=image_model,
          critic=critic, video_model=video_model, policy=policy, files_dir=files, ui=not no_ui,
          single_user=single_user, max_runs=max_runs, max_iterations=max_iterations)
