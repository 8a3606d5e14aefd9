"""Leave-one-set-out cross validation of the learned veto (`veto.py`) over the eleven labelled sets.

    python -m local_models.shapes.veto_cv [--workers 2] [--lose 0.02]

For each held-out set the network is trained on the other ten (`train_veto.train`, the same seed and
epochs as the shipped one) and applied ONLY to the images critic:detector (without the veto) approves;
per set it counts wrong approved before -> after and right approved before -> after. ONE threshold is
chosen from the pooled held-out probabilities before anything ships: the lowest p that takes away at most
`--lose` (default 2%) of the right approvals pooled over the eleven sets. The critic's verdicts are cached
in /tmp/veto_verdicts, each fold's probabilities in /tmp/veto_cv (delete them to recompute); the summary
(threshold and table) goes to /tmp/veto_cv/summary.json, where train_veto reads the threshold.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from local_models.shapes import veto_data

CACHE = Path(tempfile.gettempdir()) / "veto_cv"
SUMMARY = CACHE / "summary.json"
LOSE = 0.02


def _code_key(epochs: int, seed: int, approved_weight: float) -> str:
    """A fold's cache key: what decides its network (the training code, the network, its inputs, which
    labels count as flawed), the epochs and the seed; a change there retrains, nothing else does."""
    import inspect

    from local_models.shapes import train_veto, veto
    h = hashlib.sha256(f"{epochs}:{seed}:{approved_weight:g}:{veto.WIDTHS}:{veto.INPUTS}:{veto.SOFT_EDGE}:"
                       f"{train_veto.BATCH}:{train_veto.LR}:{train_veto.MAX_SHIFT}".encode())
    for part in (train_veto.train, train_veto.augment, train_veto._shift, train_veto.pool, veto.build, veto.background,
                 veto.rerender, veto.features, veto_data.FLAW_WORDS, veto_data.training_targets, veto_data.renders,
                 veto_data.pictures):
        h.update((part if isinstance(part, tuple) else inspect.getsource(part)).__repr__().encode())
    return h.hexdigest()[:12]


def fold(held_out: str, epochs: int, seed: int, approved_weight: float) -> np.ndarray:
    """p(flawed) of every image of `held_out` from a network trained on the other ten sets."""
    import torch

    from local_models.shapes import train_veto
    path = CACHE / f"{held_out}-{_code_key(epochs, seed, approved_weight)}.npy"
    if path.exists():
        return np.load(path)
    torch.set_num_threads(1)
    from local_models.shapes import veto
    pictures, renders, targets, weights, _ = train_veto.pool([s for s in veto_data.SETS if s != held_out],
                                                             approved_weight)
    net = train_veto.train(pictures, renders, targets, seed, epochs, weights=weights)
    test = veto_data.pictures(veto_data.rows(held_out))
    with torch.inference_mode():
        p = torch.sigmoid(net(veto.features(test, veto_data.renders(held_out)))).numpy()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, p)
    return p


def choose(p_right_approved: np.ndarray, lose: float) -> float:
    """The lowest threshold at which at most `lose` of the right approvals have p >= it."""
    ps = np.sort(p_right_approved)[::-1]
    allowed = int(np.floor(lose * len(ps)))  # this many right approvals may go
    # strictly above the (allowed+1)-th highest p: exactly `allowed` are at or over it
    return float(min(0.999, np.nextafter(np.float32(ps[allowed]), np.float32(1)))) if allowed < len(ps) else 0.0


def _row(name: str, wb: int, wa: int, nw: int, rb: int, ra: int, nr: int) -> str:
    wrong, right, vetoed = f"{wb} -> {wa} /{nw}", f"{rb} -> {ra} /{nr}", f"{wb - wa}/{rb - ra}"
    return f"{name:20s} {wrong:>16s} {right:>16s} {vetoed:>21s}"


def table(results: dict, threshold: float) -> tuple[str, dict]:
    """The per-set table at `threshold` and the pooled counts."""
    lines = [f"{'held-out set':20s} {'wrong approved':>16s} {'right approved':>16s} {'vetoed (wrong/right)':>21s}"]
    total = {"wrong": 0, "right": 0, "wrong_before": 0, "wrong_after": 0, "right_before": 0, "right_after": 0}
    for name, (rows, approved, p) in results.items():
        right = np.array([r["right"] for r in rows])
        ok = np.array(approved)
        kept = ok & (p < threshold)
        wb, wa = int((ok & ~right).sum()), int((kept & ~right).sum())
        rb, ra = int((ok & right).sum()), int((kept & right).sum())
        nw, nr = int((~right).sum()), int(right.sum())
        for k, v in zip(total, (nw, nr, wb, wa, rb, ra)):
            total[k] += v
        lines.append(_row(name, wb, wa, nw, rb, ra, nr))
    t = total
    lines.append(_row("pooled", t["wrong_before"], t["wrong_after"], t["wrong"], t["right_before"], t["right_after"],
                      t["right"]))
    return "\n".join(lines), total


def run(workers: int, epochs: int, seed: int, approved_weight: float) -> dict:
    """{set: (rows, critic approvals, held-out p)} for the eleven sets."""
    approved = {name: veto_data.verdicts(name) for name in veto_data.SETS}
    for name in veto_data.SETS:  # made once here, not by every worker
        veto_data.renders(name)
    with ProcessPoolExecutor(max_workers=workers) as ex:
        ps = dict(zip(veto_data.SETS, ex.map(fold, veto_data.SETS, [epochs] * 11, [seed] * 11,
                                                   [approved_weight] * 11)))
    return {name: (veto_data.rows(name), approved[name], ps[name]) for name in veto_data.SETS}


def chosen() -> dict | None:
    """The last cross validation's summary (its threshold and pooled counts), or None."""
    return json.loads(SUMMARY.read_text()) if SUMMARY.exists() else None


