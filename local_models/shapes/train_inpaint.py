"""Teach `local:shapes` to inpaint, in diffusers' convention, and export `weights-inpaint/`.

    python -m local_models.shapes.train_inpaint --budget-minutes 90

The UNet gets 9 input channels (noisy latents, the mask at latent size, the masked image's
latents), as `StableDiffusionInpaintPipeline` expects; it starts from the shipped text-to-image
UNet with the 5 new input channels zero-initialised, so step 0 is exactly the shipped model. The
VAE and text encoder stay frozen (shared with the text-to-image pipeline). Each training sample
is one of four tasks, so one model serves every edit the planner makes:

- add: a box around one object (or around every object of one kind and colour) is masked; the
  caption is the object alone ("a photo of a red circle") or the whole scene: the model learns to
  paint the named object into each box;
- fill: an object is taken out of the target, its box masked, the caption names the background
  ("a gray background"): the model learns to remove;
- canvas: full mask, an empty scene, caption "a gray background": a blank canvas to compose on;
- text-to-image: full mask, the whole caption: it stays a text-to-image model.

Resumable (checkpoints/shapes/inpaint.pt every few minutes; run it again to continue) and uses
CUDA with a 4x batch when there is one. `--export-only` writes the last checkpoint's EMA weights.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from agent.core.types import ObjectSpec
from local_models.shapes import world
from local_models.shapes.train import MAX_TOKENS, WEIGHTS, train_scheduler
from local_models.shapes.training import (CKPT_DIR, Cadence, ema_weights, log, lr_at, min_snr_loss, optimizer_step,
                                          resume, save_atomic)

OUT = WEIGHTS.with_name("weights-inpaint")
TASKS = [("add", 0.55), ("fill", 0.3), ("canvas", 0.03), ("t2i", 0.12)]
LATENT = 4  # pixels per latent cell: masks snap to this grid so they match the latent mask exactly


def size_word(rng: random.Random, obj: world.Obj) -> str | None:
    """A word for `obj`'s size when it is small or large by the world's table (its box side, world.SIZES),
    else None. A composition asks "a large red circle" in a box of the large side: without the word the
    model drew every object its usual size (held-out layouts: 16 of 77 wrong ones the wrong size)."""
    side = obj.box[2] - obj.box[0]
    size = next((s for s, (lo, hi) in world.SIZES.items() if lo <= side <= hi), None)
    return rng.choice(world.SIZE_WORDS[size]) if size in world.SIZE_WORDS else None


def object_caption(rng: random.Random, obj: world.Obj, background: str) -> str:
    """The object alone, with its size word most of the time when it is small or large; half the time on
    its background, named (a composition names both)."""
    spec = ObjectSpec(cls=obj.kind, count=1, color=None if rng.random() < 0.15 else obj.color)
    word = size_word(rng, obj) if rng.random() < 0.8 else None
    text = rng.choice(["a photo of ", "", "an image of "]) + world.describe(spec, word)
    return text + (f" on a {background} background" if rng.random() < 0.5 else "")


def background_caption(rng: random.Random, background: str) -> str:
    return rng.choice(["a ", "a photo of a ", ""]) + f"{background} background"


def grow_box(rng: random.Random, box, margin: tuple[int, int] = (1, 6)) -> tuple[int, int, int, int]:
    """The object's box grown by a random margin and snapped outwards to the latent grid."""
    m = [rng.randint(*margin) for _ in range(4)]
    x0, y0 = max(0, box[0] - m[0]), max(0, box[1] - m[1])
    x1, y1 = min(world.CANVAS, box[2] + m[2]), min(world.CANVAS, box[3] + m[3])
    return (x0 // LATENT * LATENT, y0 // LATENT * LATENT,
            min(world.CANVAS, -(-x1 // LATENT) * LATENT), min(world.CANVAS, -(-y1 // LATENT) * LATENT))


def sample(rng: random.Random):
    """(target image, mask 64x64 with 1 = repaint, caption) for one random task."""
    task = world._pick(rng, TASKS)
    scene = world.sample_scene(rng)
    mask = np.zeros((world.CANVAS, world.CANVAS), np.float32)
    if task == "add":
        obj = rng.choice(scene.objects)
        # half the time every object of that kind and colour at once: a layout's group in one pass
        group = [o for o in scene.objects if (o.kind, o.color) == (obj.kind, obj.color)] \
            if rng.random() < 0.5 else [obj]
        for o in group:
            x0, y0, x1, y1 = grow_box(rng, o.box)
            mask[y0:y1, x0:x1] = 1
        caption = object_caption(rng, obj, scene.background) if rng.random() < 0.7 else scene.caption
    elif task == "fill":
        gone = rng.randrange(len(scene.objects))
        x0, y0, x1, y1 = grow_box(rng, scene.objects[gone].box)
        scene = world.Scene(scene.background, [o for i, o in enumerate(scene.objects) if i != gone],
                            scene.spec, scene.caption)
        mask[y0:y1, x0:x1] = 1
        caption = background_caption(rng, scene.background)
    elif task == "canvas":
        scene = world.Scene(scene.background, [], scene.spec, "")
        mask[:] = 1
        caption = background_caption(rng, scene.background)
    else:
        mask[:] = 1
        caption = scene.caption
    return np.asarray(world.render(scene), dtype=np.float32), mask, caption


def batch(rng: random.Random, n: int):
    items = [sample(rng) for _ in range(n)]
    x = torch.from_numpy(np.stack([i[0] for i in items])).permute(0, 3, 1, 2) / 127.5 - 1.0
    mask = torch.from_numpy(np.stack([i[1] for i in items]))[:, None]
    return x, mask, [i[2] for i in items]


def inpaint_unet(unet4):
    """A 9-channel copy of the text-to-image UNet whose extra input channels start at zero."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_config({**unet4.config, "in_channels": 9})
    state = unet4.state_dict()
    w = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat([w, torch.zeros(w.shape[0], 5, *w.shape[2:])], dim=1)
    unet.load_state_dict(state)
    return unet


def export(pipe, unet, out: Path, meta: dict):
    from diffusers import StableDiffusionInpaintPipeline

    inpaint = StableDiffusionInpaintPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=unet,
        scheduler=pipe.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    inpaint.save_pretrained(tmp, safe_serialization=True)
    (tmp / "training.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    log(f"inpaint: exported to {out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-minutes", type=float, default=90, help="wall clock of training in all")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--ckpt-minutes", type=float, default=3)
    ap.add_argument("--export-every", type=float, default=15, help="minutes between exports (0: only at the end)")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--init", type=Path, default=None,
                    help="continue from an exported inpainting pipeline (e.g. weights-inpaint) instead of the "
                         "text-to-image UNet: a fine-tune with a fresh optimiser and schedule")
    ap.add_argument("--ema", type=float, default=0.995,
                    help="EMA decay of the exported weights (0: export the trained weights as they are)")
    args = ap.parse_args(argv)

    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as dlog

    dlog.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        args.batch *= 4
    pipe = StableDiffusionPipeline.from_pretrained(WEIGHTS, local_files_only=True)
    vae, te, tokenizer = pipe.vae.to(device).eval(), pipe.text_encoder.to(device).eval(), pipe.tokenizer
    scaling = vae.config.scaling_factor
    if args.init is not None:
        from diffusers import UNet2DConditionModel
        unet = UNet2DConditionModel.from_pretrained(args.init / "unet", local_files_only=True).to(device)
    else:
        unet = inpaint_unet(pipe.unet).to(device)
    params = list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    path = CKPT_DIR / "inpaint.pt"
    step, elapsed = 0, 0.0
    if (done := resume(path, {"unet": unet}, opt, ema)) is not None:
        step, elapsed = done
        log(f"inpaint: resumed at step {step}, {elapsed / 60:.1f} min trained")
    else:
        log(f"inpaint: from the shipped UNet, device {device}, args {vars(args)}")

    def checkpoint():
        save_atomic({"unet": unet.state_dict(), "opt": opt.state_dict(), "ema": ema, "step": step,
                     "elapsed": time.time() - t_start}, path)

    def export_ema():
        meta = {"command": "python -m local_models.shapes.train_inpaint " + " ".join(argv or []),
                "steps": step, "minutes": round((time.time() - t_start) / 60, 1), "batch": args.batch,
                "device": device, "seed": args.seed, "tasks": dict(TASKS),
                "from": f"{args.init.name}/unet (fine-tuned)" if args.init is not None else "weights/unet"}
        with ema_weights(params, ema, use=bool(args.ema)):
            export(pipe, unet.to("cpu").eval(), args.out, meta)
            unet.to(device).train()

    sched = train_scheduler()
    alphas = sched.alphas_cumprod.to(device)
    empty = tokenizer([""], padding="max_length", max_length=MAX_TOKENS, return_tensors="pt").input_ids
    budget = args.budget_minutes * 60
    t_start = time.time() - elapsed
    cadence = Cadence("inpaint", t_start, budget, args.ckpt_minutes, args.export_every, checkpoint, export_ema,
                      every=50)
    unet.train()
    while (not args.export_only and time.time() - t_start < budget
           and not (args.max_steps and step >= args.max_steps)):
        for g in opt.param_groups:
            g["lr"] = lr_at((time.time() - t_start) / budget, args.lr)
        rng = random.Random(args.seed * 1_000_003 + step)
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x, mask, captions = batch(rng, args.batch)
        ids = tokenizer(captions, padding="max_length", max_length=MAX_TOKENS, truncation=True,
                        return_tensors="pt").input_ids
        ids[torch.rand(len(captions), generator=gen) < 0.1] = empty
        x, mask = x.to(device), mask.to(device)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.sample() * scaling
            # exactly what the pipeline feeds: image * (mask < 0.5), encoded; the mask at latent size
            zm = vae.encode(x * (mask < 0.5)).latent_dist.sample() * scaling
            m = F.interpolate(mask, size=z.shape[-2:])
            cond = te(ids.to(device))[0]
        noise = torch.randn(z.shape, generator=gen).to(device)
        t = torch.randint(0, 1000, (z.shape[0],), generator=gen).to(device)
        pred = unet(torch.cat([sched.add_noise(z, noise, t), m, zm], 1), t, encoder_hidden_states=cond).sample
        # the masked region is what is being learnt; the rest is context the model can copy
        loss = min_snr_loss(pred, noise, t, alphas, weight=1 + 2 * m)
        step = optimizer_step(loss, opt, params, ema, step, max_decay=args.ema or 0.999)
        cadence.after(step, loss.item(), opt.param_groups[0]["lr"])
    if not args.export_only:
        checkpoint()
    export_ema()


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
