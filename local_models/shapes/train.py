"""Train `local:shapes` from scratch on the shapes world and export it in diffusers format.

    python -m local_models.shapes.train --budget-minutes 72

One command, resumable: it checkpoints to checkpoints/shapes/ every few minutes and picks up where
it stopped when run again with the same arguments. Phase 1 trains the VAE (on 16x16 crops, then on
full 64x64 images) and freezes it; phase 2 trains the UNet and a small causal CLIP text encoder
together on captions for a wall-clock budget, with 10% caption dropout for classifier-free guidance,
min-SNR loss weighting and an EMA of the weights; phase 3 refines the VAE decoder alone (the latent
space stays as the UNet learnt it); then it exports the EMA weights to local_models/shapes/weights/
(fp32 safetensors, about 11 MB). Training images are generated on the fly (world.sample_scene),
never the held-out combinations. Uses CUDA when there is one (and a 4x batch).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from local_models.shapes import world
from local_models.shapes.training import CKPT_DIR, log, lr_at, min_snr_loss, optimizer_step, resume, save_atomic

WEIGHTS = Path(__file__).resolve().parent / "weights"
MAX_TOKENS = 24
SPECIAL = ["<|startoftext|>", "<|endoftext|>"]


# ---- tokenizer: a CLIPTokenizer whose BPE merges make every vocabulary word one token ---------
def build_tokenizer():
    from transformers import CLIPTokenizer

    import tempfile

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    # learn BPE merges on the vocabulary itself: with room to spare every word ends up one token
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=5000, min_frequency=1, special_tokens=SPECIAL,
                                  initial_alphabet=chars + [c + "</w>" for c in chars],
                                  end_of_word_suffix="</w>", show_progress=False)
    bpe.train_from_iterator([" ".join(world.vocabulary_words())] * 2, trainer=trainer)
    with tempfile.TemporaryDirectory() as d:
        bpe.model.save(d)
        vocab = json.loads(Path(d, "vocab.json").read_text())
        merges = [tuple(line.split(" ")) for line in Path(d, "merges.txt").read_text().splitlines()
                  if line and not line.startswith("#version")]
    for c in chars:  # unknown words fall back to letters
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS)
    for word in world.vocabulary_words():  # every known word must be exactly one token
        ids = tok(word, add_special_tokens=False).input_ids
        assert len(ids) == 1, (word, tok.convert_ids_to_tokens(ids))
    return tok


def build_models(tokenizer, width: int):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    te = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=512, num_hidden_layers=3,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, projection_dim=128,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8,
        mid_block_add_attention=False)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(width, 2 * width, 2 * width),
        # cross-attention at 8x8 and 4x4 latents (16x16 attention costs more than it buys here)
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=128, attention_head_dim=4, norm_num_groups=16)
    return te, vae, unet


def train_scheduler():
    from diffusers import DDPMScheduler
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                         beta_end=0.012, prediction_type="epsilon", clip_sample=False)


# ---- data -------------------------------------------------------------------------------------
def batch_images(rng: random.Random, n: int, size: int = 64):
    scenes = [world.sample_scene(rng) for _ in range(n)]
    arr = np.stack([np.asarray(world.render(s, size)) for s in scenes]).astype(np.float32)
    x = torch.from_numpy(arr).permute(0, 3, 1, 2) / 127.5 - 1.0
    return x, [s.caption for s in scenes]


# ---- phase 1: the VAE -------------------------------------------------------------------------
def train_vae(vae, args, device):
    """Stage A: `--vae-steps` steps on small crops (cheap; fully convolutional); stage B:
    `--vae-full-steps` on full 64x64 images, because GroupNorm statistics of a crop differ from those
    of a whole picture. Resumable; the step count says which stage to continue."""
    path = CKPT_DIR / "vae.pt"
    step = 0
    total = args.vae_steps + args.vae_full_steps
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    if path.exists():
        state = torch.load(path, map_location="cpu")
        vae.load_state_dict(state["vae"])
        step = state.get("steps", 0)
        if "opt" in state:
            opt.load_state_dict(state["opt"])
        if state.get("done") and step >= total:
            return state["scaling_factor"]
    vae.train()
    t_ckpt = time.time()
    while step < total:
        full = step >= args.vae_steps
        c, batch = (64, args.vae_full_batch) if full else (args.vae_crop, args.vae_batch)
        lo, hi, base = (args.vae_steps, total, args.vae_full_lr) if full else (0, args.vae_steps, args.vae_lr)
        for g in opt.param_groups:  # cosine within each stage
            g["lr"] = base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - lo) / max(1, hi - lo))))
        rng = random.Random(args.seed * 7919 + step)
        scenes = [world.sample_scene(rng) for _ in range(batch if full else batch // 4 + 1)]
        imgs = [torch.from_numpy(np.asarray(world.render(sc), dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
                for sc in scenes]
        crops = []  # most crops around an object, so colours and edges dominate over background
        for i in range(batch):
            k = i % len(scenes)
            if rng.random() < 0.8:
                cx, cy = scenes[k].objects[rng.randrange(len(scenes[k].objects))].center
                ox, oy = int(cx) - c // 2 + rng.randint(-4, 4), int(cy) - c // 2 + rng.randint(-4, 4)
            else:
                ox, oy = rng.randint(0, 64 - c), rng.randint(0, 64 - c)
            ox, oy = (min(max(v, 0), 64 - c) // 4 * 4 for v in (ox, oy))
            crops.append(imgs[k][:, oy:oy + c, ox:ox + c])
        x = torch.stack(crops).to(device)
        post = vae.encode(x).latent_dist
        z = post.sample()
        rec = vae.decode(z).sample
        kl = post.kl().mean() / (c * c * 3)
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + 1e-5 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            log(f"vae step {step} ({'full' if full else 'crops'}) loss {loss.item():.4f} kl {kl.item():.3f}")
        if time.time() - t_ckpt > args.ckpt_minutes * 60:
            save_atomic({"vae": vae.state_dict(), "opt": opt.state_dict(), "steps": step}, path)
            t_ckpt = time.time()
    vae.eval()
    with torch.no_grad():
        x, _ = batch_images(random.Random(12345), 256)
        z = vae.encode(x.to(device)).latent_dist.sample()
        std = z.std().item()
        err = (vae.decode(z).sample - x.to(device)).abs().mean().item()
    scaling = 1.0 / std
    from local_models.shapes import detector
    with torch.no_grad():
        rec = vae.decode(vae.encode(x[:100].to(device)).latent_dist.mode()).sample.clamp(-1, 1).cpu()
    from PIL import Image
    ims = [Image.fromarray(((r.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)) for r in rec]
    src = [Image.fromarray(((r.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)) for r in x[:100]]
    agree = np.mean([sorted((d.kind, d.color) for d in detector.detect(a)) ==
                     sorted((d.kind, d.color) for d in detector.detect(b)) for a, b in zip(ims, src)])
    log(f"vae: detector agrees on {agree:.0%} of reconstructions")
    log(f"vae done: {step} steps, latent std {std:.3f}, scaling_factor {scaling:.3f}, "
        f"full-image L1 {err:.4f}")
    save_atomic({"vae": vae.state_dict(), "opt": opt.state_dict(), "done": True,
                 "scaling_factor": scaling, "steps": step}, path)
    return scaling


# ---- phase 3: the decoder alone (the encoder, hence the latent space the UNet learned, stays fixed)
def refine_decoder(vae, args, device):
    """Fine-tune only the VAE decoder on full images, weighting object pixels (small stars' tips are
    what a 4x-downsampling VAE loses first). Resumable; result in checkpoints/shapes/decoder.pt."""
    path = CKPT_DIR / "decoder.pt"
    step = 0
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=args.decoder_lr, weight_decay=0.0)
    if path.exists():
        st = torch.load(path, map_location="cpu")
        vae.decoder.load_state_dict(st["decoder"]), vae.post_quant_conv.load_state_dict(st["post_quant_conv"])
        opt.load_state_dict(st["opt"])
        step = st["steps"]
    if step >= args.decoder_steps:
        return
    vae.encoder.requires_grad_(False), vae.quant_conv.requires_grad_(False)
    vae.decoder.train()
    t_ckpt = time.time()

    def save():
        save_atomic({"decoder": vae.decoder.state_dict(), "post_quant_conv": vae.post_quant_conv.state_dict(),
                     "opt": opt.state_dict(), "steps": step}, path)

    while step < args.decoder_steps:
        rng = random.Random(args.seed * 31337 + step)
        scenes = [world.sample_scene(rng) for _ in range(args.vae_batch)]
        x = torch.stack([torch.from_numpy(np.asarray(world.render(sc), dtype=np.float32)).permute(2, 0, 1)
                         for sc in scenes]) / 127.5 - 1
        bg = torch.stack([torch.tensor(world.BACKGROUNDS[sc.background], dtype=torch.float32) / 127.5 - 1
                          for sc in scenes])[:, :, None, None]
        fg = ((x - bg).abs().amax(1, keepdim=True) > 0.1).float()
        weight = 1 + 4 * F.max_pool2d(fg, 3, 1, 1)
        for g in opt.param_groups:
            g["lr"] = args.decoder_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.decoder_steps)))
        with torch.no_grad():
            z = vae.encode(x.to(device)).latent_dist.sample()
        rec = vae.decode(z).sample
        loss = (weight * ((rec - x).abs() + (rec - x) ** 2)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            log(f"decoder step {step} loss {loss.item():.4f}")
        if time.time() - t_ckpt > args.ckpt_minutes * 60:
            save()
            t_ckpt = time.time()
    save()
    vae.eval()
    log(f"decoder refined: {step} steps")


def load_decoder(vae):
    path = CKPT_DIR / "decoder.pt"
    if path.exists():
        st = torch.load(path, map_location="cpu")
        vae.decoder.load_state_dict(st["decoder"]), vae.post_quant_conv.load_state_dict(st["post_quant_conv"])
        log(f"using the refined decoder ({st['steps']} steps)")


# ---- phase 2: UNet + text encoder --------------------------------------------------------------
def export(tokenizer, te, vae, unet, scaling, out: Path, meta: dict):
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    vae.register_to_config(scaling_factor=scaling)
    sched = DPMSolverMultistepScheduler.from_config(train_scheduler().config, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tokenizer, unet=unet,
                                   scheduler=sched, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        import shutil
        shutil.rmtree(tmp)
    pipe.save_pretrained(tmp, safe_serialization=True)
    (tmp / "training.json").write_text(json.dumps(meta, indent=2))
    if out.exists():
        import shutil
        shutil.rmtree(out)
    os.replace(tmp, out)
    log(f"exported to {out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-minutes", type=float, default=72, help="wall clock for the UNet phase")
    ap.add_argument("--vae-steps", type=int, default=3000, help="VAE stage A: steps on crops")
    ap.add_argument("--vae-full-steps", type=int, default=1000, help="VAE stage B: steps on full images")
    ap.add_argument("--width", type=int, default=32, help="UNet base width (32 -> 32,64,64)")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--vae-batch", type=int, default=64)
    ap.add_argument("--vae-full-batch", type=int, default=16)
    ap.add_argument("--vae-crop", type=int, default=16)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--vae-full-lr", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stop-at", default="", help="UTC wall-clock time HH:MM by which the UNet phase ends "
                    "(shortens --budget-minutes when it comes first)")
    ap.add_argument("--ckpt-minutes", type=float, default=4)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: budget only)")
    ap.add_argument("--decoder-steps", type=int, default=1500, help="phase 3: decoder-only refinement")
    ap.add_argument("--decoder-lr", type=float, default=5e-4)
    ap.add_argument("--phase", choices=["all", "vae", "decoder"], default="all",
                    help="decoder: run only the decoder refinement (e.g. beside a running UNet phase)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="export the last checkpoint and stop")
    args = ap.parse_args(argv)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        args.batch *= 4
    torch.manual_seed(args.seed)
    tokenizer = build_tokenizer()
    te, vae, unet = build_models(tokenizer, args.width)
    te.to(device), vae.to(device), unet.to(device)
    log(f"device {device}; params unet {sum(p.numel() for p in unet.parameters())/1e6:.2f}M "
        f"te {sum(p.numel() for p in te.parameters())/1e6:.2f}M vae {sum(p.numel() for p in vae.parameters())/1e6:.2f}M; "
        f"args {vars(args)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    scaling = train_vae(vae, args, device)
    vae.requires_grad_(False).eval()
    if args.phase == "decoder":
        vae.decoder.requires_grad_(True), vae.post_quant_conv.requires_grad_(True)
        refine_decoder(vae, args, device)
        return
    if args.phase == "vae":
        return

    sched = train_scheduler()
    alphas = sched.alphas_cumprod.to(device)
    params = list(unet.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    step, elapsed = 0, 0.0
    path = CKPT_DIR / "unet.pt"
    if (done := resume(path, {"unet": unet, "te": te}, opt, ema)) is not None:
        step, elapsed = done
        log(f"resumed at step {step}, {elapsed/60:.1f} min trained")
    empty = tokenizer([""], padding="max_length", max_length=MAX_TOKENS, return_tensors="pt").input_ids
    unet.train(), te.train()
    budget = args.budget_minutes * 60
    if args.stop_at:
        import datetime as dt
        now = dt.datetime.now(dt.timezone.utc)
        hh, mm = map(int, args.stop_at.split(":"))
        end = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if end < now - dt.timedelta(hours=1):
            end += dt.timedelta(days=1)
        budget = min(budget, elapsed + max(0.0, (end - now).total_seconds()))
        log(f"UNet budget {budget/60:.1f} min (stop at {args.stop_at} UTC)")
    t_last_ckpt, t_start, losses = time.time(), time.time() - elapsed, []

    def checkpoint():
        save_atomic({"unet": unet.state_dict(), "te": te.state_dict(), "opt": opt.state_dict(),
                     "ema": ema, "step": step, "elapsed": time.time() - t_start}, path)

    while (not args.export_only and time.time() - t_start < budget
           and not (args.max_steps and step >= args.max_steps)):
        frac = (time.time() - t_start) / budget
        for g in opt.param_groups:
            g["lr"] = lr_at(frac, args.lr)
        rng = random.Random(args.seed * 1_000_003 + step)
        gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x, captions = batch_images(rng, args.batch)
        ids = tokenizer(captions, padding="max_length", max_length=MAX_TOKENS, truncation=True,
                        return_tensors="pt").input_ids
        drop = torch.rand(len(captions), generator=gen) < 0.1
        ids[drop] = empty
        with torch.no_grad():
            z = vae.encode(x.to(device)).latent_dist.sample(generator=None) * scaling
        noise = torch.randn(z.shape, generator=gen).to(device)
        t = torch.randint(0, 1000, (z.shape[0],), generator=gen).to(device)
        zt = sched.add_noise(z, noise, t)
        cond = te(ids.to(device))[0]
        pred = unet(zt, t, encoder_hidden_states=cond).sample
        loss = min_snr_loss(pred, noise, t, alphas)
        step = optimizer_step(loss, opt, params, ema, step)
        losses.append(loss.item())
        if step % 50 == 0:
            el = time.time() - t_start
            log(f"step {step} loss {np.mean(losses):.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{el/60:.1f}/{budget/60:.0f} min, {el/step:.2f} s/step")
            losses = []
        if time.time() - t_last_ckpt > args.ckpt_minutes * 60:
            checkpoint()
            t_last_ckpt = time.time()
    if not args.export_only:
        checkpoint()
    total = time.time() - t_start if not args.export_only else elapsed
    log(f"training done: {step} steps in {total/60:.1f} min")
    if args.no_export:
        return
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    unet.eval(), te.eval()
    if not args.no_export:
        vae.decoder.requires_grad_(True), vae.post_quant_conv.requires_grad_(True)
        refine_decoder(vae, args, device)
        vae.requires_grad_(False).eval()
    load_decoder(vae)
    meta = {"command": "python -m local_models.shapes.train " + " ".join(argv or []),
            "unet_steps": step, "unet_minutes": round(total / 60, 1), "batch": args.batch,
            "width": args.width, "device": device, "seed": args.seed,
            "vae_steps": [args.vae_steps, args.vae_full_steps], "decoder_steps": args.decoder_steps}
    export(tokenizer, te.cpu(), vae.cpu(), unet.cpu(), scaling, args.out, meta)


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