def main(argv=None) -> None:
    from local_models.shapes import train_veto
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--workers", type=int, default=2, help="folds trained at once (one thread each)")
    ap.add_argument("--lose", type=float, default=LOSE, help="the share of pooled right approvals the veto may take")
    ap.add_argument("--epochs", type=int, default=train_veto.EPOCHS)
    ap.add_argument("--seed", type=int, default=train_veto.SEED)
    ap.add_argument("--approved-weight", type=float, default=train_veto.APPROVED_WEIGHT,
                    help="how much more the critic's approvals count in training")
    a = ap.parse_args(argv)
    if not 0 <= a.lose < 1:
        ap.error(f"--lose is a share between 0 and 1, not {a.lose}")
    if a.workers < 1:
        ap.error(f"--workers must be at least 1, not {a.workers}")
    t0 = time.perf_counter()
    results = run(a.workers, a.epochs, a.seed, a.approved_weight)
    p_right = np.concatenate([p[np.array(ok) & np.array([r["right"] for r in rows])]
                              for rows, ok, p in results.values()])
    threshold = choose(p_right, a.lose)
    text, total = table(results, threshold)
    print(f"leave-one-set-out, {a.epochs} epochs, seed {a.seed}, approvals weighted {a.approved_weight:g}; "
          f"threshold p >= {threshold:.4f} "
          f"(at most {a.lose:.0%} of the pooled right approvals)\n{text}")
    for other in sorted({0.01, 0.02, 0.05} - {a.lose}):
        t = choose(p_right, other)
        _, o = table(results, t)
        print(f"  for comparison, losing at most {other:.0%}: p >= {t:.4f}: wrong approved "
              f"{o['wrong_before']} -> {o['wrong_after']}, right {o['right_before']} -> {o['right_after']}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    CACHE.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps({"threshold": threshold, "lose": a.lose, "epochs": a.epochs, "seed": a.seed,
                                   "approved_weight": a.approved_weight,
                                   "pooled": total, "table": text}, indent=2) + "\n")


if __name__ == "__main__":
    main()
