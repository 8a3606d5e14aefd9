"""What every local diffusers back end shares: device and dtype, memory settings and the
out-of-memory retry, the process-wide pipeline cache, schedulers by name, seeded generators,
and the generate / edit flow. A family file (sd.py, sdxl.py, flux.py, sd3.py) names its
pipeline classes and adds what is its own."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import diffusers
import torch
from PIL import Image

from agent.core.artifacts import load_image, save_image
from agent.core.errors import AtelierError, InputError
from agent.core.registry import loading
from agent.core.types import Artifact, GenerationRequest
from local_models.owner import PipelineOwner
from local_models.specs import SPECS, ModelSpec
from local_models.weights import find, locate


class OutOfMemory(AtelierError):
    """The model did not fit even after a retry with lower memory settings."""


# ---- device, dtype, memory --------------------------------------------------------------------
# Attention slicing is not a level: it slows PyTorch's SDPA attention (which already saves the
# memory slicing would) and diffusers warns against combining them.
MEMORY_LEVELS = ("all on device", "VAE tiling / chunked decoding", "model CPU offload",
                 "sequential CPU offload")


def pick_device() -> torch.device:
    if os.environ.get("ATELIER_DEVICE"):
        return torch.device(os.environ["ATELIER_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(spec: ModelSpec, device: torch.device) -> torch.dtype:
    if device.type == "cpu":
        return torch.float32
    if spec.dtype == "bf16" and (device.type != "cuda" or torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def pick_memory(spec: ModelSpec, device: torch.device) -> int:
    """An index into MEMORY_LEVELS: offload only when the free GPU memory is short of the model's need."""
    if os.environ.get("ATELIER_MEMORY"):
        return int(os.environ["ATELIER_MEMORY"])
    if device.type != "cuda":
        return 0
    free_gb = torch.cuda.mem_get_info(device)[0] / 2**30
    return 0 if free_gb > 1.2 * spec.vram_gb else 1 if free_gb > spec.vram_gb else 2 if free_gb > 0.3 * spec.vram_gb else 3


def apply_memory(pipe, level: int, device: torch.device) -> None:
    """Put `pipe` at memory level `level` (an index into MEMORY_LEVELS), using only what its
    components support: SVD's temporal VAE has no tiling (enable_tiling raises there), so it gets
    forward chunking in its UNet and a smaller decode_chunk_size (svd.py) instead."""
    if level >= 1:
        vae = getattr(pipe, "vae", None)
        for method, flag in (("enable_tiling", "use_tiling"), ("enable_slicing", "use_slicing")):
            if hasattr(vae, method) and hasattr(vae, flag):  # AutoencoderMixin raises without the flag
                getattr(vae, method)()
        unet = getattr(pipe, "unet", None)
        if unet is not None and hasattr(unet, "enable_forward_chunking") and getattr(unet, "config", {}).get("num_frames"):
            unet.enable_forward_chunking()  # the temporal UNet's feed-forward, frame chunk by chunk
    if level == 2:
        pipe.enable_model_cpu_offload(device=device)
    elif level == 3:
        pipe.remove_all_hooks()  # from an earlier model offload
        pipe.enable_sequential_cpu_offload(device=device)
    elif pipe.device != device:
        pipe.to(device)


# ---- the pipeline cache -----------------------------------------------------------------------
@dataclass
class Loaded:
    """One model family's components on this machine, and the pipelines that share them."""

    pipe: Any
    device: torch.device
    dtype: torch.dtype
    memory: int
    scheduler_config: dict
    lock: threading.RLock = field(default_factory=threading.RLock)
    tasks: dict[str, Any] = field(default_factory=dict)  # task -> pipeline made by from_pipe
    extras: dict[str, Any] = field(default_factory=dict)  # controlnets, refiner, schedulers
    loras: dict[str, str] = field(default_factory=dict)  # source -> adapter name
    hooked: Any = None  # the pipeline whose offload hooks are installed
    owner: PipelineOwner | None = None  # the one thread that calls these pipelines
    evicted: bool = False  # unloaded to make room for another family; the back end loads it again


CACHE: dict[tuple[str, str], Loaded] = {}
LOADS: Counter = Counter()  # key -> times loaded (once per process, unless the cache is cleared)
_CACHE_LOCK = threading.Lock()


def keep_loaded(device: torch.device) -> int | None:
    """How many families may stay loaded at once: ATELIER_KEEP_MODELS, else 1 on a GPU (two
    full-size models rarely fit beside each other) and no limit on the CPU."""
    if os.environ.get("ATELIER_KEEP_MODELS"):
        return max(1, int(os.environ["ATELIER_KEEP_MODELS"]))
    return None if device.type == "cpu" else 1


