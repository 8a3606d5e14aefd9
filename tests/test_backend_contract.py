"""The back-end contract (tests/backend_contract.py) over every local image and video family, on tiny
seeded pipelines built in code: seconds per family."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")
from tests.backend_contract import TOLERANCE, FromDisk, ImageContract, VideoContract, pixels  # noqa: E402


class TestSD(ImageContract):
    family, safety = "sd", True


class TestInstructPix2Pix(ImageContract):
    family, tasks, safety = "instruct-pix2pix", ("instruct",), True

    def check_size(self, task, arts):
        super().check_size("img2img", [a.model_copy(update={"meta": {**a.meta, "task": "img2img"}}) for a in arts])


class TestSDXL(ImageContract):
    family = "sdxl"


class TestFlux(ImageContract):
    family = "flux"


class TestSD3(ImageContract):
    family = "sd3"


class TestCogVideoX(VideoContract):
    family = "cogvideox"


class TestWan(VideoContract):
    family = "wan"


class TestSVD(VideoContract):
    family, tasks, size = "svd", ("image2video",), (32, 32)

    def test_a_source_keeps_its_aspect(self, tmp_path, monkeypatch):
        """A portrait source animates at the portrait size, fitted and padded, not stretched to landscape."""
        from dataclasses import replace

        from PIL import Image

        from local_models import decoding, tiny_pipelines as tiny
        from local_models.svd import SVDBackend

        spec = replace(tiny.tiny_spec("svd"), sizes=((48, 32), (32, 48)))
        backend = SVDBackend(spec.name, spec=spec, pipeline=tiny.build("svd"))
        Image.new("RGB", (30, 60), (200, 30, 30)).save(tmp_path / "tall.png")  # 1:2, portrait
        chunks, real = [], decoding.svd_latents
        monkeypatch.setattr(decoding, "svd_latents", lambda *a: chunks.append(a[3]) or real(*a))
        self.force_out_of_memory(backend, monkeypatch, "decode", times=1)
        art = backend.generate(self.request(source_image=tmp_path / "tall.png", num_frames=3), tmp_path)[0]
        assert (art.request.width, art.request.height) == (32, 48) and self.frames(art)[0].shape == (48, 32, 3)
        assert art.meta["source_box"] == [4, 0, 28, 48]  # 24×48 inside 32×48: the aspect kept
        assert chunks == [2]  # decoded again at level 1 with the smaller chunk (8 at level 0 ran out)


# -- the newer families (local_models/tiny_recent.py), each loaded from a saved folder --

@pytest.mark.slow  # SD3's pipelines and code: TestSD3 runs them in the default pass
class TestSD35(FromDisk, ImageContract):
    family = "sd3.5"


@pytest.mark.slow  # two loads and a picture, 5-8 s; test_local_specs checks what ATELIER_DROP_T5 leaves out
def test_sd35_loads_from_a_folder_with_and_without_text_encoder_3(tmp_path, monkeypatch):
    """sd3.5-large's spec from a saved folder: StableDiffusion3Pipeline with all three text encoders; with
    ATELIER_DROP_T5=1 the third (T5-XXL) is not loaded, and the model still draws at the size asked."""
    contract = TestSD35()
    full = contract.make()
    assert type(full.load().pipe).__name__ == "StableDiffusion3Pipeline" and full.load().pipe.text_encoder_3 is not None
    monkeypatch.setenv("ATELIER_DROP_T5", "1")
    backend = contract.make()
    art = backend.generate(contract.request(width=48, height=32), tmp_path)[0]
    pipe = backend.load().pipe
    assert pipe.text_encoder_3 is None and pipe.tokenizer_3 is None and pipe.text_encoder_2 is not None
    assert pixels(art.path).shape == (32, 48, 3)
    contract.make()  # evicts this T5-less copy


class TestFluxFill(FromDisk, ImageContract):
    family, tasks, two_stage_edits = "flux-fill", ("inpaint",), True


class TestFluxKontext(FromDisk, ImageContract):
    family, tasks, two_stage_edits = "flux-kontext", ("instruct",), True

    def test_an_edit_runs_at_the_trained_size_nearest_the_source(self, backend, files, tmp_path, monkeypatch):
        """A 44×36 source runs at 32×32 (the menu's nearest aspect), not at the pipeline's 1024² max_area,
        and comes back at the source's size."""
        sizes = []
        real = backend.decode

        def decode(pipe, latents, kwargs, loaded):
            sizes.append((kwargs["width"], kwargs["height"], kwargs["max_area"], latents.shape[1]))
            return real(pipe, latents, kwargs, loaded)

        monkeypatch.setattr(backend, "decode", decode)
        art = self.run(backend, "instruct", files, tmp_path, seed=0, n=1)[0]
        assert sizes == [(32, 32, 32 * 32, 16 * 16)]  # packed 2×2: 16×16 patches of a 32×32 picture
        assert pixels(art.path).shape == (36, 44, 3)


class TestQwenImage(FromDisk, ImageContract):
    family, tasks = "qwen-image", ("text2img",)


class TestWan22(FromDisk, VideoContract):
    family = "wan2.2-t2v"

    def test_both_experts_run(self, backend, tmp_path):
        """The high-noise expert (`transformer`) denoises first, the low-noise one (`transformer_2`) after
        the boundary: both load from the folder and both run."""
        loaded = backend.load()
        calls, hooks = [], []
        for name in ("transformer", "transformer_2"):
            hooks.append(getattr(loaded.pipe, name).register_forward_pre_hook(
                lambda _module, _args, _n=name: calls.append(_n)))
        try:
            self.run(backend, "text2video", None, tmp_path, seed=0, n=1, steps=4)
        finally:
            for hook in hooks:
                hook.remove()
        assert calls[0] == "transformer" and calls[-1] == "transformer_2", calls


class TestWan22ImageToVideo(FromDisk, VideoContract):
    family, tasks = "wan2.2-i2v", ("image2video",)

    def test_two_stages_equal_the_pipelines_own_call(self, backend, tmp_path):
        """Its latents (the image's condition went in beside them) decode as Wan 2.1's do."""
        super().test_two_stages_equal_the_pipelines_own_call(backend, tmp_path)


class TestLTX(FromDisk, VideoContract):
    family, size = "ltx", (32, 32)

    def test_two_stages_equal_the_pipelines_own_call(self, backend, tmp_path):
        """Its latents (packed, normalised) decode apart as LTXPipeline's own call decodes them."""
        super().test_two_stages_equal_the_pipelines_own_call(backend, tmp_path)


def test_ltx_decoding_at_a_timestep_draws_the_pipelines_noise(tmp_path, monkeypatch):
    """LTX-Video 0.9.1's VAE decodes at `decode_timestep` with noise blended in: decoded apart, the frames are
    the pipeline's own call's (the noise drawn from each request's generator as the denoising left it), and
    a decoding that ran out of memory twice decodes the same frames lower on the ladder, denoising once."""
    from dataclasses import replace

    import numpy as np
    import torch

    from local_models import tiny_pipelines as tiny, tiny_recent
    from local_models.ltx import LTXBackend

    spec = tiny.tiny_spec("ltx")
    spec = replace(spec, options={**spec.options, "decode_timestep": 0.05, "decode_noise_scale": 0.5})
    contract = TestLTX()

    def make():
        pipe = tiny_recent.ltx(timestep_conditioning=True)
        pipe.set_progress_bar_config(disable=True)
        return LTXBackend(spec.name, spec=spec, pipeline=pipe)

    backend = make()
    loaded = backend.load()
    request = contract.request(seed=1, n=2)
    inputs = backend.check_inputs(request)
    with loaded.lock:
        ours = backend._call(loaded.pipe, [(request, inputs)], loaded)
        kwargs = backend.call_args(loaded.pipe, [(request, inputs)], loaded)
        theirs = loaded.pipe(**kwargs, generator=[torch.Generator("cpu").manual_seed(s) for s in (1, 2)],
                             output_type="pil").frames
        kwargs["decode_noise_scale"] = 0.0  # the noise shows: without it the frames differ
        plain = loaded.pipe(**kwargs, generator=[torch.Generator("cpu").manual_seed(s) for s in (1, 2)],
                            output_type="pil").frames
    frames = [[np.asarray(f, np.int16) for f in clip] for clip in (*ours, *theirs, *plain)]
    assert all(np.abs(a - b).max() <= 1 for a, b in zip(frames[0] + frames[1], frames[2] + frames[3]))
    assert max(np.abs(a - b).max() for a, b in zip(frames[0], frames[4])) > 10
    retried = make()
    seen = contract.force_out_of_memory(retried, monkeypatch, "decode", times=2)
    clip = contract.run(retried, "text2video", None, tmp_path, seed=1, n=1)[0]
    assert seen == {"denoise": [0], "decode": [0, 1, 2]} and retried.load().memory == 2
    assert max(np.abs(a - b).max() for a, b in zip(contract.frames(clip), frames[0])) <= TOLERANCE
