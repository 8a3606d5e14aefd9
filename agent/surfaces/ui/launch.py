"""Making the app (`build_app`, which `atelier serve` can mount) and launching it (`main`, `cli`:
`python app.py` and `atelier ui`)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import gradio as gr

from agent.core.errors import AtelierError
from agent.core.options import RunOptions
from agent.surfaces import ui_support as ui
from agent.surfaces.ui.api_routes import add_api
from agent.surfaces.ui.handlers import ChatUI
from agent.surfaces.ui.page import lay_out
from agent.surfaces.ui.style import CSS, PAGE_JS
from agent.surfaces.ui.wiring import wire


def build_app(runs_dir: str | Path = "runs", defaults: ui.Settings | None = None, *,
              single_user: bool = False, max_runs: int = 4,
              review_timeout: float = ui.REVIEW_TIMEOUT_S) -> gr.Blocks:
    """The chat UI as a gr.Blocks (not launched). Its `atelier_ui` attribute is the `ChatUI` whose
    methods are the handlers (callable without a browser), `atelier_ui.page` its components."""
    defaults = defaults or ui.Settings()
    runs_dir = Path(runs_dir).expanduser().resolve()
    chat_ui = ChatUI(runs_dir, defaults, single_user=single_user, max_runs=max_runs, review_timeout=review_timeout)
    with gr.Blocks(title="Atelier", analytics_enabled=False) as demo:
        chat_ui.page = lay_out(defaults, single_user)
        wire(chat_ui, demo)
        add_api(chat_ui, max_runs)
    demo.queue(default_concurrency_limit=None)
    demo.atelier_runs_dir = runs_dir
    demo.atelier_desks = chat_ui.desks
    demo.atelier_ui = chat_ui
    return demo


def launch_kwargs(demo: gr.Blocks) -> dict[str, Any]:
    """No allowed_paths: the runs folder is never served as such. The page shows copies made into
    Gradio's cache (content-hashed names that only the page they were sent to knows), so no
    user can fetch another's files or the run index through /gradio_api/file=."""
    return {"theme": gr.themes.Soft(primary_hue="violet", neutral_hue="slate"), "css": CSS,
            "footer_links": ["api"], "js": PAGE_JS}


def parse_auth(text: str | None) -> list[tuple[str, str]] | None:
    """"user:pass" or "u1:p1,u2:p2" → Gradio's auth list."""
    if not text:
        return None
    pairs = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise SystemExit("error: --auth takes USER:PASSWORD (comma-separated for several users)")
        pairs.append((user, password))
    return pairs


def main(host: str | None = None, port: int | None = None, share: bool = False, *, auth: str | None = None,
         runs_dir: str | Path = "runs", single_user: bool = False, max_runs: int = 4,
         defaults: ui.Settings | None = None) -> None:
    """host/port: the flags (they win), else GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860."""
    host, port = ui.listen_address(host, port)
    auth_pairs = parse_auth(auth or os.environ.get("ATELIER_UI_AUTH"))
    if max_runs < 1:
        raise SystemExit(f"error: --max-runs must be at least 1, not {max_runs}")
    exposed = share or host not in ("127.0.0.1", "localhost", "::1")
    if exposed and not auth_pairs:
        print("warning: the UI is reachable from other machines without a login; "
              "pass --auth USER:PASSWORD (or set ATELIER_UI_AUTH)", file=sys.stderr)
    if single_user and auth_pairs and len(auth_pairs) > 1:
        raise SystemExit("error: --single-user shows every run to everyone; not with several users")
    demo = build_app(runs_dir, defaults, single_user=single_user, max_runs=max_runs)
    demo.launch(server_name=host, server_port=port, share=share, auth=auth_pairs, **launch_kwargs(demo))


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Atelier's chat UI")
    p.add_argument("--host", default=None,
                   help="interface to listen on (default: $GRADIO_SERVER_NAME, else loopback only)")
    p.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--share", action="store_true", help="make a public Gradio link (use with --auth)")
    p.add_argument("--auth", default=None, help="USER:PASSWORD[,USER2:PASSWORD2] (or ATELIER_UI_AUTH)")
    p.add_argument("--runs", default="runs", help="runs folder (default: runs)")
    p.add_argument("--single-user", action="store_true",
                   help="one person uses this app: History may show every run in the folder")
    p.add_argument("--max-runs", type=int, default=4, help="runs at once across all sessions")
    for name in ("llm", "image_model", "video_model", "critic", "max_iterations"):  # the run options' own
        field = RunOptions.model_fields[name]
        p.add_argument("--" + name.replace("_", "-"), default=field.default, help="default " + RunOptions.help(name),
                       type=int if field.annotation is int else str)
    a = p.parse_args(argv)
    try:
        defaults = ui.Settings.parse(llm=a.llm, image_model=a.image_model, video_model=a.video_model,
                                     critic=a.critic, max_iterations=a.max_iterations)
    except AtelierError as e:
        raise SystemExit(f"error: {e}") from None
    main(a.host, a.port, a.share, auth=a.auth, runs_dir=a.runs, single_user=a.single_user, max_runs=a.max_runs,
         defaults=defaults)
