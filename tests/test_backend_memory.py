"""The memory ladder's lower levels run for real on tiny pipelines (the contract forces out-of-memory errors,
which never lets a level past the first draw a picture): group offload draws what the GPU-resident model
draws, fp8 storage keeps the denoiser's weights in float8 and still draws nearly it; the SDXL refiner, a
second pipeline, steps down the ladder with the base, and the base's share of the steps is kept."""
from __future__ import annotations

import functools

import numpy as np
import pytest

pytest.importorskip("diffusers")
import torch  # noqa: E402

from agent.core.types import GenerationRequest  # noqa: E402
from local_models import tiny_pipelines as tiny  # noqa: E402
from tests.backend_contract import pixels  # noqa: E402


def request(model: str = "local:tiny-sd", **kw) -> GenerationRequest:
    return GenerationRequest(prompt="two red circles", model=model, width=32, height=32, seed=5, **kw)


def drawn_at(level: int | None, tmp_path, monkeypatch):
    if level is not None:
        monkeypatch.setenv("ATELIER_MEMORY", str(level))
    backend = tiny.backend("sd")
    art = backend.generate(request(), tmp_path)[0]
    return backend.load(), pixels(art.path)


def test_group_offload_and_fp8_levels_draw(tmp_path, monkeypatch):
    from diffusers.hooks.group_offloading import _is_group_offload_enabled

    _, plain = drawn_at(None, tmp_path, monkeypatch)
    loaded, grouped = drawn_at(3, tmp_path, monkeypatch)
    assert loaded.memory == 3 and _is_group_offload_enabled(loaded.pipe.unet) and _is_group_offload_enabled(loaded.pipe.vae)
    assert np.abs(grouped - plain).max() <= 1  # offloading moves weights, it changes no arithmetic
    loaded, fp8 = drawn_at(4, tmp_path, monkeypatch)
    weights = {p.dtype for p in loaded.pipe.unet.parameters()}
    assert torch.float8_e4m3fn in weights and _is_group_offload_enabled(loaded.pipe.unet)
    assert {p.dtype for p in loaded.pipe.vae.parameters()} == {torch.float32}  # only the denoiser is stored in fp8
    assert 0 < np.abs(fp8 - plain).mean() < 16  # rounded weights: nearly the picture, not noise or black


def test_the_sdxl_refiner_steps_down_with_the_base_and_keeps_its_share(tmp_path, monkeypatch):
    import diffusers

    from local_models import diffusers_base

    base = tiny.build("sdxl")
    tiny.sdxl_refiner(base).save_pretrained(tmp_path / "refiner")
    monkeypatch.setenv("ATELIER_MODEL_SDXL_REFINER", str(tmp_path / "refiner"))
    backend = tiny.backend("sdxl", pipeline=base)
    calls, levels = [], []
    for cls in (diffusers.StableDiffusionXLPipeline, diffusers.StableDiffusionXLImg2ImgPipeline):
        real = cls.__call__

        @functools.wraps(real)  # its signature is what the back end reads to pick the call's arguments
        def call(pipe, *args, _real=real, _name=cls.__name__, **kwargs):
            calls.append(_name)
            if _name.endswith("Img2ImgPipeline") and calls.count(_name) == 1:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return _real(pipe, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", call)
    real_apply = diffusers_base.apply_memory
    monkeypatch.setattr(diffusers_base, "apply_memory", lambda pipe, level, device: (
        levels.append((type(pipe).__name__, level)), real_apply(pipe, level, device))[1])
    arts = backend.generate(request(model="local:tiny-sdxl", steps=4, extra={"refiner": True, "refiner_switch": 0.5}),
                            tmp_path)
    assert len(arts) == 1 and backend.load().memory == 1
    assert calls == ["StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLImg2ImgPipeline"]
    assert ("StableDiffusionXLPipeline", 1) in levels and ("StableDiffusionXLImg2ImgPipeline", 1) in levels
