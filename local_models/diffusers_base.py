"""What every local diffusers back end shares: the generate / edit flow through the family's
pipeline owner, the call with its out-of-memory retry, and batching. A family file (sd.py, sdxl.py,
flux.py, sd3.py) names its pipeline classes and adds what is its own. Devices and memory
(memory.py), the pipeline cache (pipeline_cache.py), adapters (adapters.py), input checks
(inputs.py) and layout composition (compose.py) live beside it."""
from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from agent.core.artifacts import save_image
from agent.core.errors import AtelierError, ConfigError
from agent.core.progress import step_hook
from agent.core.types import Artifact, GenerationRequest
from local_models import decoding, inpainting
from local_models.adapters import SCHEDULERS, Adapters
from local_models.compose import Composer, grow_box
from local_models.inputs import InputChecks, Inputs, steps_for
from local_models.memory import LAST_LEVEL, MEMORY_LEVELS, OutOfMemory, apply_memory, pick_device, pick_dtype, pick_memory
from local_models.owner import PipelineOwner
from local_models.pipeline_cache import (_CACHE_LOCK, CACHE, LOADS, Loaded, cached_pipeline, call_parameters,
                                         compile_denoiser, evict, generators, keep_loaded, load_from, pipeline_class)
from local_models.specs import SPECS, ModelSpec
from local_models.step_progress import step_callback
from local_models.weights import locate

__all__ = ["CACHE", "LOADS", "MEMORY_LEVELS", "SCHEDULERS", "DiffusersBackend", "Inputs", "Loaded", "OutOfMemory",
           "PipelineFailed",
           "apply_memory", "cached_pipeline", "compile_denoiser", "evict", "generators", "grow_box", "keep_loaded",
           "load_from", "pick_device", "pick_dtype", "pick_memory", "pipeline_class", "save_image", "steps_for"]


class PipelineFailed(AtelierError):
    """The library raised while making the pictures (not out of memory): a tool error, so the
    director can try again or change its plan rather than the run ending as an internal error."""


def missing_library(source: str) -> str:
    """A hint when the weights need a library that is not installed (T5 tokenizers shipped only as
    `spiece.model` need sentencepiece; transformers' own message then speaks of tiktoken)."""
    import importlib.util

    folder = Path(source)
    if folder.is_dir() and next(folder.glob("*/spiece.model"), None) and importlib.util.find_spec("sentencepiece") is None:
        return "; its tokenizer needs sentencepiece: pip install 'atelier[local]' (or pip install sentencepiece)"
    return broken_torchvision()


def broken_torchvision() -> str:
    """A torchvision built for another torch (PyPI's, whose compiled ops link CUDA torch, beside a CPU-only
    torch) is installed but fails to import; transformers then fails to import any model, whichever the
    family. "" when none is installed or it loads."""
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        return ""
    try:
        import torchvision.transforms.v2  # noqa: F401
    except Exception as error:  # noqa: BLE001 - whatever a mismatched build raises, named in one line
        return (f"; the torchvision installed does not load beside torch {torch.__version__} ({type(error).__name__}: "
                f"{first_line(error)}): install the torchvision build made for this torch, or uninstall it")
    return ""


