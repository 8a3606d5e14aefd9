"""One contract every back end passes, in the manner of diffusers' PipelineTesterMixin: subclass
`ImageContract` or `VideoContract`, say how to make the back end (`make`) and what it does
(`tasks`, `safety`), and every check below runs on it. tests/test_backend_contract.py runs it over
every local family on tiny seeded pipelines; a remote service's stand-in fits by overriding `make`,
`force_out_of_memory` and `force_library_error` (a service has no memory ladder: `ladder = False`).

What it holds a back end to: n=1 and n>=2 for each task it has, image i of a batch equal to the
single call with seed + i; the size asked for (or the source's) kept; a forced out-of-memory error at
each stage walking the memory ladder and going on from that stage; a safety flag surfaced as an
error, never a blank picture; any other library exception a tool error (an AtelierError the director
can act on), never an internal error; the time each picture took recorded."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.core.errors import AtelierError
from agent.core.types import GenerationRequest

TOLERANCE = 3  # batched float rounding, in 8-bit levels


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


class Contract:
    family: str = ""
    tasks: tuple[str, ...] = ()
    safety = False  # the model carries a safety checker
    ladder = True  # a local model: out-of-memory steps down MEMORY_LEVELS

    def make(self, **kw):
        from local_models import tiny_pipelines as tiny

        return tiny.backend(self.family, **kw)

    def request(self, **kw) -> GenerationRequest:
        return GenerationRequest(prompt="two red circles", model=f"local:tiny-{self.family}", **kw)

    @pytest.fixture(scope="class")
    def backend(self):
        return self.make()

    @pytest.fixture
    def files(self, tmp_path):
        return self.files_at(tmp_path)

    @staticmethod
    def files_at(tmp_path):
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (36, 44, 3), dtype=np.uint8)).save(tmp_path / "source.png")
        mask = Image.new("L", (44, 36), 0)
        mask.paste(255, (10, 10, 30, 30))
        mask.save(tmp_path / "mask.png")
        return tmp_path / "source.png", tmp_path / "mask.png"

    def run(self, backend, task: str, files, out, **kw):
        raise NotImplementedError

    # -- forcing failures; a stand-in overrides these --
    def force_out_of_memory(self, backend, monkeypatch, stage: str, times: int = 1) -> dict:
        """Raise torch.OutOfMemoryError in `stage` (denoise | decode) `times` times; counts each stage's calls
        and the memory level each ran at."""
        import torch

        seen = {"denoise": [], "decode": []}
        for name in seen:
            real = getattr(backend, name)

            def wrapped(*args, _name=name, _real=real):
                seen[_name].append(args[3].memory)  # (pipe, kwargs | latents, request | kwargs, loaded, ...)
                if _name == stage and len(seen[_name]) <= times:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
                return _real(*args)

            monkeypatch.setattr(backend, name, wrapped)
        return seen

    def force_library_error(self, backend, monkeypatch) -> None:
        loaded = backend.load()

        def broken(*args, **kwargs):
            raise ValueError("Cannot handle this data type: (1, 1, 3), <f4")  # what PIL says of a bad array

        monkeypatch.setattr(type(loaded.pipe.vae), "decode", broken)

    # -- the contract --
    def test_each_task_with_one_and_many(self, backend, files, tmp_path):
        """n=2 equals two single calls with seed and seed + 1; sizes kept; time and cost ($0) recorded."""
        for task in self.tasks:
            many = self.run(backend, task, files, tmp_path, seed=3, n=2)
            assert [a.request.seed for a in many] == [3, 4], task
            assert all(a.seconds is not None and a.seconds > 0 for a in many), task
            assert all(a.cost_usd == 0.0 for a in many), task  # a local model's cost is recorded: nothing
            self.check_size(task, many)
            for art in many:
                alone = self.run(backend, task, files, tmp_path, seed=art.request.seed, n=1)[0]
                assert self.distance(alone, art) <= TOLERANCE, f"{task}: batched image differs from its single call"
            assert self.distance(many[0], many[1]) > 0, f"{task}: two seeds gave the same picture"

    @pytest.mark.parametrize("stage", ["denoise", "decode"])
    def test_out_of_memory_walks_the_ladder_from_its_stage(self, files, tmp_path, monkeypatch, stage):
        if not self.ladder:
            pytest.skip("no memory ladder")
        backend = self.make()
        if stage == "decode" and not getattr(backend, "latent_output", True):
            pytest.skip("one stage: the pipeline decodes inside its own call")
        seen = self.force_out_of_memory(backend, monkeypatch, stage, times=2)
        arts = self.run(backend, self.tasks[0], files, tmp_path, seed=0, n=1)
        assert len(arts) == 1 and backend.load().memory == 2
        # denoising runs once when the decoding ran out: its latents are kept
        assert seen["denoise"] == ([0, 1, 2] if stage == "denoise" else [0])
        if getattr(backend, "latent_output", True):
            assert seen["decode"] == ([2] if stage == "denoise" else [0, 1, 2])
        else:  # one stage: the pictures come out of the call, no family decode runs
            assert seen["decode"] == []

    def test_out_of_memory_at_the_last_level_is_one_clear_line(self, files, tmp_path, monkeypatch):
        if not self.ladder:
            pytest.skip("no memory ladder")
        from local_models.memory import LAST_LEVEL, OutOfMemory

        backend = self.make()
        backend.load().memory = LAST_LEVEL
        two = getattr(backend, "latent_output", True)
        self.force_out_of_memory(backend, monkeypatch, "decode" if two else "denoise", times=1)
        with pytest.raises(OutOfMemory, match=r"ran out of GPU memory at \d+×\d+, n=1 with sequential CPU "
                                              rf"offload \({'decoding' if two else 'denoising'}\); ask for fewer"):
            self.run(backend, self.tasks[0], files, tmp_path, seed=0, n=1)

    def test_a_library_exception_is_a_tool_error(self, backend, files, tmp_path, monkeypatch):
        """On the class's back end (a fresh one would load again: seconds a family); the VAE is broken for this
        test only."""
        self.force_library_error(backend, monkeypatch)
        stage = "decoding" if getattr(backend, "latent_output", True) else "denoising"  # one stage: in the call
        with pytest.raises(AtelierError, match=rf"failed while {stage} .*ValueError: Cannot handle") as caught:
            self.run(backend, self.tasks[0], files, tmp_path, seed=0, n=1)
        assert f"tiny-{self.family}" in str(caught.value) and "\n" not in str(caught.value)

    def test_a_safety_flag_is_surfaced(self, files, tmp_path):
        if not self.safety:
            pytest.skip("the model has no safety checker")
        from local_models import tiny_pipelines as tiny
        from local_models.decoding import SafetyFlagged

        for flag_all in (False, True):
            pipe = tiny.build(self.family)
            checker, processor = tiny.safety_checker(flag_all=flag_all)
            pipe.register_modules(safety_checker=checker, feature_extractor=processor)
            backend = self.make(pipeline=pipe)
            if not flag_all:
                arts = self.run(backend, self.tasks[0], files, tmp_path, seed=0, n=2)
                assert all(pixels(a.path).max() > 0 for a in arts)  # nothing flagged: pictures, not black
                continue
            with pytest.raises(SafetyFlagged, match=r"flagged 2 of 2 pictures .* as NSFW"):
                self.run(backend, self.tasks[0], files, tmp_path, seed=0, n=2)


class FromDisk:
    """Mix in before a contract: the tiny pipeline is saved once (save_pretrained's layout, as a pull
    leaves it) and each back end loads it from that folder through the product's own loading code
    (weights.locate, pipeline_cache.load_from with the family's components), never handed over."""

    folders: dict = {}

    def make(self, **kw):
        import tempfile

        from local_models import pipeline_cache, tiny_pipelines as tiny

        if kw:
            return super().make(**kw)
        if self.family not in self.folders:
            import atexit
            import shutil

            self.folders[self.family] = tempfile.mkdtemp(prefix=f"atelier-tiny-{self.family}-")
            atexit.register(shutil.rmtree, self.folders[self.family], True)
            tiny.build(self.family).save_pretrained(self.folders[self.family])
        folder = self.folders[self.family]
        key = (f"tiny-{self.family}", folder)
        if key in pipeline_cache.CACHE:  # a fresh load each time: a test's memory level is its own
            pipeline_cache.evict(key)
        return tiny.backend(self.family, repo=folder)

    # The ladder's code is the one every family shares (the families handed a pipeline walk it in the
    # default run); for these it runs in the slow pass, keeping the default run within its budget.
    @pytest.mark.slow
    @pytest.mark.parametrize("stage", ["denoise", "decode"])
    def test_out_of_memory_walks_the_ladder_from_its_stage(self, files, tmp_path, monkeypatch, stage):
        super().test_out_of_memory_walks_the_ladder_from_its_stage(files, tmp_path, monkeypatch, stage)

    @pytest.mark.slow
    def test_out_of_memory_at_the_last_level_is_one_clear_line(self, files, tmp_path, monkeypatch):
        super().test_out_of_memory_at_the_last_level_is_one_clear_line(files, tmp_path, monkeypatch)

    def test_loads_its_pipeline_from_a_folder(self, backend):
        """The spec's pipeline class, from the folder, with the components the folder's model_index names."""
        import json
        from pathlib import Path

        from local_models.pipeline_cache import CACHE

        loaded = backend.load()
        assert type(loaded.pipe).__name__ == backend.pipelines[backend.base_task]
        assert CACHE[(f"tiny-{self.family}", self.folders[self.family])] is loaded
        index = json.loads((Path(self.folders[self.family]) / "model_index.json").read_text())
        assert index["_class_name"] == type(loaded.pipe).__name__


class ImageContract(Contract):
    tasks = ("text2img", "img2img", "inpaint")

    def run(self, backend, task, files, out, **kw):
        source, mask = files
        if task == "text2img":
            return backend.generate(self.request(width=48, height=32, **kw), out)
        if task == "img2img":
            return backend.edit(self.request(source_image=source, strength=0.6, **kw), out)
        if task == "inpaint":
            return backend.edit(self.request(source_image=source, mask=mask, strength=1.0, **kw), out)
        return backend.edit(self.request(source_image=source, instruction="make it blue", **kw), out)

    def test_an_inpaint_changes_its_region_only(self, backend, files, tmp_path):
        """Every pixel outside the blurred mask is the source's own; the meta records the box painted,
        the blur and the crop; a small mask with padding_mask_crop is inpainted cropped."""
        if "inpaint" not in self.tasks:
            pytest.skip("no inpainting")
        from PIL import ImageFilter

        source, mask = files
        for extra in ({}, {"mask_blur": 2, "padding_mask_crop": 2}):
            art = backend.edit(self.request(source_image=source, mask=mask, strength=1.0, extra=extra), tmp_path)[0]
            assert art.meta["edit_regions"] == [[10, 10, 30, 30]] and art.meta["edit_mask_exact"]
            assert art.meta["mask_blur"] == extra.get("mask_blur", 1)
            crops = getattr(backend, "crops_masks", lambda: True)()  # FLUX.1 Fill takes no padding_mask_crop
            if extra and crops:  # the box and its padding, widened to the working aspect, inside the picture
                ((x0, y0, x1, y1),) = art.meta["mask_crops"]
                assert x0 <= 8 and y0 <= 8 and x1 >= 32 and y1 >= 32 and (x1 - x0) * (y1 - y0) < 44 * 36 * 0.9
            else:  # the default padding (32 pixels) spans the whole picture, or no padding_mask_crop: no crop
                assert art.meta["mask_crops"] == []
            with Image.open(mask) as m:
                touched = np.asarray(m.filter(ImageFilter.GaussianBlur(art.meta["mask_blur"]))) > 0
            before, after = pixels(source), pixels(art.path)
            assert np.array_equal(before[~touched], after[~touched]), extra
            assert np.abs(before - after)[10:30, 10:30].mean() > 10, extra  # and the region was painted
        with pytest.raises(AtelierError, match=r"^mask_blur must be a whole number of pixels, 0 or more, not -1$"):
            backend.edit(self.request(source_image=source, mask=mask, extra={"mask_blur": -1}), tmp_path)

    def check_size(self, task, arts):
        want = (48, 32) if task == "text2img" else (44, 36)
        for art in arts:
            assert pixels(art.path).shape == (want[1], want[0], 3), task
            assert (art.request.width, art.request.height) == want and art.meta["task"] == task

    def distance(self, a, b) -> int:
        return int(np.abs(pixels(a.path) - pixels(b.path)).max())

    two_stage_edits = False  # test_two_stages_... holds an edit-only model's decoding too

    def test_two_stages_equal_the_pipelines_own_call(self, backend, tmp_path):
        """Latents decoded apart (decoding.py) give the picture the pipeline's own call gives."""
        import torch

        if not getattr(backend, "latent_output", True):
            pytest.skip("one stage: the pipeline decodes inside its own call")
        loaded = backend.load()
        request = self.request(width=48, height=32, seed=1)
        if self.tasks[0] != "text2img":
            if not self.two_stage_edits:
                pytest.skip("an edit-only model")
            source, mask = self.files_at(tmp_path)
            request = self.request(source_image=source, mask=mask if self.tasks[0] == "inpaint" else None,
                                   instruction="make it blue" if self.tasks[0] == "instruct" else None, seed=1)
        inputs = backend.check_inputs(request, self.tasks[0])
        with loaded.lock:
            backend.set_scheduler(loaded.pipe, inputs.scheduler, loaded)
            ours = backend._call(loaded.pipe, [(request, inputs)], loaded)[0]
            kwargs = backend.call_args(loaded.pipe, [(request, inputs)], loaded)
            theirs = loaded.pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(1)).images[0]
        assert np.abs(np.asarray(ours, np.int16) - np.asarray(theirs, np.int16)).max() <= 1


