"""Teach `local:shapes` to make clips, and export `weights-video/` (`local:shapes-video`).

    python -m local_models.shapes.train_video --budget-minutes 90

Text to video with diffusers' stock AnimateDiff: `UNetMotionModel.from_unet2d(shipped UNet,
MotionAdapter(...))` plus the shipped VAE, and the shipped text encoder whose tokenizer gets the
motion words (`motion.MOTION_WORDS`) as new single tokens. The motion modules' output projections
start at zero, so step 0 draws every frame as the image model would; training then teaches the
temporal layers to keep the objects and move them, and the spatial and text layers (at a fifth of
the learning rate) to read "moving to the right" and "stays still".

Why text to video rather than animating the image model's first frame: every stock image-to-video
pipeline in diffusers 0.42 needs a second encoder (SVD, I2VGenXL: a CLIP vision model; CogVideoX,
Wan, LTX: T5) or a ControlNet beside the UNet (SparseCtrl), and PIA is deprecated; AnimateDiff
reuses all three of the image model's parts and adds only the temporal layers, which is what fits
this machine's training time and the 30 MB weight budget.

The noise is shared across frames in part (`--shared-noise`, the share of its variance common to all
frames, as in PYoCo's mixed noise prior); the back end starts each clip from noise mixed the same
way (`mixed_noise`), which keeps the frames of a clip alike from the first step.

What makes the motion follow the prompt (`--warp`, `--contrast`, `--high-noise-cap`): trained on the
text alone, the motion modules never learnt the direction words (at one seed every direction asked
gave the same motion). With `--warp` the common part of the noise drifts, frame by frame, the way the
clip's first moving object goes (as in "Go-with-the-Flow" warped noise, here one global shift), and
the back end drifts it the way the prompt asks (`video_backend.prompt_path`): following the noise is
a local, easily learnt rule, and the direction is then the prompt's. Each clip is paired with itself
played backwards (`motion.reversed_clip`) under the same noise and timestep, so only the caption and
the drift tell them apart; and the noisiest steps, where layout and motion are settled, weigh up to
the v-prediction loss.

Clips have 8 or 12 frames (a step's batch holds about 48 frames either way; `--frames 8` trains the
back end's default length only); each clip's frames are encoded by the frozen VAE. Resumable (checkpoints/shapes/video.pt), CUDA with a 4x batch when
present; `--export-only` writes the last checkpoint's EMA weights (fp16 files, loaded as fp32).
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

from local_models.shapes import motion
from local_models.shapes.video_backend import mixed_noise, noise_path
from local_models.shapes.train import MAX_TOKENS, WEIGHTS, train_scheduler
from local_models.shapes.training import (CKPT_DIR, Cadence, ema_weights, log, lr_at, min_snr_loss, optimizer_step,
                                          resume, save_atomic)

OUT = WEIGHTS.with_name("weights-video")
FRAME_CHOICES = [(8, 6), (12, 4)]  # (frames, clips per step)


def build(pipe):
    """The text encoder with the motion words added, and the motion UNet around the shipped UNet."""
    from diffusers import MotionAdapter, UNetMotionModel

    tokenizer, te = pipe.tokenizer, pipe.text_encoder
    new = [w for w in motion.MOTION_WORDS if len(tokenizer(w, add_special_tokens=False).input_ids) != 1]
    tokenizer.add_tokens(new)
    old = te.get_input_embeddings().weight.detach().clone()
    te.resize_token_embeddings(len(tokenizer))
    with torch.no_grad():  # a new word starts as the mean of the old embeddings
        te.get_input_embeddings().weight[len(old):] = old.mean(0)
    adapter = MotionAdapter(block_out_channels=tuple(pipe.unet.config.block_out_channels),
                            motion_layers_per_block=pipe.unet.config.layers_per_block,
                            motion_num_attention_heads=4, motion_norm_num_groups=16,
                            motion_max_seq_length=32, use_motion_mid_block=True)
    unet = UNetMotionModel.from_unet2d(pipe.unet, adapter)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "motion_modules" in name and "proj_out" in name:
                p.zero_()
    return tokenizer, te, unet


def clip_batch(rng: random.Random, choices=FRAME_CHOICES, contrast: bool = False):
    """A step's clips as (clips, frames, 3, 64, 64) in [-1, 1] and their captions. `contrast`: clip
    2k+1 is clip 2k played backwards (`motion.reversed_clip`), trained under the same noise."""
    frames, clips = random.Random(rng.random()).choice(choices)
    samples = []
    while len(samples) < clips:
        clip = motion.sample_clip(rng)
        if not contrast:
            samples.append(clip)
        elif (back := motion.reversed_clip(rng, clip)) is not None:
            samples += [clip, back]
    arr = np.stack([np.stack([np.asarray(f) for f in c.frames(frames)]) for c in samples]).astype(np.float32)
    x = torch.from_numpy(arr).permute(0, 1, 4, 2, 3) / 127.5 - 1.0  # clips, frames, 3, 64, 64
    return x, [c.caption for c in samples], [(c.movers[0].motion, c.movers[0].travel) for c in samples]


def export(pipe, tokenizer, te, unet, out: Path, meta: dict):
    from diffusers import AnimateDiffPipeline, DPMSolverMultistepScheduler

    video = AnimateDiffPipeline(vae=pipe.vae, text_encoder=te, tokenizer=tokenizer, unet=unet,
                                motion_adapter=None, scheduler=DPMSolverMultistepScheduler.from_config(
                                    pipe.scheduler.config))
    video.to(torch.float16)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    video.save_pretrained(tmp, safe_serialization=True)
    video.to(torch.float32)
    (tmp / "training.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    log(f"video: exported to {out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-minutes", type=float, default=90, help="wall clock of training in all")
    ap.add_argument("--lr", type=float, default=1e-3, help="motion modules and new words; the rest gets a fifth")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--ckpt-minutes", type=float, default=3)
    ap.add_argument("--export-every", type=float, default=10, help="minutes between exports (0: only at the end)")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--init-from", type=Path, default=None,
                    help="an exported weights-video folder to go on training from (when there is no checkpoint)")
    ap.add_argument("--frames", type=int, nargs="+", default=[f for f, _ in FRAME_CHOICES],
                    help="clip lengths to train on (of %s)" % [f for f, _ in FRAME_CHOICES])
    ap.add_argument("--contrast", type=int, default=1,
                    help="1: each clip is paired with itself played backwards under the same noise and "
                         "timestep, so the caption alone tells their directions apart")
    ap.add_argument("--high-noise-cap", type=float, default=10,
                    help="weigh noisy steps up to the v-loss, capped at this factor (1: plain min-SNR)")
    ap.add_argument("--warp", type=int, default=1,
                    help="1: the noise's common part drifts with the clip's first moving object "
                         "(the back end drifts it the way the prompt asks)")
    ap.add_argument("--shared-noise", type=float, default=0.5, help="share of the noise's variance common to all frames")
    args = ap.parse_args(argv)

    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as dlog

    dlog.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    scale = 4 if device == "cuda" else 1
    pipe = StableDiffusionPipeline.from_pretrained(WEIGHTS, local_files_only=True)
    if args.init_from and not (CKPT_DIR / "video.pt").exists():
        # go on from an exported model (on another machine, where no checkpoint is): optimiser state starts afresh
        from diffusers import AnimateDiffPipeline
        done = AnimateDiffPipeline.from_pretrained(args.init_from, dtype=torch.float32, local_files_only=True)
        tokenizer, te, unet = done.tokenizer, done.text_encoder, done.unet
        log(f"video: starting from the exported model in {args.init_from}")
    else:
        tokenizer, te, unet = build(pipe)
    vae = pipe.vae.to(device).eval().requires_grad_(False)
    te.to(device), unet.to(device)
    scaling = vae.config.scaling_factor
    # the motion modules, the new words and the cross-attention (which carries "to the right" into the
    # frames) learn at the full rate; the rest of the image model at a fifth
    fresh = [p for n, p in unet.named_parameters() if "motion_modules" in n or "attn2" in n] + \
        [te.get_input_embeddings().weight]
    fresh_ids = {id(p) for p in fresh}
    rest = [p for p in [*unet.parameters(), *te.parameters()] if id(p) not in fresh_ids]
    params = fresh + rest
    opt = torch.optim.AdamW([{"params": fresh, "scale": 1.0}, {"params": rest, "scale": 0.2}],
                            lr=args.lr, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    path = CKPT_DIR / "video.pt"
    step, elapsed = 0, 0.0
    if (done := resume(path, {"unet": unet, "te": te}, opt, ema)) is not None:
        step, elapsed = done
        log(f"video: resumed at step {step}, {elapsed / 60:.1f} min trained")
    else:
        n = sum(p.numel() for p in unet.parameters())
        log(f"video: motion UNet {n / 1e6:.2f} M parameters, device {device}, args {vars(args)}")

    def checkpoint():
        save_atomic({"unet": unet.state_dict(), "te": te.state_dict(), "opt": opt.state_dict(), "ema": ema,
                     "step": step, "elapsed": time.time() - t_start}, path)

    def export_ema():
        meta = {"command": "python -m local_models.shapes.train_video " + " ".join(argv or []),
                "steps": step, "minutes": round((time.time() - t_start) / 60, 1), "device": device,
                "seed": args.seed, "frames": args.frames, "shared_noise": args.shared_noise,
                "contrast": args.contrast, "high_noise_cap": args.high_noise_cap, "warp": args.warp,
                "from": "weights/ (unet, text_encoder, vae)"}
        with ema_weights(params, ema, use=bool(args.ema)):
            export(pipe, tokenizer, te.to("cpu").eval(), unet.to("cpu").eval(), args.out, meta)
            unet.to(device).train(), te.to(device).train()

    sched = train_scheduler()
    alphas = sched.alphas_cumprod.to(device)
    empty = tokenizer([""], padding="max_length", max_length=MAX_TOKENS, return_tensors="pt").input_ids
    budget = args.budget_minutes * 60
    t_start = time.time() - elapsed
    cadence = Cadence("video", t_start, budget, args.ckpt_minutes, args.export_every, checkpoint, export_ema)
    unet.train(), te.train()
    while (not args.export_only and time.time() - t_start < budget
           and not (args.max_steps and step >= args.max_steps)):
        for g in opt.param_groups:
            g["lr"] = lr_at((time.time() - t_start) / budget, args.lr) * g["scale"]
        rng = random.Random(args.seed * 1_000_003 + step)
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        xs, captions, moves = [], [], []
        choices = [fc for fc in FRAME_CHOICES if fc[0] in args.frames]
        for _ in range(scale):
            x, c, m = clip_batch(rng, choices, bool(args.contrast))
            xs.append(x), captions.extend(c), moves.extend(m)
        x = torch.cat(xs).to(device)
        clips, frames = x.shape[:2]
        ids = tokenizer(captions, padding="max_length", max_length=MAX_TOKENS, truncation=True,
                        return_tensors="pt").input_ids
        ids[torch.rand(len(captions), generator=gen) < 0.1] = empty
        with torch.no_grad():
            z = vae.encode(x.flatten(0, 1)).latent_dist.sample() * scaling
        z = z.unflatten(0, (clips, frames)).permute(0, 2, 1, 3, 4)  # clips, 4, frames, h, w
        cond = te(ids.to(device))[0].repeat_interleave(frames, dim=0)
        pairs = 2 if args.contrast else 1
        # a pair's clips share the noise; with --warp its common part drifts each clip's own way
        paths = [noise_path(way, travel, frames, x.shape[-1] // z.shape[-1]) for way, travel in moves] \
            if args.warp else None
        noise = mixed_noise((clips // pairs, *z.shape[1:]), args.shared_noise, gen, paths, repeat=pairs)
        t = torch.randint(0, 1000, (clips // pairs,), generator=gen).repeat_interleave(pairs).to(device)
        noise = noise.to(device)
        pred = unet(sched.add_noise(z, noise, t), t, encoder_hidden_states=cond).sample
        loss = min_snr_loss(pred, noise, t, alphas, high_noise_cap=args.high_noise_cap)
        step = optimizer_step(loss, opt, params, ema, step, max_decay=args.ema or 0.999)
        cadence.after(step, loss.item(), opt.param_groups[0]["lr"])
    if not args.export_only:
        checkpoint()
    export_ema()


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
