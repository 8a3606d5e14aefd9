"""`local:shapes`: the embedded text-to-image model of the shapes world, run with stock diffusers
pipelines (text-to-image, image-to-image, inpainting share one set of weights via `from_pipe`).

All three pipelines share one scheduler, so one `PipelineOwner` makes every call: concurrent
requests queue to it and compatible ones run as one batch, each image from its own generator."""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.core.artifacts import load_image, save_image
from agent.core.errors import ConfigError, InputError
from agent.core.progress import StepHook, offset, reporting_steps, step_hook
from agent.core.protocols import ModelInfo
from agent.core.types import Artifact, GenerationRequest
from local_models.owner import PipelineOwner
from local_models.shapes import explain, world
from local_models.shapes.fill import canvas_field, clear_fringe, harmonise
from local_models.step_progress import step_callback

WEIGHTS = Path(__file__).resolve().parent / "weights"
INPAINT_WEIGHTS = WEIGHTS.with_name("weights-inpaint")  # the 9-channel inpainting UNet (train_inpaint.py)
NATIVE = 64
SIZES = [(64, 64), (128, 128), (256, 256), (512, 512)]  # larger sizes are the 64x64 output upscaled
DEFAULT_STEPS = 20
# a layout's inpainting pass paints one small box: half the steps draw it as well (judged apart from the
# critic, 8 briefs x 8 seeds: 1-2 objects 52/64 right at 10 steps, 54/64 at 20; 3-4 objects 43 vs 44)
PASS_STEPS = DEFAULT_STEPS // 2
DEFAULT_GUIDANCE = 3.0
MAX_STEPS, MAX_GUIDANCE = 100, 20.0  # what a user may set; its images are settled well before 100 steps
SAMPLER = "dpm++"  # the scheduler its weights ship with (weights/scheduler: DPMSolverMultistep, dpmsolver++)
LATENT = 4  # pixels per latent cell: inpainting masks snap to it
CONV_ROWS = 2  # every convolution runs on this many rows at a time (`chunked_convolutions`): one request with guidance
REAL_MODELS = "local:sdxl, local:flux-schnell, openai:gpt-image-2, stability:sd3, replicate:..."


def out_of_vocabulary_warning(prompt: str) -> str | None:
    gaps = world.vocabulary_gaps(prompt)
    if not gaps:
        return None
    return (f"local:shapes only knows a small world of shapes and ignored: {', '.join(gaps)}. "
            f"It can draw {world.vocabulary_text()}. To draw anything else choose a real image model "
            f"({REAL_MODELS}).")


