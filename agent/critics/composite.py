"""Several critics as one: approved only when every one approves; scores and issues merged."""
from __future__ import annotations

from agent.core.types import Artifact, SceneSpec, Verdict


class CompositeCritic:
    def __init__(self, critics: list):
        self.critics = critics
        self.name = "+".join(c.name for c in critics)
        # it judges what every one of its critics can judge
        self.kinds = tuple(k for k in ("image", "video") if all(k in getattr(c, "kinds", ("image",)) for c in critics))

    def critique(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None) -> Verdict:
        verdicts = [c.critique(artifact, brief_text, spec) for c in self.critics]
        errors = [v.error for v in verdicts if v.error]
        return Verdict(
            critic=self.name,
            approved=all(v.approved for v in verdicts) and not errors,
            scores={f"{v.critic}.{k}": s for v in verdicts for k, s in v.scores.items()},
            issues=[i for v in verdicts for i in v.issues],
            findings=[f for v in verdicts for f in v.findings],
            frames=next((v.frames for v in verdicts if getattr(v, "frames", None)), []),
            error="; ".join(errors) or None,
        )