def evict(key: tuple[str, str]) -> None:
    """Unload one family (waiting for a call in progress to finish) and give its memory back."""
    import gc

    loaded = CACHE.pop(key)
    with loaded.lock:
        loaded.evicted = True
        loaded.tasks.clear()
        loaded.extras.clear()
        loaded.pipe = loaded.hooked = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def cached_pipeline(key: tuple[str, str], spec: ModelSpec, load: Callable[[torch.dtype], Any]) -> Loaded:
    with _CACHE_LOCK:
        if key not in CACHE:
            device = pick_device()
            limit = keep_loaded(device)
            while limit is not None and len(CACHE) >= limit:
                evict(next(iter(CACHE)))  # the longest loaded first
            with loading():  # diffusers' lazy imports are not thread-safe; one first load at a time
                pipe = load(pick_dtype(spec, device))
            LOADS[key] += 1
            pipe.set_progress_bar_config(disable=True)
            denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
            loaded = Loaded(pipe, device, getattr(denoiser, "dtype", None) or pipe.dtype, pick_memory(spec, device),
                            dict(pipe.scheduler.config) if getattr(pipe, "scheduler", None) else {})
            apply_memory(pipe, loaded.memory, device)
            loaded.hooked = pipe
            loaded.extras["scheduler:"] = getattr(pipe, "scheduler", None)  # the one the weights ship with
            if os.environ.get("ATELIER_COMPILE") == "1":
                compile_denoiser(pipe)
            CACHE[key] = loaded
        return CACHE[key]


def compile_denoiser(pipe, **options) -> None:
    """`torch.compile` the UNet / transformer in place, so every pipeline sharing it runs compiled."""
    for name in ("unet", "transformer"):
        module = getattr(pipe, name, None)
        if module is not None:
            module.compile(**options)


def pipeline_class(name: str):
    with loading():  # the first getattr imports the class's module (see agent.core.registry.loading)
        return getattr(diffusers, name)


def load_from(spec: ModelSpec, cls, dtype: torch.dtype, **components):
    """`cls` with `spec`'s weights: a folder (diffusers layout) or a single .safetensors file."""
    path = locate(spec)
    if path.is_file():
        return cls.from_single_file(str(path), torch_dtype=dtype, **components)
    variant = spec.variant if spec.variant and next(path.glob(f"*/*.{spec.variant}.*"), None) else None
    return cls.from_pretrained(str(path), torch_dtype=dtype, variant=variant, **components)


def steps_for(steps: int, strength: float) -> int:
    """The fewest steps, at least `steps`, that leave an edit at `strength` a denoising step:
    img2img and inpainting run int(steps × strength) of them (diffusers' get_timesteps)."""
    while int(steps * strength) < 1:
        steps += 1
    return steps


@functools.cache
def call_parameters(cls) -> frozenset[str]:
    return frozenset(inspect.signature(cls.__call__).parameters)


def generators(seed: int, n: int) -> list[torch.Generator]:
    """One CPU generator per image, image i seeded `seed + i`: a batch repeats its single calls,
    and the same seed gives the same noise on any device."""
    return [torch.Generator("cpu").manual_seed(seed + i) for i in range(n)]


# ---- the back end -----------------------------------------------------------------------------
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpm++ karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


@dataclass
class Inputs:
    """A request checked against the model, with its images loaded."""

    task: str
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str | None
    source: Image.Image | None = None
    mask: Image.Image | None = None
    style: Image.Image | None = None
    loras: list[tuple[str, float]] = field(default_factory=list)
    strength: float | None = None


