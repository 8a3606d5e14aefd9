"""Atelier's chat UI: `python app.py` (or `atelier ui`). A thin Gradio layer over the Python API
(`agent.surfaces.api.Studio`): every decision about a run is the core's. The package:

- `handlers.py` / `viewer.py`: `ChatUI`, the state (desks, archive, policy) with one method per click,
  each returning `{component: update}`; testable without a browser (tests/test_ui_handlers.py).
- `page.py`: the layout (`Page`, the components); `wiring.py`: which event runs which handler;
  `files.py`: what reaches the page (copies in Gradio's cache of files under the runs folder only);
  `style.py`: CSS and the page's JavaScript; `api_routes.py`: the gradio_client API;
  `launch.py`: `build_app` (a gr.Blocks, not launched), `main`, `cli`.
- `conversations.py`: `KeptDesks`, each tab's desk kept in the runs folder, so a chat outlives a
  restart of the server.
- Runs in flight, per-tab desks and queues: `agent/surfaces/ui_desks.py`; message text:
  `ui_text.py`; settings, checks and images: `ui_support.py` (none of them imports Gradio).

Each browser tab has a desk on the server (a key kept in the tab's sessionStorage), so a reload
reattaches to its runs; runs belong to the logged-in user, else the browser. At most --max-runs
runs at once across all tabs. It listens on 127.0.0.1 unless told otherwise; --auth USER:PASS
(or ATELIER_UI_AUTH) turns on Gradio's login.
"""
from agent.surfaces import ui_support as _support

_support.listen_address(None, None)  # gradio reads GRADIO_SERVER_PORT as it is imported: a bad one is one line

from agent.surfaces.ui.files import chat_value  # noqa: E402
from agent.surfaces.ui.handlers import ChatUI  # noqa: E402
from agent.surfaces.ui.launch import build_app, cli, launch_kwargs, main, parse_auth  # noqa: E402
from agent.surfaces.ui.page import EXAMPLES, Page  # noqa: E402
from agent.surfaces.ui.style import CSS  # noqa: E402

__all__ = ["CSS", "EXAMPLES", "ChatUI", "Page", "build_app", "chat_value", "cli", "launch_kwargs", "main",
           "parse_auth"]
