"""Today's models as specs: every family's pipeline classes are in the installed diffusers, and the
arguments each back end builds for its default request are ones those pipelines take."""
from __future__ import annotations

import importlib

import pytest

pytest.importorskip("diffusers")
from PIL import Image  # noqa: E402

from agent.core.types import GenerationRequest  # noqa: E402
from local_models.catalog import IMAGE_MODELS, VIDEO_MODELS  # noqa: E402
from local_models.pipeline_cache import Loaded, call_parameters, pipeline_class  # noqa: E402

NEW = ["sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "flux-fill", "flux-kontext", "qwen-image",
       "qwen-image-edit", "wan2.2-t2v", "wan2.2-i2v", "ltx-video"]


def backend(name):
    module, _, cls = {**IMAGE_MODELS, **VIDEO_MODELS}[name].partition(":")
    return getattr(importlib.import_module(module), cls)(name)


@pytest.mark.parametrize("name", NEW)
def test_a_new_model_builds_arguments_its_pipeline_takes(name, tmp_path):
    import torch

    b = backend(name)
    Image.new("RGB", (1024, 768), (90, 120, 200)).save(tmp_path / "s.png")
    Image.new("L", (1024, 768), 255).save(tmp_path / "m.png")
    edit = b.spec.edits[0] if not b.spec.text2img and b.spec.kind == "image" else None
    request = GenerationRequest(prompt="a lighthouse at dusk", n=2,
                                source_image=tmp_path / "s.png" if edit or not b.spec.text2img else None,
                                mask=tmp_path / "m.png" if edit == "inpaint" else None,
                                instruction="make it night" if edit == "instruct" else None)
    inputs = b.check_inputs(request, edit or "text2img") if b.spec.kind == "image" else b.check_inputs(request)
    loaded = Loaded(None, torch.device("cpu"), torch.float32, 0, {})
    cls = pipeline_class(b.pipelines[b.base_task if edit is None else edit])
    kwargs = b.call_kwargs(request, inputs, loaded)
    taken = call_parameters(cls)
    for key in ("prompt", "num_inference_steps", "height", "width"):
        assert key in kwargs and key in taken, key
    if name.startswith("qwen"):
        assert kwargs["true_cfg_scale"] == 4.0 and "true_cfg_scale" in taken and kwargs["negative_prompt"] == " "
    if edit == "instruct":
        assert kwargs["prompt"] == "make it night" and "image" in kwargs and "image" in taken
    if name == "wan2.2-i2v":
        assert kwargs["image"].size == (inputs.width, inputs.height) and "image" in taken
    if name.startswith("qwen"):  # true CFG only: no "guidance_scale ... ignored" warning from the pipeline
        assert kwargs["guidance_scale"] is None
    if name == "flux-kontext":  # the trained size nearest 4:3, and the pipeline told to keep it
        assert (inputs.width, inputs.height) == (1184, 880)
        assert kwargs["max_area"] == 1184 * 880 and kwargs["_auto_resize"] is False
        assert {"max_area", "_auto_resize"} <= taken
    if name == "ltx-video":  # its rotary positions are scaled by the frame rate (the pipeline assumes 25)
        assert kwargs["frame_rate"] == 24 and "frame_rate" in taken
    if name == "wan2.2-t2v":  # the low-noise expert's guidance, as Wan 2.2's own sampler sets it
        assert kwargs["guidance_scale"] == 4.0 and kwargs["guidance_scale_2"] == 3.0 and "guidance_scale_2" in taken


def test_every_size_on_a_menu_is_a_multiple_the_model_takes():
    """Qwen-Image's 4:3 was 1472×1140: its pipeline rounds to 16, so 1140 came back 1136."""
    from local_models.specs import SPECS

    for spec in SPECS.values():
        for w, h in spec.sizes:
            assert w % spec.multiple == 0 and h % spec.multiple == 0, (spec.name, w, h)


def test_kontext_menu_is_the_resolutions_it_was_trained_at():
    from diffusers.pipelines.flux.pipeline_flux_kontext import PREFERRED_KONTEXT_RESOLUTIONS

    from local_models.specs import SPECS

    assert set(SPECS["flux-kontext"].sizes) == set(PREFERRED_KONTEXT_RESOLUTIONS)


def test_sd35_can_drop_its_third_text_encoder(monkeypatch):
    monkeypatch.setenv("ATELIER_DROP_T5", "1")
    assert backend("sd3.5-large").components(None) == {"text_encoder_3": None, "tokenizer_3": None}
    monkeypatch.delenv("ATELIER_DROP_T5")
    assert backend("sd3.5-large").components(None) == {}
