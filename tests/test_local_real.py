"""Real weights, when this machine has them (`atelier models pull NAME`, or ATELIER_MODEL_NAME=path):
one request per model at its default size and steps. Skipped where the weights are absent."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")
from PIL import Image  # noqa: E402

from agent.core.types import GenerationRequest  # noqa: E402
from local_models.catalog import IMAGE_MODELS, VIDEO_MODELS, load_image_backend, load_video_backend  # noqa: E402
from local_models.specs import SPECS  # noqa: E402
from local_models.weights import find  # noqa: E402

pytestmark = pytest.mark.slow


def needs(name: str):
    if find(SPECS[name]) is None:
        pytest.skip(f"weights of {name} are not on this machine")


@pytest.mark.parametrize("name", [n for n in IMAGE_MODELS if n in SPECS and SPECS[n].text2img])
def test_real_text_to_image(name, tmp_path):
    needs(name)
    spec = SPECS[name]
    art = load_image_backend(name).generate(GenerationRequest(prompt="a red apple on a wooden table"), tmp_path)[0]
    with Image.open(art.path) as im:
        assert im.size == spec.sizes[0]


@pytest.mark.parametrize("name", [n for n in IMAGE_MODELS if n in SPECS and "img2img" in SPECS[n].edits])
def test_real_image_to_image(name, tmp_path):
    needs(name)
    Image.new("RGB", (600, 400), (200, 60, 40)).save(tmp_path / "source.png")
    art = load_image_backend(name).edit(GenerationRequest(prompt="a red apple", source_image=tmp_path / "source.png",
                                                          steps=max(2, SPECS[name].steps)), tmp_path)[0]
    with Image.open(art.path) as im:
        assert im.size == (600, 400)


@pytest.mark.parametrize("name", [n for n in VIDEO_MODELS if n in SPECS])  # the embedded one ships: tests/test_video_loop.py
def test_real_video(name, tmp_path):
    needs(name)
    spec = SPECS[name]
    Image.new("RGB", spec.sizes[0], (200, 60, 40)).save(tmp_path / "still.png")
    art = load_video_backend(name).generate(GenerationRequest(prompt="a red ball rolls across a table",
                                                              source_image=tmp_path / "still.png"), tmp_path)[0]
    assert art.meta["frames"] == spec.frames and art.path.stat().st_size > 0
