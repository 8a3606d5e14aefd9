"""Default model names as settings, not code: agent/core/data/models.yaml, a user's file named by
ATELIER_MODELS merged over it, and one environment variable per default (see the YAML)."""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import yaml

from agent.core.errors import ConfigError

# What a run uses when nothing is named: the offline director, the shapes model, the shapes detector.
# Every surface's default comes from here (tests and docs may spell them out as examples).
DEFAULT_LLM = "offline"
DEFAULT_IMAGE_MODEL = "local:shapes"
DEFAULT_CRITIC = "critic:detector"
# the embedded video model a run suggests (it makes clips only when one is named): a first frame composed
# and approved as a still, then animated; on held-out motion briefs its loop is right 88.8% against the
# AnimateDiff model's 16.2% (BENCHMARKS.md, issue 26 item 5)
DEFAULT_VIDEO_MODEL = "local:shapes-animate"
# The briefs the README and the chat UI offer; `python -m agent.surfaces.bench_examples` checks each
# is approved on the embedded default for seeds 0..19.
EXAMPLE_BRIEFS = ["two red circles left of a blue square", "a yellow star above a purple ring",
                  "three green triangles", "a blue star below a green square",
                  "a yellow triangle above a green circle", "three blue squares on a beige background",
                  # the README's other examples (atelier spec, the Python API, the OpenAI-style endpoint)
                  "two red circles left of a blue square on a beige background", "two red circles", "a red circle"]

MODELS_ENV = "ATELIER_MODELS"
# (role, provider) -> environment variable that overrides it
ENV = {("llm", "anthropic"): "ATELIER_ANTHROPIC_MODEL", ("llm", "openai"): "ATELIER_OPENAI_MODEL",
       ("image", "openai"): "ATELIER_OPENAI_IMAGE_MODEL"}
CRITIC_ENV = "ATELIER_CRITIC_LLM"


def _table() -> dict:
    table = yaml.safe_load(files("agent.core").joinpath("data/models.yaml").read_text(encoding="utf-8")) or {}
    if override := os.environ.get(MODELS_ENV):
        try:
            mine = yaml.safe_load(Path(override).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read {MODELS_ENV}={override}: {e}") from None
        for role, models in mine.items() if isinstance(mine, dict) else ():
            table.setdefault(role, {}).update(models or {})
    return table


def default_model(provider: str, role: str = "llm") -> str:
    """The model `provider` uses for `role` ("llm", "critic", "image") when none is named."""
    if (var := ENV.get((role, provider))) and os.environ.get(var):
        return os.environ[var].strip()
    model = (_table().get(role) or {}).get(provider)
    if not model:
        raise ConfigError(f"no default {role} model for {provider}; name one ({provider}:MODEL) "
                          f"or add it to the file named by {MODELS_ENV}")
    return str(model)


def critic_llm_spec() -> str | None:
    """The vision LLM behind critic:vlm: ATELIER_CRITIC_LLM, else the default of the first provider
    whose key is set, else None."""
    if spec := os.environ.get(CRITIC_ENV, "").strip():
        return spec
    for variable, provider in (("ANTHROPIC_API_KEY", "anthropic"), ("OPENAI_API_KEY", "openai")):
        if os.environ.get(variable):
            return f"{provider}:{default_model(provider, 'critic')}"
    return None
