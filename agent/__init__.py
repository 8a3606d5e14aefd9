"""Atelier: an agent that turns a creative brief into an approved image or clip.

`from agent import Studio`; the heavy parts (torch, diffusers) load only when a back end needs them."""
from agent.core.errors import AtelierError, ConfigError, InputError, ServiceError
from agent.core.types import (Artifact, Attempt, Brief, Budget, Event, Finding, GenerationRequest,
                         ObjectSpec, RunRecord, SceneSpec, Verdict)

__all__ = ["Studio", "Result", "Brief", "Budget", "SceneSpec", "ObjectSpec", "GenerationRequest",
           "Artifact", "Verdict", "Finding", "Attempt", "RunRecord", "Event", "AtelierError",
           "ConfigError", "InputError", "ServiceError"]


def __getattr__(name: str):
    if name in ("Studio", "Result"):
        from agent.surfaces import api
        return getattr(api, name)
    raise AttributeError(name)
