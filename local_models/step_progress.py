"""Denoising steps reported from a diffusers pipeline call (`callback_on_step_end`), each request of
a batched call to its own hook (agent.core.progress), with a small preview of its first image.

The preview maps each latent cell to a colour with an affine map fitted, once per VAE, on the VAE's
own encodings of pictures of flat-coloured blocks (least squares, each cell against the pixels it
covers): no decoder call per step, so it costs a small matrix product. Latents that are not (batch, channels, h, w), such as
FLUX's packed sequences, get no preview; their steps are still reported."""
from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Callable

from agent.core.progress import StepHook, StepProgress

log = logging.getLogger("atelier")
_FITS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()  # vae -> (channels+1, 3) map
_FIT_LOCK = threading.Lock()
FIT_SIZE = 64  # pixels a side of each flat-colour image encoded for the fit
PREVIEW_EVERY_S = 0.1  # the most often a listener gets a preview between its first and last steps


def step_callback(listeners: list[tuple[StepHook | None, int]]) -> Callable | None:
    """A `callback_on_step_end` for one call whose images are, in order, each listener's n images;
    None when no listener has a hook (the call then runs exactly as without progress). Every step is
    reported; a preview comes with the first and the last and with one step at most every PREVIEW_EVERY_S
    between (it is made on the pipeline's thread: a served batch of 8 made 8 a step)."""
    if not any(hook for hook, _ in listeners):
        return None
    listeners = list(listeners)
    previewed = [float("-inf")] * len(listeners)

    def on_step_end(pipe, i: int, t, kwargs: dict[str, Any]) -> dict[str, Any]:
        total = getattr(pipe, "num_timesteps", None) or i + 1
        latents = kwargs.get("latents")
        now = time.monotonic()
        start = 0
        for k, (hook, n) in enumerate(listeners):
            if hook is not None:
                show = i == 0 or i + 1 >= total or now - previewed[k] >= PREVIEW_EVERY_S
                if show:
                    previewed[k] = now
                try:
                    hook(StepProgress(i + 1, int(total), preview(pipe, latents, start) if show else None))
                except Exception:  # noqa: BLE001 - a listener's failure never fails the pictures
                    log.warning("a step listener failed; it hears no more steps of this call", exc_info=True)
                    listeners[k] = (None, n)
            start += n
        return {}  # nothing changed: the pipeline keeps its own latents

    return on_step_end


def preview(pipe, latents, index: int):
    """The `index`-th latent of the batch as a small RGB picture, or None where it cannot be made."""
    vae = getattr(pipe, "vae", None)
    if latents is None or getattr(latents, "dim", lambda: 0)() != 4 or vae is None or index >= latents.shape[0]:
        return None
    import numpy as np
    import torch
    from PIL import Image

    fit = colour_map(vae, latents.shape[1])
    if fit is None:
        return None
    with torch.no_grad():
        one = latents[index].detach().float().cpu()  # (c, h, w)
    c, h, w = one.shape
    cells = torch.cat([one.reshape(c, -1).T, torch.ones(h * w, 1)], dim=1)
    rgb = (cells @ fit).clamp(0, 1).reshape(h, w, 3).numpy()
    return Image.fromarray((rgb * 255 + 0.5).astype(np.uint8), "RGB")


def colour_map(vae, channels: int):
    """The affine map latent cell -> RGB in [0, 1] for this VAE (least squares over flat colours), fitted
    on first use; None when the VAE cannot encode or its latents have another channel count."""
    with _FIT_LOCK:
        if vae in _FITS:
            fit = _FITS[vae]
            return fit if fit is not None and fit.shape[0] == channels + 1 else None
        _FITS[vae] = fit = _fit(vae, channels)
        return fit


def _fit(vae, channels: int):
    import torch

    images = patchwork()
    try:
        param = next(vae.parameters())
        with torch.no_grad():
            z = vae.encode((images * 2 - 1).to(param.device, param.dtype)).latent_dist.mean.float().cpu()
    except Exception:  # noqa: BLE001 - a VAE that cannot encode (decoder only, a packed one): no preview
        return None
    config = getattr(vae, "config", None)
    scale = getattr(config, "scaling_factor", None) or 1.0
    shift = getattr(config, "shift_factor", None) or 0.0
    z = (z - shift) * scale  # the space the pipeline denoises in
    if z.shape[1] != channels:
        return None
    # each latent cell against the mean colour of the pixels it covers
    target = torch.nn.functional.adaptive_avg_pool2d(images, z.shape[2:])
    cells = z.permute(0, 2, 3, 1).reshape(-1, channels)
    design = torch.cat([cells, torch.ones(len(cells), 1)], dim=1)
    return torch.linalg.lstsq(design, target.permute(0, 2, 3, 1).reshape(-1, 3)).solution  # (channels + 1, 3)


def patchwork(count: int = 8, size: int = FIT_SIZE, block: int = 16):
    """`count` pictures of flat-coloured blocks (fixed seed), colours in [0, 1]: (count, 3, size, size)."""
    import torch

    colours = torch.rand(count, 3, size // block, size // block, generator=torch.Generator().manual_seed(0))
    return colours.repeat_interleave(block, 2).repeat_interleave(block, 3)
