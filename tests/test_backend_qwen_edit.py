"""Qwen-Image-Edit (QwenImageEditPipeline) through the back-end contract: a tiny seeded pipeline
(local_models/tiny_recent.py) saved to a folder and loaded by the product's loading code.

Its Qwen2-VL processor's video half needs torchvision (transformers builds every video processor with
it), and PyPI's torchvision cannot load beside a CPU-only torch. Where none is installed the product loads
the processor without that half (local_models/qwen_processor.py; the edit pipeline gives it pictures and
text only), and so does the contract here; where one loads, the processor as transformers builds it."""
from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("diffusers")

from tests.backend_contract import FromDisk, ImageContract, pixels  # noqa: E402

TORCHVISION = importlib.util.find_spec("torchvision") is not None
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
        """The folder's processor/ is what conditions the text encoder on the source: Qwen2VLProcessor with its
        image and video processors, or without torchvision its image half, with the folder's own settings."""
        from transformers import Qwen2VLProcessor

        pipe = backend.load().pipe
        assert isinstance(pipe.processor, Qwen2VLProcessor)
        if TORCHVISION:
            assert type(pipe.processor.video_processor).__name__ == "Qwen2VLVideoProcessor"
        else:
            assert type(pipe.processor).__name__ == "Qwen2VLImageProcessorOnly"
            assert not hasattr(pipe.processor, "video_processor")
        assert (pipe.processor.image_processor.size.shortest_edge, pipe.processor.image_processor.size.longest_edge) \
            == (28 * 28, 56 * 56)

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


@pytest.mark.skipif(not TORCHVISION, reason="the hub's layout has the video processor, built with torchvision")
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


@pytest.mark.skipif(TORCHVISION, reason="torchvision is installed: the folder's processor loads as it is")
def test_the_hubs_processor_folder_loads_without_torchvision(tmp_path):
    """Qwen-Image-Edit's folder as the hub keeps it (model_index naming transformers' Qwen2VLProcessor; processor/
    holding the tokenizer's files, preprocessor_config.json and video_preprocessor_config.json) loads where no
    torchvision is installed: the image processor's settings are the folder's, and it edits. (transformers alone
    stops at 'Qwen2VLVideoProcessor requires the Torchvision library'.)"""
    import json

    from local_models import tiny_pipelines as tiny
    from local_models.qwen import QwenImageBackend
    from local_models.tiny_recent import qwen_image, qwen_tokenizer

    qwen_image().save_pretrained(tmp_path)  # Qwen-Image-Edit's folder: Qwen-Image's and a processor
    qwen_tokenizer().save_pretrained(tmp_path / "processor")
    clip = {"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}
    grid = {"min_pixels": 28 * 28, "max_pixels": 56 * 56, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2}
    for name, kind in (("preprocessor_config.json", "image_processor"),
                       ("video_preprocessor_config.json", "video_processor")):
        kind_name = "Qwen2VLImageProcessor" if kind == "image_processor" else "Qwen2VLVideoProcessor"
        (tmp_path / "processor" / name).write_text(json.dumps({**grid, **clip, f"{kind}_type": kind_name,
                                                               "processor_class": "Qwen2VLProcessor"}))
    index = json.loads((tmp_path / "model_index.json").read_text())
    index |= {"_class_name": "QwenImageEditPipeline", "processor": ["transformers", "Qwen2VLProcessor"]}
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    spec = tiny.tiny_spec("qwen-image-edit", tmp_path)
    backend = QwenImageBackend(spec.name, spec=spec)
    processor = backend.load().pipe.processor
    assert type(processor).__name__ == "Qwen2VLImageProcessorOnly"
    assert (processor.image_processor.size.shortest_edge, processor.image_processor.size.longest_edge) == (784, 3136)
    source, _ = ImageContract.files_at(tmp_path)
    art = backend.edit(TestQwenImageEdit().request(source_image=source, instruction="make it blue"), tmp_path)[0]
    assert pixels(art.path).shape == (36, 44, 3)
