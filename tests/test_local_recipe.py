"""The fully local recipe (README, "Fully local"): a local OpenAI-compatible server (Ollama, vLLM,
llama.cpp) as the director and as the VLM critic, a local diffusers model as the image back end.
The server's answers are recorded chat completions in the OpenAI wire format; the image back end
is the real SD back end on a tiny pipeline. No key, no network, no cost."""
import json

import pytest

pytest.importorskip("diffusers")

from agent import Studio  # noqa: E402
from tests import fakes  # noqa: E402
from tests.llm_wire import Wire, chat_completion, function_call  # noqa: E402

SERVER = "http://localhost:11434/v1"
DIRECTOR = f"openai-compatible:qwen3@{SERVER}"
CRITIC = f"critic:vlm@openai-compatible:qwen2.5vl@{SERVER}"
PRESENTATION = "A red apple on a white table in soft window light, framed close to fill the square."


def tiny_sd(name: str = ""):
    from local_models import tiny_pipelines as tiny

    return tiny.backend("sd")  # the real SDBackend, its weights a tiny seeded pipeline


@pytest.fixture(autouse=True)
def local_model(monkeypatch):
    yield from fakes.installed(monkeypatch, tinylocal="tests.test_local_recipe:tiny_sd")


def test_local_server_directs_and_judges_a_local_diffusers_model(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    verdict = {"scores": {"prompt_adherence": 8, "quality": 8, "composition": 8}, "issues": [],
               "answers": [{"id": 1, "answer": "yes", "observed": "one red apple"},
                           {"id": 2, "answer": "no", "observed": "clean, no artefacts"}]}
    wire = Wire([
        chat_completion(tool_calls=[function_call("refine_prompt", {"prompt": "a red apple on a white table"}, id="c1")],
                        model="qwen3"),
        chat_completion(tool_calls=[function_call("generate_image", {"prompt": "a red apple on a white table",
                                                                     "seed": 4}, id="c2")], model="qwen3"),
        chat_completion(content=json.dumps(verdict), model="qwen2.5vl"),  # the critic's structured reply
        chat_completion(content=PRESENTATION, model="qwen3"),  # the director's last turn
    ]).install(monkeypatch, "openai")
    result = Studio(llm=DIRECTOR, image_model="tinylocal:sd", critic=CRITIC, runs_dir=tmp_path).run(
        "a red apple", spec={"include": [{"class": "apple", "count": 1, "color": "red"}]}, seed=4)
    record = result.record
    assert result.approved and wire.exhausted and record.presentation == PRESENTATION
    assert all(str(r.url).startswith(f"{SERVER}/chat/completions") for r in wire.requests)
    bodies = wire.bodies()
    assert [b["model"] for b in bodies] == ["qwen3", "qwen3", "qwen2.5vl", "qwen3"]
    assert bodies[0]["max_tokens"] and "max_completion_tokens" not in bodies[0]  # what local servers know
    critic_request = bodies[2]
    assert critic_request["response_format"]["type"] == "json_schema"
    assert any(part.get("type") == "image_url" for part in critic_request["messages"][-1]["content"])
    assert result.best.artifact.meta["task"] == "text2img" and result.best.artifact.path.is_file()
    # a local server costs nothing per token, but every call's tokens are still recorded
    assert len(record.usage) == 4 and all(u["cost_usd"] == 0 for u in record.usage) and record.cost_usd == 0
    assert {u["llm"] for u in record.usage} == {DIRECTOR, CRITIC.removeprefix("critic:vlm@")}