class VideoContract(Contract):
    tasks = ("text2video",)
    size = (16, 16)

    def request(self, **kw) -> GenerationRequest:
        return super().request(extra={"format": "gif"}, **kw)

    def run(self, backend, task, files, out, **kw):
        """The clips, each with the frames the back end encoded (a GIF's palette would blow a
        rounding difference of one level up into a different colour)."""
        from local_models import video_base

        encoded, encode = [], video_base.encode
        video_base.encode = lambda frames, fps, fmt: encoded.append(frames) or encode(frames, fps, fmt)
        try:
            if task == "image2video":
                arts = backend.generate(self.request(source_image=files[0], **kw), out)
            else:
                arts = backend.generate(self.request(**kw), out)
        finally:
            video_base.encode = encode
        for art, frames in zip(arts, encoded):
            self.encoded[art.path] = frames
        return arts

    encoded: dict = {}

    def frames(self, art) -> list[np.ndarray]:
        if art.path in self.encoded:
            return [np.asarray(f.convert("RGB"), dtype=np.int16) for f in self.encoded[art.path]]
        with Image.open(art.path) as im:
            out = []
            for i in range(im.n_frames):
                im.seek(i)
                out.append(np.asarray(im.convert("RGB"), dtype=np.int16))
            return out

    @pytest.mark.slow  # a clip costs seconds; a family whose decoding is new to it runs it by default
    def test_two_stages_equal_the_pipelines_own_call(self, backend, tmp_path):
        """Latents decoded apart (decoding.py) give the frames the pipeline's own call gives."""
        import torch

        if not getattr(backend, "latent_output", True):
            pytest.skip("one stage: the pipeline decodes inside its own call")
        loaded = backend.load()
        source = {"source_image": self.files_at(tmp_path)[0]} if self.tasks[0] == "image2video" else {}
        request = self.request(seed=1, **source)
        inputs = backend.check_inputs(request)
        with loaded.lock:
            backend.set_scheduler(loaded.pipe, inputs.scheduler, loaded)
            ours = backend._call(loaded.pipe, [(request, inputs)], loaded)[0]
            kwargs = backend.call_args(loaded.pipe, [(request, inputs)], loaded)
            theirs = loaded.pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(1),
                                 output_type="pil").frames[0]
        assert len(ours) == len(theirs)
        assert max(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() for a, b in zip(ours, theirs)) <= 1

    def check_size(self, task, arts):
        for art in arts:
            frames = self.frames(art)
            assert len(frames) == art.meta["frames"] and frames[0].shape == (self.size[1], self.size[0], 3)

    def distance(self, a, b) -> int:
        return int(max(np.abs(x - y).max() for x, y in zip(self.frames(a), self.frames(b))))
