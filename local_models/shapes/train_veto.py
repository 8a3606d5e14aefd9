"""Train the learned veto (`veto.py`) on the pictures people labelled by eye and write weights-veto/.

    python -m local_models.shapes.train_veto                      # all eleven sets -> weights-veto/
    python -m local_models.shapes.train_veto --sets approval_set,critic_set --out DIR

Targets (veto_data.training_targets): a right image is clean, a wrong one whose note names a visible
flaw is flawed, a wrong one that is only a brief mismatch (a count, a colour, a place) is left out.
Augmented with horizontal flips and shifts of a pixel or two (never vertical flips: a triangle points
up in this world). Seeded: the same sets and seed give the same weights on the same torch. The
threshold in config.json is the one leave-one-set-out cross validation chose (`veto_cv.py`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from local_models.shapes import veto, veto_data

EPOCHS, BATCH, LR, SEED = 12, 64, 3e-3, 0
# how much more an image the critic approves counts in training (the veto only ever judges those); 1: alike
APPROVED_WEIGHT = 1.0
MAX_SHIFT = 2


def augment(pictures: np.ndarray, renders: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random horizontal flip and a shift of up to MAX_SHIFT px (the uncovered strip filled with the
    picture's own border colour, so no edge is invented) of each picture, and the same of its re-render."""
    pics, rens = pictures.astype(np.float32), renders.astype(np.float32)
    flip = rng.random(len(pics)) < 0.5
    pics[flip], rens[flip] = pics[flip, :, ::-1], rens[flip, :, ::-1]
    bgs = veto.background(pics)
    for i in range(len(pics)):
        dx, dy = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=2)
        if dx or dy:
            pics[i], rens[i] = _shift(pics[i], dx, dy, bgs[i]), _shift(rens[i], dx, dy, bgs[i])
    return pics, rens


def _shift(p: np.ndarray, dx: int, dy: int, fill: np.ndarray) -> np.ndarray:
    moved = np.empty_like(p)
    moved[:] = fill
    ys, yd = (slice(0, 64 - dy), slice(dy, 64)) if dy >= 0 else (slice(-dy, 64), slice(0, 64 + dy))
    xs, xd = (slice(0, 64 - dx), slice(dx, 64)) if dx >= 0 else (slice(-dx, 64), slice(0, 64 + dx))
    moved[yd, xd] = p[ys, xs]
    return moved


def train(pictures: np.ndarray, renders: np.ndarray, targets: np.ndarray, seed: int = SEED, epochs: int = EPOCHS,
          log=None, weights: np.ndarray | None = None):
    """The network trained on `pictures` (N, 64, 64, 3), the critic's re-renders of them (`veto.rerender`)
    and `targets` (1 flawed, 0 clean, -1 left out), each picture's loss times `weights` (None: alike)."""
    import torch
    import torch.nn.functional as F

    keep = targets >= 0
    pictures, renders, y = pictures[keep], renders[keep], targets[keep].astype(np.float32)
    if not len(y) or y.min() == y.max():
        raise ValueError("the veto needs both clean and flawed pictures to train on")
    w = None if weights is None else torch.from_numpy((weights[keep] / weights[keep].mean()).astype(np.float32))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = veto.build()
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    steps = epochs * -(-len(y) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps, pct_start=0.15)
    pos_weight = torch.tensor((y == 0).sum() / max((y == 1).sum(), 1))  # the flawed are fewer: weigh them up
    net.train()
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for start in range(0, len(y), BATCH):
            idx = order[start:start + BATCH]
            x = veto.features(*augment(pictures[idx], renders[idx], rng))
            loss = F.binary_cross_entropy_with_logits(net(x), torch.from_numpy(y[idx]), pos_weight=pos_weight,
                                                      weight=None if w is None else w[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log:
            log(f"epoch {epoch + 1}/{epochs} loss {total / len(y):.4f}")
    net.eval()
    return net


def pool(sets, approved_weight: float = APPROVED_WEIGHT):
    """Pictures, the critic's re-renders of them, training targets, per-picture loss weights (None when
    `approved_weight` is 1: the critic's approvals count `approved_weight` times the rest) and rows of the
    labelled sets `sets`."""
    rows = [r for name in sets for r in veto_data.rows(name)]
    renders = np.concatenate([veto_data.renders(name) for name in sets])
    weights = None
    if approved_weight != 1:
        approved = np.concatenate([veto_data.verdicts(name) for name in sets])
        weights = np.where(approved, approved_weight, 1.0)
    return veto_data.pictures(rows), renders, veto_data.training_targets(rows), weights, rows


def export(net, out: Path, config: dict) -> None:
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out / veto.WEIGHTS_FILE.name))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def main(argv=None) -> None:
    import torch
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--sets", default=",".join(veto_data.SETS),
                    help="comma-separated labelled sets (default: all eleven)")
    ap.add_argument("--out", type=Path, default=veto.WEIGHTS_DIR,
                    help=f"where the weights go (default {veto.WEIGHTS_DIR})")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--approved-weight", type=float, default=APPROVED_WEIGHT,
                    help="how much more the critic's approvals count in training (default %(default)s)")
    ap.add_argument("--threshold", type=float, default=None,
                    help="p at which the critic refuses (default: the one veto_cv chose, in its summary file)")
    a = ap.parse_args(argv)
    try:
        sets = [veto_data.check_name(s.strip()) for s in a.sets.split(",") if s.strip()]
    except ValueError as e:
        ap.error(str(e))
    threshold = a.threshold
    cv = None
    if threshold is None:
        from local_models.shapes import veto_cv
        cv = veto_cv.chosen()
        if cv is None:
            ap.error(f"no threshold given and no cross validation summary at {veto_cv.SUMMARY}: run "
                     "python -m local_models.shapes.veto_cv first, or pass --threshold")
        threshold = cv["threshold"]
    if not 0 < threshold < 1:
        ap.error(f"--threshold must lie between 0 and 1, not {threshold}")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if a.approved_weight <= 0:
        ap.error(f"--approved-weight must be positive, not {a.approved_weight}")
    pictures, renders, targets, weights, _ = pool(sets, a.approved_weight)
    net = train(pictures, renders, targets, a.seed, a.epochs, log=lambda m: print(m, file=sys.stderr, flush=True),
                weights=weights)
    config = {"widths": list(veto.WIDTHS), "inputs": list(veto.INPUTS), "threshold": threshold, "trained_on": sets,
              "seed": a.seed, "epochs": a.epochs, "approved_weight": a.approved_weight,
              "clean": int((targets == 0).sum()), "flawed": int((targets == 1).sum()),
              "left_out_brief_mismatches": int((targets == -1).sum()),
              "parameters": sum(p.numel() for p in net.parameters()), "torch": torch.__version__,
              "command": "python -m local_models.shapes.train_veto " + " ".join(argv or sys.argv[1:]),
              "cross_validation": cv}
    export(net, a.out, config)
    print(f"trained on {len(sets)} sets ({config['clean']} clean, {config['flawed']} flawed, "
          f"{config['left_out_brief_mismatches']} brief mismatches left out) in {time.perf_counter() - t0:.0f} s "
          f"-> {a.out}")


if __name__ == "__main__":
    main()
