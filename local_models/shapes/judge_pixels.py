"""Pixel-mask helpers of the judge (local_models/shapes/judge.py): connected blobs, growing and
shrinking a mask, window sums. Plain numpy, nothing shared with the loop's critic."""
from __future__ import annotations

import numpy as np


def components(mask: np.ndarray) -> list[np.ndarray]:
    """8-connected components of a boolean mask, each as a boolean mask (flood fill; 64x64 is small)."""
    seen = np.zeros_like(mask)
    h, w = mask.shape
    out = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        comp = np.zeros_like(mask)
        stack = [(y0, x0)]
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            comp[y, x] = True
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        out.append(comp)
    return out


def dilate(mask: np.ndarray, r: int = 1) -> np.ndarray:
    out = mask.copy()
    for _ in range(r):
        m = out.copy()
        m[1:] |= out[:-1]
        m[:-1] |= out[1:]
        m[:, 1:] |= out[:, :-1]
        m[:, :-1] |= out[:, 1:]
        out = m  # 4-neighbour steps: r of them reach a diamond of radius r
    return out


def erode(mask: np.ndarray) -> np.ndarray:
    return ~dilate(~mask, 1)


def window_sum(a: np.ndarray, k: int) -> np.ndarray:
    c = np.pad(a, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
