"""The back-end contract (tests/backend_contract.py) over every local image and video family, on tiny
seeded pipelines built in code: seconds per family."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")
from tests.backend_contract import ImageContract, VideoContract  # noqa: E402


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
