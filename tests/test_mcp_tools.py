"""The MCP tools as plain functions (agent/surfaces/mcp_tools.py): called with a server's state and
no client session, and bound for the SDK without that state, the operator's defaults in the schema."""
from __future__ import annotations

import base64
import inspect
import io

import pytest
from PIL import Image

pytest.importorskip("mcp")


@pytest.fixture
def state(tmp_path):
    from agent.surfaces.mcp_state import McpState
    return McpState(tmp_path / "runs", llm="offline", image_model="local:shapes", critic="critic:detector",
                    video_model=None, policy=None, files_dir=None, inline_limit=1000)


def png_base64(colour) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_tool_runs_as_a_function_with_the_state_given(state):
    from agent.surfaces.mcp_tools import critique_image

    answer = critique_image(state, image_base64=png_base64((255, 255, 255)), brief="a red circle")
    verdict = answer.structured_content["verdict"]
    assert verdict["approved"] is False and answer.content[0].text.startswith("not approved")


def test_a_tools_bad_call_is_its_own_error_before_any_session(state):
    from mcp.server.mcpserver.exceptions import ToolError

    from agent.surfaces.mcp_tools import critique_image

    with pytest.raises(ToolError, match="give exactly one image"):
        critique_image(state, brief="a red circle")


def test_bound_tools_hide_the_state_and_name_the_servers_defaults(state):
    from agent.surfaces.mcp_tools import TOOLS, bind

    for fn in TOOLS:
        bound = bind(fn, state)
        assert "state" not in inspect.signature(bound).parameters and bound.__name__ == fn.__name__
    run_brief = inspect.signature(bind(TOOLS[0], state)).parameters
    texts = {name: p.annotation.__metadata__[-1].description for name, p in run_brief.items()
             if name in ("image_model", "critic", "llm", "video_model")}
    assert texts["image_model"] == "image back end; default local:shapes"
    assert texts["critic"] == "critic; default critic:detector" and texts["llm"] == "director; default offline"
    assert texts["video_model"].endswith("then gets a clip")  # no video default: none named
