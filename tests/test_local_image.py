"""Local text-to-image and editing back ends on tiny pipelines built in code (no weights, no hub):
shapes, seeds, batches, the pipeline cache, schedulers, editing sizes."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
from PIL import Image  # noqa: E402

from agent.core.types import GenerationRequest  # noqa: E402
from local_models import diffusers_base, tiny_pipelines as tiny  # noqa: E402

FAMILIES = ["sd", "sdxl", "flux", "sd3"]


def pixels(artifact) -> np.ndarray:
    with Image.open(artifact.path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def backends():
    return {family: tiny.backend(family) for family in FAMILIES}


@pytest.fixture
def source(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "source.png"
    Image.fromarray(rng.integers(0, 255, (36, 44, 3), dtype=np.uint8)).save(path)  # off the model's multiple
    mask = Image.new("L", (44, 36), 0)
    mask.paste(255, (10, 10, 30, 30))
    mask.save(tmp_path / "mask.png")
    return path, tmp_path / "mask.png"


def request(family, **kw):
    return GenerationRequest(prompt="two red circles", model=f"local:tiny-{family}", **kw)


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_shape_seed_and_batch(backends, family, tmp_path):
    backend = backends[family]
    arts = backend.generate(request(family, seed=5, n=2, width=48, height=32), tmp_path)
    assert [a.request.seed for a in arts] == [5, 6] and all(a.kind == "image" for a in arts)
    assert all(a.path.suffix == ".png" and a.path.is_file() for a in arts)
    assert pixels(arts[0]).shape == (32, 48, 3)
    assert arts[0].meta["task"] == "text2img" and arts[0].request.steps == 2
    again = backend.generate(request(family, seed=5, n=2, width=48, height=32), tmp_path)
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(again, arts))  # same seed, same pictures
    assert not np.array_equal(pixels(arts[0]), pixels(arts[1]))
    for art in arts:  # image i of a batch is the single call with seed + i (up to batched float rounding)
        alone = backend.generate(request(family, seed=art.request.seed, width=48, height=32), tmp_path)[0]
        assert np.abs(pixels(alone) - pixels(art)).max() <= 3


@pytest.mark.parametrize("family", FAMILIES)
def test_edits_keep_the_source_size(backends, family, source, tmp_path):
    image, mask = source
    backend = backends[family]
    out = backend.edit(request(family, source_image=image, strength=0.5), tmp_path)[0]
    assert out.meta["task"] == "img2img" and pixels(out).shape == (36, 44, 3)
    assert out.parent is not None and out.request.width == 44
    painted = backend.edit(request(family, source_image=image, mask=mask, strength=1.0, n=2), tmp_path)
    assert [a.meta["task"] for a in painted] == ["inpaint"] * 2
    assert all(pixels(a).shape == (36, 44, 3) for a in painted)
    loaded = backend.load()  # editing pipelines share the text-to-image components: no second copy
    denoiser = "unet" if hasattr(loaded.pipe, "unet") else "transformer"
    for task in ("img2img", "inpaint"):
        assert getattr(loaded.tasks[task], denoiser) is getattr(loaded.pipe, denoiser)
        assert loaded.tasks[task].vae is loaded.pipe.vae


@pytest.mark.parametrize("scheduler", ["dpm++", "euler", "euler a", "ddim", "unipc", "dpm++ karras"])
def test_schedulers_by_name(backends, scheduler, tmp_path):
    art = backends["sd"].generate(request("sd", scheduler=scheduler), tmp_path)[0]
    expected = diffusers_base.SCHEDULERS[scheduler][0]
    assert art.meta["scheduler"] == expected and pixels(art).shape == (32, 32, 3)
    default = backends["sd"].generate(request("sd"), tmp_path)[0]
    assert default.meta["scheduler"] == "EulerDiscreteScheduler"  # back to the one the weights ship with


def test_flow_models_take_their_euler(backends, tmp_path):
    art = backends["flux"].generate(request("flux", scheduler="euler"), tmp_path)[0]
    assert art.meta["scheduler"] == "FlowMatchEulerDiscreteScheduler"


def test_cache_loads_a_folder_once(tmp_path_factory, tmp_path, monkeypatch):
    folder = tmp_path_factory.mktemp("tiny-sd-weights")
    tiny.build("sd").save_pretrained(folder)
    first = tiny.backend("sd", repo=folder)
    art = first.generate(request("sd"), tmp_path)[0]
    key = ("tiny-sd", str(folder))
    assert diffusers_base.LOADS[key] == 1 and pixels(art).shape == (32, 32, 3)
    second = tiny.backend("sd", repo=folder)  # a new back end object, as a later request would make
    second.generate(request("sd", seed=1), tmp_path)
    assert second.load() is first.load() and second.load().pipe is first.load().pipe
    assert diffusers_base.LOADS[key] == 1
    # a real model name pointed at a folder by its environment variable loads through the same path
    from local_models.catalog import load_image_backend

    monkeypatch.setenv("ATELIER_MODEL_SD_TURBO", str(folder))
    turbo = load_image_backend("sd-turbo")
    assert type(turbo.load().pipe).__name__ == "StableDiffusionPipeline"
    assert diffusers_base.LOADS[("sd-turbo", str(folder))] == 1
    assert turbo.load().device.type == diffusers_base.pick_device().type