def default_threads() -> int:
    """Torch threads for this small model: `ATELIER_TORCH_THREADS`, else 1 (its layers are too
    small to split: on a busy 2-core machine one thread was 4x faster than two)."""
    value = os.environ.get("ATELIER_TORCH_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise InputError(f"ATELIER_TORCH_THREADS must be a whole number of at least 1, not {value!r}")
        return int(value)
    return 1


def batch_invariant() -> bool:
    """Whether a request's images must not depend on what shares its pipeline call:
    `ATELIER_BATCH_INVARIANT` (on unless "0" or "off"). On, every convolution runs CONV_ROWS rows at a
    time and small GEMMs row by row, so a seed gives the same bits alone or in a batch of 8; that costs
    about 40% of a batch of 8's images per second. Off (a throughput server), a batched image may differ
    from the same seed alone by a pixel level, and its record says `batch_invariant: false`."""
    value = os.environ.get("ATELIER_BATCH_INVARIANT", "").strip().lower()
    if value in ("", "1", "on"):
        return True
    if value in ("0", "off"):
        return False
    raise InputError(f"ATELIER_BATCH_INVARIANT must be 1 (on, the default) or 0 (off), not {value!r}")


@dataclass
class _Job:
    """One request as the owner batches it: n images from seeds seed, seed+1, ..."""

    prompt: str
    negative: str
    seeds: list[int]
    image: object = None  # PIL image at NATIVE size (img2img, inpaint)
    mask: object = None  # PIL "L" at NATIVE size (inpaint)
    hook: StepHook | None = None  # the caller's step hook (read on its own thread: the owner's has none)


class ShapesBackend:
    """ImageBackend for the embedded shapes model; weights load once, on first use."""

    def __init__(self, name: str = "shapes", weights: Path | str | None = None,
                 inpaint_weights: Path | str | None = None, threads: int | None = None,
                 invariant: bool | None = None):
        self.name = name
        self.invariant = batch_invariant() if invariant is None else invariant
        self.weights = Path(weights) if weights else WEIGHTS
        self.inpaint_weights = Path(inpaint_weights) if inpaint_weights else INPAINT_WEIGHTS
        self.threads = threads
        trained_inpaint = (self.inpaint_weights / "model_index.json").is_file()
        self.info = ModelInfo(name=f"local:{name}", sizes=SIZES, default_steps=DEFAULT_STEPS,
                              default_guidance=DEFAULT_GUIDANCE, supports_negative=True, max_n=16,
                              # the user's image settings it honours: steps and guidance (its pipeline's
                              # arguments); one sampler of its own (the weights' DPM++), not a setting
                              steps_range=(1, MAX_STEPS), guidance_range=(0.0, MAX_GUIDANCE),
                              default_scheduler=SAMPLER,
                              edits=["img2img", "inpaint"], vocabulary=world.vocabulary_text(),
                              quality_notes="This model draws flat-coloured geometric shapes on a plain "
                              "background: judge quality by clean shape edges and flat colour (no texture "
                              "noise or smears inside a shape), not by photographic detail.",
                              # without the inpainting UNet, edits adding a missing object were approved
                              # 23 times in 148 (16%) on the held-out suite, a new seed 82 in 289 (28%)
                              adds_by_inpainting=trained_inpaint, reports_steps=True,
                              layouts="regions" if trained_inpaint else "words")
        self._pipes: dict[str, object] = {}
        self._lock = threading.Lock()
        self.owner = PipelineOwner(f"local:{name}", self._run_batch, max_batch=16, warm=lambda key: self.pipe(key[0]))
        self.load_seconds: float | None = None

    # ---- loading --------------------------------------------------------------------------------
    def check_ready(self) -> None:
        if not (self.weights / "model_index.json").is_file():
            raise ConfigError(f"the shapes model weights are missing at {self.weights}; "
                              f"train them with `python -m local_models.shapes.train`")

    def pipe(self, kind: str = "txt2img"):
        from agent.core.registry import loading
        if kind in self._pipes:  # warm: no lock (a pipeline is never removed once made)
            return self._pipes[kind]
        # loading(): diffusers' lazy imports and the first load race with other threads' (issue 27)
        with self._lock, loading():
            if "txt2img" not in self._pipes:
                self.check_ready()
                # loading bars and transformers' notes about optional packages are noise on a run's stderr
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                import torch
                from diffusers import StableDiffusionPipeline
                from diffusers.utils import logging as dlog
                from transformers.utils import logging as tlog

                dlog.set_verbosity_error(), dlog.disable_progress_bar()
                tlog.set_verbosity_error(), tlog.disable_progress_bar()
                torch.set_num_threads(self.threads or default_threads())
                t0 = time.perf_counter()
                p = StableDiffusionPipeline.from_pretrained(self.weights, dtype=torch.float32,
                                                            local_files_only=True)
                p.set_progress_bar_config(disable=True)
                if self.invariant:
                    rowwise_time_projections(p.unet)
                    chunked_convolutions(p.unet), chunked_convolutions(p.vae)
                self._pipes["txt2img"] = p
                self.load_seconds = time.perf_counter() - t0
            if kind not in self._pipes:
                from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline

                parts = {}
                if kind == "inpaint" and self.info.adds_by_inpainting:
                    from diffusers import UNet2DConditionModel
                    unet = UNet2DConditionModel.from_pretrained(self.inpaint_weights, subfolder="unet",
                                                                local_files_only=True)
                    parts["unet"] = chunked_convolutions(rowwise_time_projections(unet)) if self.invariant else unet
                cls = {"img2img": StableDiffusionImg2ImgPipeline, "inpaint": StableDiffusionInpaintPipeline}[kind]
                p = cls.from_pipe(self._pipes["txt2img"], **parts)
                p.set_progress_bar_config(disable=True)
                self._pipes[kind] = p
            return self._pipes[kind]

    # ---- helpers --------------------------------------------------------------------------------
    def _size(self, request: GenerationRequest) -> tuple[int, int]:
        w = request.width or self.info.sizes[0][0]
        h = request.height or self.info.sizes[0][1]
        if (w, h) not in self.info.sizes:
            menu = ", ".join(f"{a}x{b}" for a, b in self.info.sizes)
            raise InputError(f"local:shapes cannot make {w}x{h}; sizes: {menu}")
        return w, h

    def _submit(self, kind: str, request: GenerationRequest, image=None, mask=None, strength=None):
        """Queue to the owner; compatible requests (same kind, steps, guidance, strength) share a call."""
        steps = request.steps or DEFAULT_STEPS
        guidance = DEFAULT_GUIDANCE if request.guidance is None else request.guidance
        seeds = [(request.seed + i) % 2**32 for i in range(request.n)]
        job = _Job(request.prompt, request.negative_prompt, seeds, image, mask, step_hook())
        return self.owner.submit((kind, steps, guidance, strength), job, size=request.n)

    def _run_batch(self, key, jobs: list[_Job]) -> list[list]:
        """The owner's thread: one pipeline call for every job, then each job's images back."""
        import torch

        kind, steps, guidance, strength = key
        pipe = self.pipe(kind)
        per = [len(j.seeds) for j in jobs]
        args = dict(prompt=[j.prompt for j in jobs for _ in j.seeds],
                    negative_prompt=[j.negative for j in jobs for _ in j.seeds],
                    generator=[torch.Generator().manual_seed(s) for j in jobs for s in j.seeds],
                    num_inference_steps=steps, guidance_scale=guidance)
        callback = step_callback([(j.hook, len(j.seeds)) for j in jobs])  # each request hears its own steps
        if callback is not None:
            args["callback_on_step_end"] = callback
        # batch invariance (`batch_invariant`): oneDNN gives other bits at another batch size, so
        # convolutions run CONV_ROWS rows at a time, small GEMMs row by row; one oneDNN setting for all
        onednn, torch.backends.mkldnn.enabled = torch.backends.mkldnn.enabled, True  # (flags() warns)
        try:
            if kind == "txt2img":
                images = pipe(height=NATIVE, width=NATIVE, **args).images
            elif kind == "img2img":
                images = pipe(image=[j.image for j in jobs for _ in j.seeds], strength=strength, **args).images
            else:
                images = pipe(image=[j.image for j in jobs for _ in j.seeds],
                              mask_image=[j.mask for j in jobs for _ in j.seeds], height=NATIVE, width=NATIVE,
                              strength=strength, **args).images
        finally:
            torch.backends.mkldnn.enabled = onednn
        out, i = [], 0
        for n in per:
            out.append(images[i:i + n])
            i += n
        return out

    def _save(self, images, request, out_dir, size, seconds, parent=None, denoiser_steps=0) -> list[Artifact]:
        from PIL import Image

        # denoising steps per image (each a UNet evaluation, two with guidance): what compute is counted in
        meta = {"native_size": [NATIVE, NATIVE], "denoiser_steps": denoiser_steps,
                "batch_invariant": self.invariant}
        composed = parent is None and request.layout is not None and self.info.layouts == "regions"
        steps = request.steps or (PASS_STEPS if composed else DEFAULT_STEPS)
        guidance = DEFAULT_GUIDANCE if request.guidance is None else request.guidance
        warning = out_of_vocabulary_warning(request.prompt)
        if warning:
            meta["warning"] = warning
        arts = []
        for i, im in enumerate(images):
            if im.size != size:
                im = im.resize(size, Image.Resampling.NEAREST)
            # image i of a batch used seed + i: record that, so each artifact is reproducible alone
            # and the steps (a pass's, for a layout), guidance and sampler it ran with: its PNG info says them
            req = request.model_copy(update={"seed": (request.seed + i) % 2**32, "n": 1,
                                             "width": size[0], "height": size[1], "steps": steps,
                                             "guidance": guidance, "scheduler": SAMPLER})
            arts.append(save_image(im, Path(out_dir), req, index=i, parent=parent,
                                   seconds=seconds / len(images), meta=meta))
        return arts

    # ---- grounded generation -------------------------------------------------------------------
    def _compose(self, request: GenerationRequest):
        """Draw the layout: on a blank canvas of the background (named in the prompt, else chosen by
        the seed; this world's backgrounds are flat colours), one inpainting pass per box, each painting
        its box only (`request.steps` each, else PASS_STEPS; `planned_steps` counts them)."""
        from PIL import Image

        layout = request.layout.scaled(NATIVE, NATIVE)
        steps = request.steps or PASS_STEPS
        # the layout's background (the brief's), else one the prompt names, else the seed's
        named = [layout.background] if layout.background in world.BACKGROUNDS else \
            [b for b in world.BACKGROUNDS if b in world.tokenize_words(request.prompt)]
        boxes = boxes_in_order(layout)
        images, hook, total = [], step_hook(), request.n * steps * len(boxes)  # steps counted over every pass
        for i in range(request.n):
            one = request.model_copy(update={"seed": (request.seed + i) % 2**32, "n": 1, "layout": None})
            background = named[0] if named else list(world.BACKGROUNDS)[one.seed % len(world.BACKGROUNDS)]
            image = Image.new("RGB", (NATIVE, NATIVE), world.BACKGROUNDS[background])
            for j, box in enumerate(boxes):
                mask = region_mask([box.box], grow=1)
                what = one.model_copy(update={"prompt": f"a photo of {_a(box.describe())} "
                                                        f"on a {background} background", "steps": steps})
                with reporting_steps(offset(hook, (i * len(boxes) + j) * steps, total)):
                    painted = harmonise(self._submit("inpaint", what, image, mask, 1.0)[0],
                                        world.BACKGROUNDS[background], mask)
                image = Image.composite(painted, image, mask)
            images.append(image)
        return images

    # ---- the protocol ---------------------------------------------------------------------------
    def planned_steps(self, request: GenerationRequest, edit: bool = False) -> int:
        """The denoising steps one image of `request` takes (`EstimatesSteps`), what `_save` records: a
        layout one pass per box (`boxes_in_order`, PASS_STEPS each unless the request names steps), an
        edit its steps times its strength, once per area of its mask (`mask_regions`)."""
        if edit:
            default_strength = 1.0 if request.mask is not None else 0.6
            return int((request.steps or DEFAULT_STEPS) * (request.strength or default_strength)) * self._passes(request)
        if request.layout is not None and self.info.layouts == "regions":
            return (request.steps or PASS_STEPS) * len(boxes_in_order(request.layout))
        return request.steps or DEFAULT_STEPS

    def _passes(self, request: GenerationRequest) -> int:
        """How many inpainting passes an edit makes: one per area of its mask, one without a mask."""
        from PIL import Image

        if request.mask is None or not self.info.adds_by_inpainting or not Path(request.mask).is_file():
            return 1
        mask = load_image(request.mask).convert("L").resize((NATIVE, NATIVE), Image.Resampling.BOX)
        return max(1, len(mask_regions(mask)))

    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        size = self._size(request)
        t0 = time.perf_counter()
        if request.layout is not None and self.info.layouts == "regions":
            images = self._compose(request)
        else:
            images = self._submit("txt2img", request)
        return self._save(images, request, out_dir, size, time.perf_counter() - t0,
                          denoiser_steps=self.planned_steps(request))

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        from PIL import Image

        if request.source_image is None:
            raise InputError("an edit needs a source image")
        size = self._size(request) if (request.width or request.height) else None
        source = load_image(request.source_image).convert("RGB")
        size = size or (source.size if source.size in self.info.sizes else self.info.sizes[0])
        parent = Artifact.digest(Path(request.source_image))
        small = source.resize((NATIVE, NATIVE), Image.Resampling.BOX)
        t0 = time.perf_counter()
        if request.mask is not None:
            mask = load_image(request.mask).convert("L").resize((NATIVE, NATIVE), Image.Resampling.BOX)
            # the inpainting UNet learnt one object per box, its masks on the latent grid: a mask of several
            # areas ("make the stars blue" painted over each) is one pass per area, not one over their bbox
            passes = (mask_regions(mask) or [region_mask([], grow=0)]) if self.info.adds_by_inpainting else [mask]
            if self.info.adds_by_inpainting:
                mask = region_mask([m.getbbox() for m in passes], grow=0)
            background = background_of(small)
            if is_background_prompt(request.prompt):  # "remove": the background this image has
                request = request.model_copy(update={"prompt": f"a {background} background"})
            else:
                if len(passes) > 1:  # each pass draws one of them
                    request = request.model_copy(update={"prompt": one_of(request.prompt)})
                if not any(b in world.tokenize_words(request.prompt) for b in world.BACKGROUNDS):
                    # the model keeps a region's background right when the prompt names it
                    request = request.model_copy(update={"prompt": f"{request.prompt} on a {background} background"})
            canvas = border_colour(small)  # the image's own shade of its background, not the world's ideal
            strength = request.strength or 1.0
            if len(passes) == 1:
                images = self._submit("inpaint", request, small, mask, strength)
                # keep every pixel outside the mask exactly as it was (the VAE round trip would blur it),
                # and what it painted as background inside it the image's own background
                field = canvas_field(small, mask, canvas)  # its shade round the mask: no flat patch on a shaded one
                images = [Image.composite(harmonise(im, field, mask), small, mask) for im in images]
            else:  # each image's areas one after another, each pass seeing what the last one drew
                images, hook, each = [], step_hook(), int((request.steps or DEFAULT_STEPS) * strength)
                for i in range(request.n):
                    one, image = request.model_copy(update={"seed": (request.seed + i) % 2**32, "n": 1}), small
                    for j, area in enumerate(passes):  # "step 25/40" over both passes, not 1..20 twice
                        with reporting_steps(offset(hook, (i * len(passes) + j) * each, request.n * len(passes) * each)):
                            painted = self._submit("inpaint", one, image, area, strength)[0]
                        image = Image.composite(harmonise(painted, canvas_field(image, area, canvas), area), image, area)
                    images.append(image)
            # what the old object left just outside the mask (a glow round a text-to-image shape) the canvas too
            cleaned = [clear_fringe(im, mask, canvas) for im in images]
            images = [im for im, _ in cleaned]
            if source.size == size != small.size:  # and at the delivery size: words typeset on it stay sharp
                images = [Image.composite(im.resize(size, Image.Resampling.NEAREST), source,
                                          m.resize(size, Image.Resampling.NEAREST)) for im, m in cleaned]
        else:
            images = self._submit("img2img", request, small, None, request.strength or 0.6)
        return self._save(images, request, out_dir, size, time.perf_counter() - t0, parent=parent,
                          denoiser_steps=self.planned_steps(request, edit=True))


def rowwise_time_projections(unet):
    """Run the UNet's timestep MLP and every block's time projection one row at a time: a GEMM with as
    few rows as the batch (1-3) gives other bits for the same row at another batch size (measured on
    CPU torch 2.13), which made a request's picture depend on what it was batched with. Rows that are all
    equal (every request of a call is at the same timestep: the usual case) are computed once, the same
    bits as row by row: a batch of 8 with guidance made 16 calls of each projection a step for one row."""
    import torch

    class RowWise(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, *args, **kw):
            same = all(a is None for a in (*args, *kw.values()))  # the MLP's timestep_cond is None here
            if x.shape[0] > 1 and same and torch.equal(x, x[:1].expand_as(x)):
                one = self.inner(x[:1], *args, **kw)
                return one.expand(x.shape[0], *one.shape[1:]).contiguous()
            return torch.cat([self.inner(x[i:i + 1], *args, **kw) for i in range(x.shape[0])])

    unet.time_embedding = RowWise(unet.time_embedding)
    for module in list(unet.modules()):
        if isinstance(getattr(module, "time_emb_proj", None), torch.nn.Linear):
            module.time_emb_proj = RowWise(module.time_emb_proj)
    return unet


def chunked_convolutions(model, rows: int | None = None):
    """Run every 2-d convolution of `model` on exactly `rows` rows at a time (CONV_ROWS), the last chunk
    padded with zeros, so a row's bits never depend on the batch it came in. oneDNN's convolutions
    give other bits for the same row at another batch size, and at 16 rows or more (8 requests with
    guidance) torch hands them to NNPACK, whose bits differ again (the native kernels also did there:
    up to 1e-5 in the UNet, one pixel level in the image). Within one shape oneDNN's rows are
    independent: a row gave the same bits at every position of batches of 2-16 with any neighbours."""
    import torch

    rows = rows or CONV_ROWS

    def forward(conv):
        inner = conv.forward

        def chunked(x):
            n = x.shape[0]
            if n == rows or x.dim() != 4:
                return inner(x)
            if n % rows:
                x = torch.cat([x, x.new_zeros((rows - n % rows, *x.shape[1:]))])
            return torch.cat([inner(x[i:i + rows]) for i in range(0, x.shape[0], rows)])[:n]
        return chunked

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and not getattr(module, "_chunked_rows", None):
            module.forward, module._chunked_rows = forward(module), rows
    return model


# ---- regions ------------------------------------------------------------------------------------
def region_mask(boxes, grow: int = 2):
    """A mask (white = repaint) of the boxes at NATIVE size, each grown by `grow` pixels and snapped
    outwards to the latent grid, as the inpainting model was trained."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (NATIVE, NATIVE), 0)
    draw = ImageDraw.Draw(mask)
    for x0, y0, x1, y1 in boxes:
        x0, y0 = max(0, x0 - grow) // LATENT * LATENT, max(0, y0 - grow) // LATENT * LATENT
        x1 = min(NATIVE, -(-(x1 + grow) // LATENT) * LATENT)
        y1 = min(NATIVE, -(-(y1 + grow) // LATENT) * LATENT)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=255)
    return mask


def mask_regions(mask) -> list:
    """The separate areas of a painted mask (white >= 128, 8-connected), each as its own box mask
    (`region_mask`, snapped to the latent grid); areas whose boxes would overlap are one box."""
    import numpy as np
    from scipy import ndimage

    labels, _ = ndimage.label(np.asarray(mask) >= 128, structure=np.ones((3, 3)))
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)]
    snapped = [region_mask([b], grow=0).getbbox() for b in boxes]
    merged = True
    while merged:  # two snapped boxes that overlap become their union, until none do
        merged = False
        for i in range(len(snapped)):
            for j in range(i + 1, len(snapped)):
                a, b = snapped[i], snapped[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    snapped[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del snapped[j]
                    merged = True
                    break
            if merged:
                break
    return [region_mask([b], grow=0) for b in snapped]


_MANY = re.compile(r"\b(?:(?:at least )?(two|three|four|several|[2-9]) )?((?:[a-z]+ )?)(%s)s\b" % "|".join(world.SHAPES))


def one_of(prompt: str) -> str:
    """The prompt for one area of a several-area edit: "a photo of two blue stars" -> "a photo of a blue
    star" (each pass paints one object); a prompt naming several kinds is left as it is."""
    kinds = {w.removesuffix("s") for w in world.tokenize_words(prompt)} & set(world.SHAPES)
    if len(kinds) != 1 or not _MANY.search(prompt):
        return prompt
    body = _MANY.sub(lambda m: ("a " if m.group(1) else "") + m.group(2) + m.group(3), prompt, count=1)
    body = re.sub(r"\bof (?!(?:a|an|the) )", "of a ", body)
    return re.sub(r"\ba (?=[aeiou])", "an ", body)


def is_background_prompt(prompt: str) -> bool:
    """A prompt asking for background only ("empty background", "background"): a removal."""
    words = world.tokenize_words(prompt)
    return "background" in words and not any(w in world.SHAPES or w.rstrip("s") in world.SHAPES for w in words)


def border_colour(image) -> tuple[int, int, int]:
    """The median colour of the image's border pixels: its background as drawn (explain.background_of)."""
    import numpy as np

    rgb, _, _ = explain.background_of(np.asarray(image.convert("RGB"), dtype=np.float32))
    return tuple(int(round(v)) for v in rgb)


def background_of(image) -> str:
    """The world's background colour nearest to the image's border pixels."""
    import numpy as np

    return explain.background_of(np.asarray(image.convert("RGB"), dtype=np.float32))[1]


def _a(text: str) -> str:
    return ("an " if text[:1] in "aeiou" else "a ") + text


def boxes_in_order(layout) -> list:
    """The boxes of a layout in the order they are drawn, one inpainting pass each. The model was taught to fill one box with
    one object: a pass over two boxes often draws them as one merged shape, over three or four it
    leaves some empty (judged apart from the critic, 8 briefs of 3-4 objects x 8 seeds: 24/64 right
    group by group, 44/64 box by box)."""
    return [b for group in layout.groups() for b in group]
