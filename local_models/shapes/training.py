"""What every trainer of the shapes world shares (train.py, train_inpaint.py, train_video.py,
train_defects.py): where checkpoints go, an atomic save, a log that also lands beside the
checkpoints, the optimiser step with its EMA, resuming, min-SNR loss, the learning-rate schedule, and
the cadence of logging, checkpointing and exporting a loop keeps."""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
CKPT_DIR = Path(os.environ.get("SHAPES_CKPT_DIR", ROOT / "checkpoints" / "shapes"))


def save_atomic(obj, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def log(msg: str):
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
    print(line, flush=True)
    CKPT_DIR.mkdir(parents=True, exist_ok=True)
    with open(CKPT_DIR / "train.log", "a") as f:
        f.write(line + "\n")


def optimizer_step(loss, opt, params, ema, step: int, max_decay: float = 0.999) -> int:
    """Backward, clip, step, and move the EMA of the weights (warming up its decay); the next step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    step += 1
    decay = min(max_decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema, params):
            e.lerp_(p.detach(), 1 - decay)
    return step


def resume(path: Path, modules: dict, opt, ema) -> tuple[int, float] | None:
    """Load a checkpoint written as {name: state_dict, "opt", "ema", "step", "elapsed"} into `modules`
    (name -> module), the optimiser and the EMA; (step, seconds trained), or None when there is none."""
    if not path.exists():
        return None
    st = torch.load(path, map_location="cpu")
    for name, module in modules.items():
        module.load_state_dict(st[name])
    opt.load_state_dict(st["opt"])
    for e, v in zip(ema, st["ema"]):
        e.copy_(v)
    return st["step"], st["elapsed"]


@contextmanager
def ema_weights(params, ema, use: bool = True):
    """The EMA weights in `params` inside the block (to export them), the trained ones back after."""
    live = [p.detach().clone() for p in params]
    with torch.no_grad():
        for e, p in zip(ema if use else params, params):
            p.copy_(e)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, v in zip(params, live):
                p.copy_(v)


def min_snr_loss(pred, noise, t, alphas, weight=None, high_noise_cap: float = 1.0):
    """Epsilon-prediction MSE with min-SNR-5 weighting, per sample then averaged (`weight`: per element).
    `high_noise_cap` > 1 weighs the noisy steps up to the v-prediction loss (1 + 1/SNR times the
    epsilon loss), capped: the epsilon loss alone scales an error in the clean sample by the SNR, so it
    hardly asks the noisiest steps, where layout and motion are decided, to get them right."""
    snr = alphas[t] / (1 - alphas[t])
    w = torch.clamp(snr, max=5.0) / snr
    if high_noise_cap > 1:
        w = w * torch.clamp(1 + 1 / snr, max=high_noise_cap)
    err = (pred.float() - noise) ** 2
    if weight is not None:
        err = err * weight
    return (w * err.flatten(1).mean(dim=1)).mean()


class Cadence:
    """What a training loop does between steps, each on its clock: log the mean loss every `every`
    steps, checkpoint every `ckpt_minutes`, export every `export_minutes` (0: only at the end)."""

    def __init__(self, name: str, t_start: float, budget: float, ckpt_minutes: float, export_minutes: float,
                 checkpoint, export, every: int = 25):
        self.name, self.t_start, self.budget, self.every = name, t_start, budget, every
        self.ckpt_s, self.export_s = ckpt_minutes * 60, export_minutes * 60
        self.checkpoint, self.export = checkpoint, export
        self.t_ckpt = self.t_export = time.time()
        self.losses: list[float] = []

    def after(self, step: int, loss: float, lr: float) -> None:
        self.losses.append(loss)
        if step % self.every == 0:
            el = time.time() - self.t_start
            log(f"{self.name} step {step} loss {np.mean(self.losses):.4f} lr {lr:.2e} "
                f"{el / 60:.1f}/{self.budget / 60:.0f} min, {el / step:.2f} s/step")
            self.losses = []
        if time.time() - self.t_ckpt > self.ckpt_s:
            self.checkpoint()
            self.t_ckpt = time.time()
        if self.export_s and time.time() - self.t_export > self.export_s:
            self.export()
            self.t_export = time.time()


def lr_at(frac: float, base: float, warm: float = 0.03) -> float:
    if frac < warm:
        return base * frac / warm
    p = min(1.0, (frac - warm) / (1 - warm))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
