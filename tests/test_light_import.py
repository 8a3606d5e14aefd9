import subprocess
import sys


def test_import_agent_and_resolve_names_without_torch():
    code = ("import sys, agent, agent.surfaces.cli, agent.surfaces.api, agent.core.registry as r; "
            "r.resolve('llm', 'offline'); "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'gradio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_side_of_the_warm_server_imports_no_torch_fastapi_or_gradio():
    code = ("import sys, agent.surfaces.cli, agent.surfaces.server.client, agent.surfaces.server.command; "
            "print(sorted(m for m in ('torch', 'diffusers', 'fastapi', 'uvicorn', 'gradio', 'mcp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
