"""The editing extras on tiny pipelines: InstructPix2Pix, ControlNet (canny edges by OpenCV), LoRA with
per-adapter weights, IP-Adapter style reference, the SDXL refiner hand-off."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")
from PIL import Image  # noqa: E402

from agent.core.types import GenerationRequest  # noqa: E402
from local_models import control, tiny_pipelines as tiny  # noqa: E402
from local_models.sd import SDBackend  # noqa: E402
from local_models.specs import SPECS  # noqa: E402


def pixels(artifact) -> np.ndarray:
    with Image.open(artifact.path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


@pytest.fixture
def source(tmp_path):
    image = Image.new("RGB", (40, 32), (20, 20, 20))
    image.paste((230, 40, 40), (8, 8, 24, 24))
    image.save(tmp_path / "source.png")
    return tmp_path / "source.png"


def req(**kw):
    return GenerationRequest(prompt="a red square", **kw)


def test_instruct_pix2pix_takes_an_instruction_and_two_guidance_scales(source, tmp_path):
    backend = tiny.backend("instruct-pix2pix")
    a = backend.edit(req(instruction="make it blue", source_image=source, guidance=7.5,
                         extra={"image_guidance": 1.5}), tmp_path)[0]
    b = backend.edit(req(instruction="make it blue", source_image=source, guidance=7.5,
                         extra={"image_guidance": 3.0}), tmp_path)[0]
    assert a.meta["task"] == "instruct" and pixels(a).shape == (32, 40, 3)
    assert not np.array_equal(pixels(a), pixels(b))  # the image guidance scale reaches the pipeline


def test_controlnet_canny(source, tmp_path, monkeypatch):
    edges = control.canny(Image.open(source), {})
    assert edges.size == (40, 32) and np.asarray(edges).max() == 255  # the square's outline
    folder = tmp_path / "controlnet"
    tiny.controlnet().save_pretrained(folder)
    monkeypatch.setenv("ATELIER_MODEL_SD21_CONTROLNET_CANNY", str(folder))
    backend = tiny.backend("sd")
    art = backend.edit(req(source_image=source, extra={"control": "canny", "control_scale": 1.0}), tmp_path)[0]
    assert art.meta["task"] == "controlnet-canny" and pixels(art).shape == (32, 40, 3)
    loaded = backend.load()
    assert loaded.tasks["controlnet-canny"].unet is loaded.pipe.unet
    Image.new("RGB", (40, 32), (90, 90, 90)).save(tmp_path / "depth.png")  # a depth map made elsewhere
    tiny.controlnet().save_pretrained(tmp_path / "depth-controlnet")
    monkeypatch.setenv("ATELIER_MODEL_SD21_CONTROLNET_DEPTH", str(tmp_path / "depth-controlnet"))
    depth = backend.edit(req(source_image=source, extra={"control": "depth", "control_image": str(tmp_path / "depth.png")}),
                         tmp_path)[0]
    assert depth.meta["task"] == "controlnet-depth" and pixels(depth).shape == (32, 40, 3)
    assert loaded.tasks["controlnet-depth"].controlnet is not loaded.tasks["controlnet-canny"].controlnet


def test_lora_changes_the_output_with_its_weight(tmp_path):
    pipe = tiny.build("sd")
    backend = tiny.backend("sd", pipeline=pipe)
    first, second = tiny.lora(pipe, tmp_path, seed=1), tiny.lora(pipe, tmp_path, seed=2)
    base = pixels(backend.generate(req(), tmp_path)[0])
    one = pixels(backend.generate(req(extra={"loras": {str(first): 1.0}}), tmp_path)[0])
    assert np.abs(one - base).max() > 3
    zero = pixels(backend.generate(req(extra={"loras": {str(first): 0.0}}), tmp_path)[0])
    assert np.abs(zero - base).max() <= 1
    both = pixels(backend.generate(req(extra={"loras": {str(first): 1.0, str(second): 0.5}}), tmp_path)[0])
    assert np.abs(both - one).max() > 3
    assert set(backend.load().loras) == {str(first), str(second)}  # each adapter loaded once
    after = pixels(backend.generate(req(), tmp_path)[0])
    assert np.abs(after - base).max() <= 1  # a request without LoRAs runs without them


def test_ip_adapter_style_reference(source, tmp_path, monkeypatch):
    pipe = tiny.build("sd")
    ip = tiny.ip_adapter(pipe.unet, tmp_path / "ip", weight_name="ip-adapter_sd15.safetensors")
    monkeypatch.setenv("ATELIER_MODEL_SD15_IP_ADAPTER", str(ip))
    tiny_sd15 = replace(tiny.tiny_spec("sd"), name="tiny-sd15", edits=SPECS["sd15"].edits, aux=SPECS["sd15"].aux)
    backend = SDBackend("tiny-sd15", spec=tiny_sd15, pipeline=pipe)
    plain = pixels(backend.generate(req(), tmp_path)[0])
    styled = backend.generate(req(extra={"style_image": str(source), "style_scale": 1.0}), tmp_path)[0]
    assert pixels(styled).shape == (32, 32, 3) and np.abs(pixels(styled) - plain).max() > 0
    again = pixels(backend.generate(req(), tmp_path)[0])  # the adapter is unloaded after its request
    assert np.array_equal(again, plain)


def test_sdxl_refiner_hand_off(tmp_path, monkeypatch):
    base = tiny.build("sdxl")
    folder = tmp_path / "refiner"
    tiny.sdxl_refiner(base).save_pretrained(folder)
    monkeypatch.setenv("ATELIER_MODEL_SDXL_REFINER", str(folder))
    backend = tiny.backend("sdxl", pipeline=base)
    plain = backend.generate(req(steps=4), tmp_path)[0]
    refined = backend.generate(req(steps=4, n=2, extra={"refiner": True, "refiner_switch": 0.5}), tmp_path)
    assert len(refined) == 2 and pixels(refined[0]).shape == (32, 32, 3)
    assert not np.array_equal(pixels(refined[0]), pixels(plain))
    refiner = backend.load().extras["refiner"]
    assert refiner.vae is base.vae and refiner.text_encoder_2 is base.text_encoder_2


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_turbo_edits_get_a_denoising_step(source, tmp_path, family):
    """sd-turbo / sdxl-turbo default to 1 step; an edit at strength 0.5 would run int(1 × 0.5) = 0
    denoising steps and fail. Without `steps` the edit runs the fewest steps that denoise; with too
    few steps it says how many it needs."""
    from agent.core.errors import InputError
    from local_models.diffusers_base import steps_for

    turbo = SPECS["sd-turbo" if family == "sd" else "sdxl-turbo"]
    backend = tiny.backend(family)
    backend.spec = replace(backend.spec, steps=turbo.steps, guidance=turbo.guidance, strength=turbo.strength)
    art = backend.edit(req(source_image=source), tmp_path)[0]
    assert art.meta["task"] == "img2img" and art.request.steps == 2
    assert backend.edit(req(source_image=source, strength=0.3), tmp_path)[0].request.steps == 4
    with pytest.raises(InputError, match="at least 2 steps"):
        backend.edit(req(source_image=source, steps=1), tmp_path)
    assert steps_for(1, 0.5) == 2 and steps_for(4, 0.5) == 4 and steps_for(1, 1.0) == 1


def test_edit_image_tool_takes_steps():
    from tools import default_toolbox

    spec = next(t for t in default_toolbox().specs() if t.name == "edit_image")
    assert "steps" in spec.parameters["properties"]


@pytest.mark.parametrize("memory", [0, 2])
def test_ip_adapter_loads_once_and_follows_cpu_offload(source, tmp_path, monkeypatch, memory):
    """The adapter was loaded from disk for every request; under model CPU offload its image
    encoder got no offload hook and stayed on the CPU while its inputs went to the GPU."""
    monkeypatch.setenv("ATELIER_MEMORY", str(memory))
    pipe = tiny.build("sd")
    ip = tiny.ip_adapter(pipe.unet, tmp_path / "ip", weight_name="ip-adapter_sd15.safetensors")
    monkeypatch.setenv("ATELIER_MODEL_SD15_IP_ADAPTER", str(ip))
    tiny_sd15 = replace(tiny.tiny_spec("sd"), name=f"tiny-sd15-m{memory}", edits=SPECS["sd15"].edits,
                        aux=SPECS["sd15"].aux)
    backend = SDBackend(tiny_sd15.name, spec=tiny_sd15, pipeline=pipe)
    loads = []
    real = pipe.load_ip_adapter
    monkeypatch.setattr(pipe, "load_ip_adapter", lambda *a, **k: (loads.append(1), real(*a, **k))[1])
    styled = [backend.generate(req(seed=s, extra={"style_image": str(source)}), tmp_path)[0] for s in (1, 2)]
    assert len(loads) == 1 and len(styled) == 2
    if memory >= 2:
        assert hasattr(pipe.image_encoder, "_hf_hook")  # moved to the execution device when it runs
    plain = backend.generate(req(), tmp_path)[0]  # a plain request after them runs without the adapter
    assert getattr(pipe, "image_encoder", None) is None and pixels(plain).shape == (32, 32, 3)
    backend.generate(req(extra={"style_image": str(source)}), tmp_path)
    assert len(loads) == 2
