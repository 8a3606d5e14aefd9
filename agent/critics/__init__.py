"""`critic:NAME` → a Critic. `critic:detector+vlm` combines several (their checklists merged: each item
decided by the critic that can, all must approve). critic:detector asks critic:ocr for the words."""
from __future__ import annotations

import importlib

from agent.core.errors import ConfigError

CRITICS: dict[str, str] = {
    "detector": "local_models.shapes.detector:DetectorCritic",
    "vlm": "agent.critics.vlm:VLMCritic",
    "ocr": "agent.critics.ocr:OCRCritic",
}


def load_critic(name: str):
    names = [n.strip().removeprefix("critic:") for n in name.split("+")]
    critics = []
    for n in names:
        base, _, arg = n.partition("@")  # critic:vlm@openai:gpt-5.5 picks the vision model
        if base not in CRITICS:
            raise ConfigError(f"unknown critic {n!r}; known: {', '.join(sorted(CRITICS))}")
        module_name, _, attr = CRITICS[base].partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
        critics.append(cls(arg) if arg else cls())
    if "detector" in names:  # the detector cannot read: OCR says where words are and decides text items
        from agent.critics.composite import WithWords
        critics = [WithWords(c) if n == "detector" else c for n, c in zip(names, critics)]
    if len(critics) == 1:
        return critics[0]
    from agent.critics.composite import CompositeCritic
    return CompositeCritic(critics)
