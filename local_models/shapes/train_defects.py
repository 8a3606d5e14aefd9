"""Train the learned defect check (`defects.py`) on synthetic pictures and export `weights-defects/`.

    python -m local_models.shapes.train_defects --budget-minutes 40

Every picture is drawn fresh by `defect_data.sample` (no labelled set is ever seen). Resumable:
a checkpoint every few minutes in checkpoints/shapes/defects.pt (run it again to continue), the
exported weights (checkpoints/shapes/defects-weights/) refreshed on the same clock, so a stopped
run still leaves usable weights; they ship (`--ship`: copied to weights-defects/) only once they
have been measured on the development set, so a half-trained network never judges a run.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from local_models.shapes import defect_data, defects
from local_models.shapes.training import CKPT_DIR, Cadence, log, lr_at, save_atomic

CKPT = CKPT_DIR / "defects.pt"
EXPORT = CKPT_DIR / "defects-weights"  # copied to defects.WEIGHTS_DIR once measured (--ship)


def loss_of(net, pictures: np.ndarray, targets: np.ndarray) -> torch.Tensor:
    logits = defects.upsample(net(defects.features(pictures)))
    target = torch.from_numpy(targets.astype(np.float32))[:, None]
    # flawed pixels are rare: weigh them up so a faint box is worth learning
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(4.0))


def export(net, steps: int, out: Path = EXPORT) -> None:
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(out / "defects.tmp"))
    (out / "defects.tmp").replace(out / "defects.safetensors")
    (out / "config.json").write_text(json.dumps({
        "width": defects.WIDTH, "steps": steps, "trained_on": "defect_data.sample (synthetic only)",
        "target_level": defect_data.TARGET_LEVEL}, indent=1) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-minutes", type=float, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--steps", type=int, default=6000, help="the learning-rate schedule's length")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ship", action="store_true", help="copy the last exported weights to weights-defects/")
    args = ap.parse_args(argv)
    if args.ship:
        defects.WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("defects.safetensors", "config.json"):
            shutil.copyfile(EXPORT / name, defects.WEIGHTS_DIR / name)
        log(f"defects: shipped {EXPORT} to {defects.WEIGHTS_DIR}")
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    net = defects.build()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    step = 0
    if CKPT.exists():
        state = torch.load(CKPT, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        log(f"defects: resumed at step {step}")
    rng = random.Random(args.seed * 1_000_003 + step)
    checkpoint = lambda: save_atomic({"net": net.state_dict(), "opt": opt.state_dict(), "step": step}, CKPT)  # noqa: E731
    t0 = time.time()
    cadence = Cadence("defects", t0, args.budget_minutes * 60, ckpt_minutes=3, export_minutes=5,
                      checkpoint=checkpoint, export=lambda: export(net, step))
    while time.time() - t0 < args.budget_minutes * 60 and step < args.steps:
        lr = lr_at(step / args.steps, args.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        pictures, targets = defect_data.batch(rng, args.batch)
        loss = loss_of(net, pictures, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        cadence.after(step, float(loss.detach()), lr)
    checkpoint()
    export(net, step)
    log(f"defects: stopped at step {step}; weights in {EXPORT} (ship them with --ship)")


if __name__ == "__main__":
    main()
