"""Small, fast back ends for testing the loop itself: an image back end that paints one flat
colour per seed, and a critic whose verdict depends only on the seed (so tests can script it)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from agent.core.artifacts import save_image
from agent.core.errors import InputError
from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest, Verdict


class FlatBackend:
    def __init__(self, model: str = ""):
        self.info = ModelInfo(name="test:flat", sizes=[(32, 32), (48, 32)], default_steps=1,
                              default_guidance=5.0, edits=["img2img", "inpaint"])
        self.calls: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        self.calls.append(request)
        size = (request.width or 32, request.height or 32)
        if size not in self.info.sizes:
            raise InputError(f"size {size[0]}x{size[1]} is not on test:flat's menu (32x32, 48x32)")
        return [save_image(Image.new("RGB", size, ((request.seed + i) * 40 % 256, 90, 160)), out_dir,
                           request.model_copy(update={"seed": request.seed + i, "n": 1}), index=i)
                for i in range(request.n)]

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        return self.generate(request, out_dir)


APPROVE_SEEDS: set[int] = set()


class SeedCritic:
    """Approves the seeds in APPROVE_SEEDS; scores every other seed by seed % 7."""

    name = "critic:seed"
    kinds = ("image",)

    def critique(self, artifact: Artifact, brief_text: str, spec) -> Verdict:
        seed = artifact.request.seed
        ok = seed in APPROVE_SEEDS
        return Verdict(critic=self.name, approved=ok, scores={"q": 10.0 if ok else float(seed % 7)},
                       issues=[] if ok else [f"seed {seed} is not liked"])



def installed(monkeypatch, approve=(), **image_backends: str):
    """For a fixture (`yield from fakes.installed(monkeypatch, approve={8})`): register the fakes
    (image `test:flat`, critic `critic:seed`, plus any `prefix="module:factory"`) approving the seeds
    in `approve`, and empty the registry's cache before and after, so no fake outlives its test."""
    from agent.core import registry
    from agent.critics import CRITICS

    monkeypatch.setitem(CRITICS, "seed", "tests.fakes:SeedCritic")
    monkeypatch.setattr(f"{__name__}.APPROVE_SEEDS", set(approve))
    with registry.override("image", "test", "tests.fakes:FlatBackend", **image_backends):
        yield
