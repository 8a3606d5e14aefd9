"""The process-wide pipeline cache of the local diffusers back ends: one loaded copy of each family's
components per process (evicting the oldest when they would not fit), pipeline classes by name,
loading weights from a folder or a single file, and the seeded generators a call takes."""
from __future__ import annotations

import functools
import inspect
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import diffusers
import torch

from agent.core.registry import loading
from local_models.memory import apply_memory, pick_device, pick_dtype, pick_memory
from local_models.owner import PipelineOwner
from local_models.specs import ModelSpec
from local_models.weights import locate


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


@functools.cache
def call_parameters(cls) -> frozenset[str]:
    return frozenset(inspect.signature(cls.__call__).parameters)


def generators(seed: int, n: int) -> list[torch.Generator]:
    """One CPU generator per image, image i seeded `seed + i`: a batch repeats its single calls,
    and the same seed gives the same noise on any device."""
    return [torch.Generator("cpu").manual_seed(seed + i) for i in range(n)]