def first_line(error: Exception) -> str:
    """The first line of an error's message that says something (transformers' ImportErrors start with a newline)."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), "")


class DiffusersBackend(InputChecks, Adapters, Composer):
    """The common flow; subclasses set `pipelines` (task -> diffusers class name)."""

    pipelines: dict[str, str] = {}
    schedulers: dict[str, tuple[str, dict]] = SCHEDULERS

    def __init__(self, name: str, *, spec: ModelSpec | None = None, pipeline=None):
        self.spec = spec or SPECS[name]
        self.info = self.spec.info()
        self._given = pipeline  # components built in code (tests, benchmarks) instead of weights
        self._loaded: Loaded | None = None

    # -- loading --
    def check_ready(self) -> None:
        """The weights are on this machine (else a ConfigError saying how to get them)."""
        if self._given is None:
            locate(self.spec)

    @property
    def base_task(self) -> str:
        return "text2img" if self.spec.text2img else self.spec.edits[0]

    def load(self) -> Loaded:
        if self._loaded is None or self._loaded.evicted:
            source = f"given:{id(self._given)}" if self._given is not None else str(locate(self.spec))
            cls = pipeline_class(self.pipelines[self.base_task])
            try:
                self._loaded = cached_pipeline((self.spec.name, source), self.spec, lambda dtype: self.prepare(
                    self._given or load_from(self.spec, cls, dtype, **self.components(dtype))))
            except AtelierError:
                raise
            except Exception as error:  # noqa: BLE001 - a bad download or a missing library: one line
                raise ConfigError(f"{self.info.name} could not load from {source}: {type(error).__name__}: "
                                  f"{first_line(error)}{missing_library(source)}") from error
        return self._loaded

    def components(self, dtype: torch.dtype) -> dict[str, Any]:
        """Components a family loads its own way (Wan's VAE in float32); the rest load in `dtype`."""
        return {}

    def prepare(self, pipe):
        """A freshly loaded (or given) pipeline, before it goes to the device."""
        return pipe

    def pipeline(self, task: str, loaded: Loaded):
        """The pipeline for `task`, sharing the family's components (`from_pipe`: no second copy)."""
        if task == self.base_task:
            return loaded.pipe
        if task not in loaded.tasks:
            cls = pipeline_class(self.pipelines[task.split("-")[0]])
            loaded.tasks[task] = cls.from_pipe(loaded.pipe, **self.task_components(task, loaded))
            loaded.tasks[task].set_progress_bar_config(disable=True)
        return loaded.tasks[task]

    def task_components(self, task: str, loaded: Loaded) -> dict[str, Any]:
        if task.startswith("controlnet-"):
            return {"controlnet": self.aux_model(task, "ControlNetModel", loaded)}
        return {}

    # -- what a request will take --
    def planned_steps(self, request: GenerationRequest, edit: bool = False) -> int:
        """The denoising steps one image of `request` takes (`EstimatesSteps`), before any weights load,
        the count its artifact records (`denoiser_steps`): a layout its first picture and one inpainting
        pass (strength 1) per kind-and-colour group; an img2img or inpainting edit what the pipeline's
        own `get_timesteps` keeps of its steps at its strength (`edit_steps`); anything else its steps."""
        steps = request.steps or self.spec.steps
        if not edit:
            if request.layout is not None and self.info.layouts == "regions":
                return steps * (1 + len(request.layout.groups()))
            return steps
        if self.edit_task(request) not in ("img2img", "inpaint"):
            return steps  # an instruction or a ControlNet edit runs every step
        strength = request.strength or self.spec.strength
        return self.edit_steps(steps_for(steps, strength) if request.steps is None else steps, strength)

    def edit_steps(self, steps: int, strength: float) -> int:
        """The steps an img2img or inpainting call of `steps` at `strength` denoises: the UNet
        pipelines' get_timesteps keeps int(steps × strength) (FlowBackend rounds the other way)."""
        return min(int(steps * strength), steps)

    # -- running --
    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if request.layout is not None and self.info.layouts == "regions":
            return self._compose(request, out_dir)
        return self._run(request, self.check_inputs(request, "text2img"), out_dir)

    def edit(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        return self._run(request, self.check_inputs(request, self.edit_task(request)), out_dir)

    def call_kwargs(self, request: GenerationRequest, inputs: Inputs, loaded: Loaded) -> dict[str, Any]:
        """Everything a pipeline of this family might take; each pipeline gets the subset it knows."""
        size = (inputs.width, inputs.height)
        kwargs = {
            "prompt": request.instruction or request.prompt if inputs.task == "instruct" else request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": inputs.steps, "guidance_scale": inputs.guidance,
            "num_images_per_prompt": request.n, "width": inputs.width, "height": inputs.height,
            **{k: v for k, v in self.spec.options.items() if k != "image_guidance"},
        }
        if inputs.blurred is not None:  # an inpaint: the blurred mask, and the crop when the mask is small
            kwargs["image"], kwargs["mask_image"] = inpainting.model_images(inputs)
        elif inputs.source is not None:
            kwargs["image"] = inputs.source.resize(size, Image.LANCZOS) if inputs.source.size != size else inputs.source
        if inputs.strength is not None:
            kwargs["strength"] = inputs.strength
        if inputs.task == "instruct":
            kwargs["image_guidance_scale"] = float(request.extra.get("image_guidance", self.spec.options["image_guidance"]))
        if inputs.task.startswith("controlnet-"):
            kwargs["image"] = self.control_image(inputs.task.split("-", 1)[1], kwargs["image"], request)
            kwargs["controlnet_conditioning_scale"] = float(request.extra.get("control_scale", 0.8))
        if inputs.style is not None:
            kwargs["ip_adapter_image"] = inputs.style
        return kwargs

    # The call in two stages, so that an out-of-memory error in the VAE does not run the denoising
    # again: `denoise` returns latents, `decode` turns them into pictures. A family whose decoding
    # is not (yet) held to its pipeline's own sets `latent_output = False`: one stage, pictures.
    latent_output = True

    def denoise(self, pipe, kwargs: dict[str, Any], request: GenerationRequest, loaded: Loaded,
                progress: dict[str, Any]):
        return pipe(**kwargs, output_type="latent" if self.latent_output else "pil").images

    def decode(self, pipe, latents, kwargs: dict[str, Any], loaded: Loaded) -> list[Image.Image]:
        return decoding.unet_latents(pipe, latents, self.info.name)

    def companions(self, loaded: Loaded) -> list[Any]:
        """Other pipelines a call runs (SDXL's refiner): they follow the memory ladder too."""
        return []

    def per_image(self, jobs: list[tuple[GenerationRequest, Inputs]]) -> bool:
        """Whether the call takes one prompt (and source image) per picture, num_*_per_prompt=1: always
        for a batch of requests, and for n >= 2 wherever that is how the pipeline batches (CogVideoX
        forces one video per prompt; SD3 img2img does not repeat a single source image). A style
        image, a control image or an instruction keeps the pipeline's own per-prompt repetition."""
        inputs, total = jobs[0][1], sum(r.n for r, _ in jobs)
        return len(jobs) > 1 or (total > 1 and inputs.style is None and inputs.task != "instruct"
                                 and not inputs.task.startswith("controlnet-"))

    def call_args(self, pipe, jobs: list[tuple[GenerationRequest, Inputs]], loaded: Loaded) -> dict[str, Any]:
        """The call's arguments, built again at each memory level (what a level changes goes in)."""
        request, inputs = jobs[0]
        kwargs = self.call_kwargs(request, inputs, loaded)
        if self.per_image(jobs):
            each = [self.call_kwargs(r, i, loaded) for r, i in jobs]
            for name in ("num_images_per_prompt", "num_videos_per_prompt"):
                if name in kwargs:
                    kwargs[name] = 1
            for name in ("prompt", "negative_prompt", "image", "mask_image"):
                if kwargs.get(name) is not None:
                    kwargs[name] = [k[name] for k, (r, _) in zip(each, jobs) for _ in range(r.n)]
        callback = step_callback([(getattr(i, "hook", None), r.n) for r, i in jobs])  # each request its own steps
        if callback is not None:
            kwargs["callback_on_step_end"] = callback
        return {k: v for k, v in kwargs.items() if k in call_parameters(type(pipe))}

    def _call(self, pipe, jobs: list[tuple[GenerationRequest, Inputs]], loaded: Loaded) -> list[Image.Image]:
        """One pipeline call for every job (compatible requests batched, a generator per image);
        on out-of-memory, retry at each lower-memory level in turn (down to sequential CPU
        offload) from the stage that failed, then give a clear error. Anything else the library
        raises is a PipelineFailed: a tool error the director can retry or re-plan around."""
        request, inputs = jobs[0]
        n = sum(r.n for r, _ in jobs)
        progress: dict[str, Any] = {}
        while True:
            if loaded.memory >= 2 and loaded.hooked is not pipe:
                apply_memory(pipe, loaded.memory, loaded.device)
                loaded.hooked = pipe
            stage = "denoising"
            try:
                kwargs = self.call_args(pipe, jobs, loaded)
                if "latents" not in progress:
                    gens = [g for r, _ in jobs for g in generators(r.seed, r.n)]
                    progress["latents"] = self.denoise(pipe, {**kwargs, "generator": gens}, request, loaded, progress)
                if not self.latent_output:  # one stage: the pipeline decoded them (no family decode runs)
                    return progress["latents"]
                stage = "decoding"
                with torch.no_grad():  # as inside the pipeline's own call
                    return self.decode(pipe, progress["latents"], kwargs, loaded)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                if loaded.memory == LAST_LEVEL:
                    raise OutOfMemory(
                        f"{self.info.name} ran out of GPU memory at {inputs.width}×{inputs.height}, n={n} "
                        f"with {MEMORY_LEVELS[loaded.memory]} ({stage}); ask for fewer images or a smaller size"
                    ) from None
                loaded.memory += 1
                for each in [pipe, *self.companions(loaded)]:
                    apply_memory(each, loaded.memory, loaded.device)
                loaded.hooked = pipe
            except AtelierError:
                raise
            except Exception as error:  # noqa: BLE001 - the library's own failure, named for the director
                raise PipelineFailed(f"{self.info.name} failed while {stage} ({inputs.task}, "
                                     f"{inputs.width}×{inputs.height}, n={n}): {type(error).__name__}: {error}"
                                     ) from error

    def owner(self, loaded: Loaded) -> PipelineOwner:
        with _CACHE_LOCK:
            if loaded.owner is None:
                loaded.owner = PipelineOwner(self.info.name, _run_owned, max_batch=max(self.info.max_n, 1))
            return loaded.owner

    def batch_key(self, request: GenerationRequest, inputs: Inputs) -> tuple:
        """Requests with equal keys run as one batched call; anything that changes pipeline state
        (LoRA, IP-Adapter, ControlNet, a refiner, instructions) runs alone."""
        plain = (inputs.task in ("text2img", "img2img", "inpaint") and not inputs.loras
                 and inputs.style is None and not request.extra)
        if not plain:
            return ("alone", next(_ALONE))
        return (inputs.task, inputs.width, inputs.height, inputs.steps, inputs.guidance, inputs.scheduler,
                inputs.strength, bool(request.negative_prompt))

    def _run(self, request: GenerationRequest, inputs: Inputs, out_dir: Path) -> list[Artifact]:
        start = time.perf_counter()
        self.check_weights(request, inputs)
        inputs.hook = step_hook()
        loaded = self.load()
        images, scheduler = self.owner(loaded).submit(self.batch_key(request, inputs),
                                                      (self, request, inputs, loaded), size=request.n)
        seconds = (time.perf_counter() - start) / len(images)
        parent = None if request.source_image is None else Artifact.digest(request.source_image)
        meta = {"task": inputs.task, "device": loaded.device.type, "dtype": str(loaded.dtype).removeprefix("torch."),
                "scheduler": scheduler, "batch_seed": request.seed,
                "denoiser_steps": inputs.steps if inputs.strength is None else self.edit_steps(inputs.steps,
                                                                                               inputs.strength)}
        if inputs.blurred is not None:
            meta |= inpainting.edit_meta(inputs.mask, inputs.blur, [inputs.crop])
        out = []
        for i, image in enumerate(images):
            if inputs.source is not None and image.size != inputs.source.size:
                image = image.resize(inputs.source.size, Image.LANCZOS)
            one = request.model_copy(update={"seed": request.seed + i, "n": 1, "width": image.width,
                                             "height": image.height, "steps": inputs.steps,
                                             "guidance": inputs.guidance, "scheduler": inputs.scheduler})
            out.append(save_image(image, out_dir, one, index=i, parent=parent, seconds=seconds, meta=meta))
        return out

    def run_jobs(self, jobs: list[tuple[GenerationRequest, Inputs]], loaded: Loaded) -> list[tuple[list, str]]:
        """On the family's owner thread: set the pipeline up for the jobs, call it once, split the images."""
        request, inputs = jobs[0]
        with loaded.lock:
            pipe = self.pipeline(inputs.task, loaded)
            self.set_scheduler(pipe, inputs.scheduler, loaded)
            if "lora" in self.spec.edits:
                self.set_loras(pipe, inputs.loras, loaded)
            self.set_ip_adapter(pipe, request, inputs, loaded)
            images = self._call(pipe, jobs, loaded)
        out, i = [], 0
        for r, inputs in jobs:
            mine = images[i:i + r.n]
            if inputs.blurred is not None:  # painted back on the source: nothing outside the mask changes
                mine = [inpainting.finish(inputs, image) for image in mine]
            out.append((mine, type(pipe.scheduler).__name__))
            i += r.n
        return out

_ALONE = itertools.count()


def _run_owned(key, payloads: list[tuple[DiffusersBackend, GenerationRequest, Inputs, Loaded]]):
    backend, _, _, loaded = payloads[0]
    return backend.run_jobs([(r, i) for _, r, i, _ in payloads], loaded)

