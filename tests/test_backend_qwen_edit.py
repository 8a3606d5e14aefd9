"""Qwen-Image-Edit (QwenImageEditPipeline) through the back-end contract: a tiny seeded pipeline
(local_models/tiny_recent.py) saved to a folder and loaded by the product's loading code.

Its Qwen2-VL processor needs torchvision (transformers builds the video processor with it), and the
torchvision build must match the installed torch: PyPI's wheel beside a CPU-only torch fails to load
its compiled ops ('operator torchvision::nms does not exist'). Where no working torchvision is
installed these tests are skipped, and test_local_specs checks the one-line refusal instead."""
from __future__ import annotations

import pytest

pytest.importorskip("diffusers")


def _torchvision_loads() -> bool:
    try:
        import torchvision.transforms.v2  # noqa: F401
    except Exception:  # noqa: BLE001 - missing, or a build for another torch
        return False
    return True


if not _torchvision_loads():
    pytest.skip("no torchvision that loads beside this torch (Qwen2-VL's processor needs it)", allow_module_level=True)

from tests.backend_contract import FromDisk, ImageContract, pixels  # noqa: E402

CONDITION_AREA = 32 * 32  # the tiny model's trained area (its spec's sizes), in place of the real model's 1024²


@pytest.fixture(autouse=True)
def tiny_condition_area(monkeypatch):
    """QwenImageEditPipeline resizes the source it conditions on to 1024² pixels whatever the model (the real
    model's training area, fixed in the module): through the tiny VAE on a CPU that costs minutes a call.
    The tiny model conditions at its own area; every other step is the pipeline's own."""
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit as edit

    real = edit.calculate_dimensions
    monkeypatch.setattr(edit, "calculate_dimensions", lambda _area, ratio: real(CONDITION_AREA, ratio))


class TestQwenImageEdit(FromDisk, ImageContract):
    family, tasks, two_stage_edits = "qwen-image-edit", ("instruct",), True

    def test_declares_instruction_edits_only(self, backend, tmp_path):
        """What the planner reads: instruction edits, no text to image; a text-to-image call is one line."""
        from agent.core.errors import AtelierError

        assert backend.info.name == "local:tiny-qwen-image-edit" and backend.info.edits == ["instruct"]
        assert not backend.spec.text2img
        with pytest.raises(AtelierError, match=r"^local:tiny-qwen-image-edit only edits images \(instruct\): "
                                               r"give it a source image$"):
            backend.generate(self.request(width=32, height=32), tmp_path)

    def test_the_processor_loads_from_its_folder(self, backend):
        """The folder's processor/ (Qwen2VLProcessor with its image and video processors) is what conditions
        the text encoder on the source."""
        pipe = backend.load().pipe
        assert type(pipe.processor).__name__ == "Qwen2VLProcessor"
        assert type(pipe.processor.video_processor).__name__ == "Qwen2VLVideoProcessor"

    def test_an_edit_runs_at_the_trained_size_nearest_the_source(self, backend, files, tmp_path, monkeypatch):
        """A 44×36 source is denoised at 32×32 (the menu's nearest aspect; a multiple of 16) and comes back
        at the source's own size."""
        sizes = []
        real = backend.decode

        def decode(pipe, latents, kwargs, loaded):
            sizes.append((kwargs["width"], kwargs["height"], latents.shape[1]))
            return real(pipe, latents, kwargs, loaded)

        monkeypatch.setattr(backend, "decode", decode)
        art = self.run(backend, "instruct", files, tmp_path, seed=0, n=1)[0]
        assert sizes == [(32, 32, 4 * 4)]  # the tiny VAE ÷4, packed 2×2: 4×4 patches
        assert pixels(art.path).shape == (36, 44, 3)

    def test_bad_input_is_one_line(self, backend, files, tmp_path):
        """No source, a source that is not there, too many pictures: one line naming the problem, before any
        denoising. A size asked for is not an edit's: it comes back at the source's own size."""
        from agent.core.errors import AtelierError

        source, _ = files
        for request, message in [
                (self.request(instruction="make it blue"), r"^instruct needs a source image$"),
                (self.request(source_image=tmp_path / "nope.png", instruction="make it blue"),
                 r"^image not found: .*nope\.png$"),
                (self.request(source_image=source, instruction="make it blue", n=9),
                 r"^local:tiny-qwen-image-edit makes at most 4 images per call, not 9$")]:
            with pytest.raises(AtelierError, match=message):
                backend.edit(request, tmp_path)
        art = backend.edit(self.request(source_image=source, instruction="make it blue", width=40, height=33),
                           tmp_path)[0]
        assert pixels(art.path).shape == (36, 44, 3) and (art.request.width, art.request.height) == (44, 36)


def test_its_derived_layout_is_what_the_pipeline_saves_now():
    """tests/fixtures/hub/derived-qwen-image-edit.json (what `pull` is tested on) is the layout
    QwenImageEditPipeline saves today, processor/ included (the diffusers version aside)."""
    import json

    from tests.fixtures.hub import derive_layouts

    fresh = derive_layouts.layout("qwen-image-edit")
    kept = json.loads((derive_layouts.HERE / "derived-qwen-image-edit.json").read_text())
    for d in (fresh, kept):
        d["model_index"].pop("_diffusers_version")
    assert fresh == kept and "processor/processor_config.json" in kept["files"]