class DiffusersBackend:
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
            self._loaded = cached_pipeline((self.spec.name, source), self.spec, lambda dtype: self.prepare(
                self._given or load_from(self.spec, cls, dtype, **self.components(dtype))))
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

    def aux_model(self, role: str, class_name: str, loaded: Loaded):
        """Weights that go with the model (a ControlNet, the refiner), loaded once beside it."""
        aux = SPECS[self.spec.aux[role]]
        if aux.name not in loaded.extras:
            model = load_from(aux, pipeline_class(class_name), loaded.dtype)
            loaded.extras[aux.name] = model.to(loaded.device) if loaded.memory < 2 else model
        return loaded.extras[aux.name]

    # -- checks, before any weights load --
    def check_inputs(self, request: GenerationRequest, task: str) -> Inputs:
        spec, name = self.spec, self.info.name
        if task == "text2img" and not spec.text2img:
            raise InputError(f"{name} only edits images ({', '.join(spec.edits)}): give it a source image")
        if task != "text2img" and task not in spec.edits:
            raise InputError(f"{name} cannot do {task}; it supports {', '.join(spec.edits) or 'no edits'}")
        if request.negative_prompt and not spec.negative:
            raise InputError(f"{name} does not take a negative prompt")
        if request.n > spec.max_n:
            raise InputError(f"{name} makes at most {spec.max_n} images per call, not {request.n}")
        if request.scheduler and request.scheduler not in spec.schedulers:
            raise InputError(f"unknown scheduler {request.scheduler!r} for {name}; "
                             f"choose from {', '.join(spec.schedulers) or 'none'}")
        if request.strength is not None and not 0 < request.strength <= 1:
            raise InputError(f"strength must be in (0, 1], not {request.strength}")
        steps = request.steps or spec.steps
        inputs = Inputs(task, *spec.sizes[0], steps, spec.guidance if request.guidance is None else request.guidance,
                        request.scheduler or spec.scheduler, loras=self.check_loras(request))
        if request.width or request.height:
            size = (request.width or spec.sizes[0][0], request.height or spec.sizes[0][1])
            if size not in spec.sizes and task == "text2img":
                menu = ", ".join(f"{w}×{h}" for w, h in spec.sizes)
                raise InputError(f"size {size[0]}×{size[1]} is not on {name}'s menu: {menu}")
            inputs.width, inputs.height = size
        if request.extra.get("style_image"):
            if "ip-adapter" not in spec.edits:
                raise InputError(f"{name} has no IP-Adapter for a style reference")
            inputs.style = load_image(request.extra["style_image"])
        if task == "text2img":
            return inputs
        if request.source_image is None:
            raise InputError(f"{task} needs a source image")
        inputs.source = load_image(request.source_image)
        inputs.width, inputs.height = self.work_size(inputs.source.size)
        if task == "inpaint":
            if request.mask is None:
                raise InputError("inpainting needs a mask (white where the image should change)")
            inputs.mask = load_image(request.mask).convert("L")
            if inputs.mask.size != inputs.source.size:
                raise InputError(f"the mask is {inputs.mask.size[0]}×{inputs.mask.size[1]} but the image is "
                                 f"{inputs.source.size[0]}×{inputs.source.size[1]}; they must match")
        if task in ("img2img", "inpaint"):
            inputs.strength = request.strength or spec.strength
            if request.steps is None:  # a 1-step turbo model at strength 0.5 needs 2 steps to denoise at all
                inputs.steps = steps_for(steps, inputs.strength)
            elif int(steps * inputs.strength) < 1:
                raise InputError(f"strength {inputs.strength} × {steps} steps leaves no denoising step; "
                                 f"use at least {steps_for(steps, inputs.strength)} steps, or a higher strength")
        if task == "instruct" and not (request.instruction or request.prompt):
            raise InputError("an instruction edit needs an instruction")
        return inputs

    def check_loras(self, request: GenerationRequest) -> list[tuple[str, float]]:
        """`extra.loras`: {path or HF id: weight}; each must be on this machine."""
        loras = request.extra.get("loras") or {}
        if loras and "lora" not in self.spec.edits:
            raise InputError(f"{self.info.name} does not take LoRA adapters")
        checked = []
        for source, weight in loras.items():
            path = Path(source).expanduser()
            if not path.exists() and find(ModelSpec(source, source, kind="aux")) is None:
                raise InputError(f"LoRA {source} not found (a .safetensors file, a folder, or a cached HF id)")
            checked.append((str(path) if path.exists() else source, float(weight)))
        return checked

    def edit_task(self, request: GenerationRequest) -> str:
        if request.instruction or self.base_task == "instruct":
            return "instruct"
        if request.mask is not None:
            return "inpaint"
        if request.extra.get("control"):
            return f"controlnet-{request.extra['control']}"
        return "img2img"

    def work_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The size an edit runs at: the source's, shrunk to the model's largest area if bigger,
        rounded down to the model's multiple. The result is resized back to the source's size."""
        w, h = size
        scale = min(1.0, (max(a * b for a, b in self.spec.sizes) / (w * h)) ** 0.5)
        m = self.spec.multiple
        return max(m, int(w * scale) // m * m), max(m, int(h * scale) // m * m)

    # -- running --
    def generate(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        if request.layout is not None and self.info.layouts == "regions":
            return self._compose(request, out_dir)
        return self._run(request, self.check_inputs(request, "text2img"), out_dir)

    def _compose(self, request: GenerationRequest, out_dir: Path) -> list[Artifact]:
        """Layout first on a model that inpaints: the whole picture from the prompt with the layout
        in words, then each kind-and-colour group repainted in its boxes with its own words, the
        rest kept exactly (as LMD and GenArtist do). Every pass is counted in `denoiser_steps`."""
        start = time.perf_counter()
        words = request.layout.words()
        base = request.model_copy(update={"layout": None, "prompt": f"{request.prompt}; {words}"})
        inputs = self.check_inputs(base, "text2img")
        layout = request.layout.scaled(inputs.width, inputs.height)
        loaded = self.load()
        images, scheduler = self.owner(loaded).submit(self.batch_key(base, inputs), (self, base, inputs, loaded),
                                                      size=base.n)
        groups = layout.groups()
        for group in groups:
            mask = Image.new("L", (inputs.width, inputs.height), 0)
            for b in group:
                mask.paste(255, grow_box(b.box, inputs.width, inputs.height))
            for i, image in enumerate(images):
                one = base.model_copy(update={"prompt": f"{group[0].describe()}, {request.prompt}",
                                              "seed": base.seed + i, "n": 1})
                region = dataclasses.replace(inputs, task="inpaint", source=image, mask=mask, strength=1.0)
                painted, _ = self.owner(loaded).submit(self.batch_key(one, region), (self, one, region, loaded))
                images[i] = Image.composite(painted[0].resize(image.size), image, mask)
        seconds = (time.perf_counter() - start) / len(images)
        meta = {"task": "layout", "device": loaded.device.type, "scheduler": scheduler, "batch_seed": request.seed,
                "denoiser_steps": inputs.steps * (1 + len(groups))}
        return [save_image(image, out_dir, request.model_copy(update={
                    "seed": request.seed + i, "n": 1, "width": image.width, "height": image.height,
                    "steps": inputs.steps, "guidance": inputs.guidance, "layout": layout}),
                    index=i, seconds=seconds, meta=meta)
                for i, image in enumerate(images)]

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
        if inputs.source is not None:
            kwargs["image"] = inputs.source.resize(size, Image.LANCZOS) if inputs.source.size != size else inputs.source
        if inputs.mask is not None:
            kwargs["mask_image"] = inputs.mask.resize(size, Image.NEAREST)
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

    def control_image(self, kind: str, image: Image.Image, request: GenerationRequest) -> Image.Image:
        from local_models import control

        if request.extra.get("control_image"):
            return load_image(request.extra["control_image"]).resize(image.size)
        return control.canny(image, request.extra) if kind == "canny" else control.depth(image)

    def set_scheduler(self, pipe, name: str | None, loaded: Loaded) -> None:
        if name is None:
            pipe.scheduler = loaded.extras["scheduler:"]
            return
        key = f"scheduler:{name}"
        if key not in loaded.extras:
            cls_name, overrides = self.schedulers[name]
            loaded.extras[key] = pipeline_class(cls_name).from_config(loaded.scheduler_config, **overrides)
        pipe.scheduler = loaded.extras[key]

    def set_loras(self, pipe, loras: list[tuple[str, float]], loaded: Loaded) -> None:
        for source, _ in loras:
            if source not in loaded.loras:
                path = Path(source)
                name = f"lora{len(loaded.loras)}"
                if path.is_file():
                    pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
                else:
                    pipe.load_lora_weights(source, adapter_name=name)
                loaded.loras[source] = name
        if loras:
            pipe.enable_lora()
            pipe.set_adapters([loaded.loras[s] for s, _ in loras], adapter_weights=[w for _, w in loras])
        elif loaded.loras:
            pipe.disable_lora()

    def denoise(self, pipe, kwargs: dict[str, Any], request: GenerationRequest, loaded: Loaded) -> list[Image.Image]:
        return pipe(**kwargs).images

    def _call(self, pipe, jobs: list[tuple[GenerationRequest, Inputs]], loaded: Loaded) -> list[Image.Image]:
        """One pipeline call for every job (compatible requests batched, a generator per image);
        on out-of-memory, retry at each lower-memory level in turn (down to sequential CPU
        offload), then give a clear error."""
        request, inputs = jobs[0]
        kwargs = self.call_kwargs(request, inputs, loaded)
        if len(jobs) > 1:
            each = [self.call_kwargs(r, i, loaded) for r, i in jobs]
            kwargs["num_images_per_prompt"] = 1
            for name in ("prompt", "negative_prompt", "image", "mask_image"):
                if kwargs.get(name) is not None:
                    kwargs[name] = [k[name] for k, (r, _) in zip(each, jobs) for _ in range(r.n)]
        kwargs = {k: v for k, v in kwargs.items() if k in call_parameters(type(pipe))}
        n = sum(r.n for r, _ in jobs)
        while True:
            if loaded.memory >= 2 and loaded.hooked is not pipe:
                apply_memory(pipe, loaded.memory, loaded.device)
                loaded.hooked = pipe
            try:
                gens = [g for r, _ in jobs for g in generators(r.seed, r.n)]
                return self.denoise(pipe, {**kwargs, "generator": gens}, request, loaded)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                if loaded.memory == len(MEMORY_LEVELS) - 1:
                    raise OutOfMemory(
                        f"{self.info.name} ran out of GPU memory at {inputs.width}×{inputs.height}, n={n} "
                        f"with {MEMORY_LEVELS[loaded.memory]}; ask for fewer images or a smaller size") from None
                loaded.memory += 1
                apply_memory(pipe, loaded.memory, loaded.device)
                loaded.hooked = pipe

    def check_weights(self, request: GenerationRequest, inputs: Inputs) -> None:
        """The weights that go with the model for this request are here (else a ConfigError naming
        them), checked before the model itself loads."""
        roles = [inputs.task] if inputs.task.startswith("controlnet-") else []
        roles += ["ip-adapter"] * (inputs.style is not None) + ["refiner"] * bool(request.extra.get("refiner"))
        for role in roles:
            locate(SPECS[self.spec.aux[role]])
        if inputs.task == "controlnet-depth" and not request.extra.get("control_image"):
            locate(SPECS["depth-estimator"])

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
        loaded = self.load()
        images, scheduler = self.owner(loaded).submit(self.batch_key(request, inputs),
                                                      (self, request, inputs, loaded), size=request.n)
        seconds = (time.perf_counter() - start) / len(images)
        parent = None if request.source_image is None else Artifact.digest(request.source_image)
        meta = {"task": inputs.task, "device": loaded.device.type, "dtype": str(loaded.dtype).removeprefix("torch."),
                "scheduler": scheduler, "batch_seed": request.seed}
        out = []
        for i, image in enumerate(images):
            if inputs.source is not None and image.size != inputs.source.size:
                image = image.resize(inputs.source.size, Image.LANCZOS)
            one = request.model_copy(update={"seed": request.seed + i, "n": 1, "width": image.width,
                                             "height": image.height, "steps": inputs.steps,
                                             "guidance": inputs.guidance})
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
        for r, _ in jobs:
            out.append((images[i:i + r.n], type(pipe.scheduler).__name__))
            i += r.n
        return out

    def set_ip_adapter(self, pipe, request: GenerationRequest, inputs: Inputs, loaded: Loaded) -> None:
        """The IP-Adapter stays loaded while style requests follow each other (loading it reads the
        weights and an image encoder from disk); a request without a style image unloads it, since a
        UNet carrying it cannot run without one."""
        holder = loaded.extras.get("ip-adapter:on")
        if inputs.style is None:
            if holder is not None:
                holder.unload_ip_adapter()
                del loaded.extras["ip-adapter:on"]
                loaded.hooked = None  # the offload hooks are re-installed for the smaller component set
            return
        if holder is not pipe:
            if holder is not None:
                holder.unload_ip_adapter()
            self.load_ip_adapter(pipe, loaded)
            loaded.extras["ip-adapter:on"] = pipe
        pipe.set_ip_adapter_scale(float(request.extra.get("style_scale", 0.6)))

    def load_ip_adapter(self, pipe, loaded: Loaded) -> None:
        aux = SPECS[self.spec.aux["ip-adapter"]]
        pipe.load_ip_adapter(str(locate(aux)), subfolder=aux.options["subfolder"],
                             weight_name=aux.options["weight_name"])
        encoder = getattr(pipe, "image_encoder", None)
        if encoder is None:
            return
        encoder.to(dtype=loaded.dtype)
        if loaded.memory >= 2:
            # under CPU offload the encoder, loaded after the hooks were installed, had none and
            # stayed on the CPU while its inputs went to the GPU: install them again, encoder included
            apply_memory(pipe, loaded.memory, loaded.device)
            loaded.hooked = pipe
        else:
            encoder.to(loaded.device)


_ALONE = itertools.count()


def _run_owned(key, payloads: list[tuple[DiffusersBackend, GenerationRequest, Inputs, Loaded]]):
    backend, _, _, loaded = payloads[0]
    return backend.run_jobs([(r, i) for _, r, i, _ in payloads], loaded)


def grow_box(box, width: int, height: int, by: float = 0.1) -> tuple[int, int, int, int]:
    """A layout box with a margin, so the object's edges blend into what is around it."""
    x0, y0, x1, y1 = box
    dx, dy = int((x1 - x0) * by), int((y1 - y0) * by)
    return max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)
