"""How often the seam check (agent/critics/seams.py) fires on clean and on seamed synthetic edits.

    python -m agent.critics.seams_bench [--seeds 50] [--size 256]

Each case is a source picture (a smooth gradient, a 1/f texture, or a "photographic" mix of
gradients, soft blobs and noise) with one or two boxes repainted and blended back through the mask
blurred by `blur` pixels, as local_models/inpainting.py does. A clean edit keeps the source's low
frequencies (what a good inpaint continues) under a new realisation of its fine texture; a seamed
one adds a colour offset, pastes without blur, or fills a textured picture smoothly (texture lost).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image, ImageFilter

from agent.critics.seams import find_seams

SOURCES = ("gradient", "texture", "photo")
EDITS = ("clean", "offset-16", "offset-24", "offset-40", "hard-paste-16", "smooth-fill")


def _gradient(rng, h, w) -> np.ndarray:
    a, b = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / (t.max() - t.min())
    return a * (1 - t[..., None]) + b * t[..., None]


def _fractal(rng, h, w, amplitude: float) -> np.ndarray:
    """1/f noise, three channels, zero mean, `amplitude` standard deviation."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    out = []
    for _ in range(3):
        spectrum = (rng.normal(size=(h, w)) + 1j * rng.normal(size=(h, w))) / f
        spectrum[0, 0] = 0
        c = np.fft.ifft2(spectrum).real
        out.append(c / c.std() * amplitude)
    return np.stack(out, -1)


def _blobs(rng, h, w) -> np.ndarray:
    px = _gradient(rng, h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(h / 12, h / 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
        px = px * (1 - 0.6 * blob) + rng.integers(0, 256, 3) * 0.6 * blob
    return px


def source(kind: str, rng, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(low frequencies, fine texture) of a source picture: their sum is the picture."""
    h = w = size
    if kind == "gradient":
        return _gradient(rng, h, w), rng.normal(0, 2, (h, w, 3))
    if kind == "texture":
        return _gradient(rng, h, w), _fractal(rng, h, w, 25)
    return _blobs(rng, h, w), _fractal(rng, h, w, 10) + rng.normal(0, 4, (h, w, 3))


def _lowpass(px: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur (separable, edges repeated) of an H×W×3 float picture."""
    r = int(3 * sigma)
    k = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma * sigma))
    k /= k.sum()
    for axis in (0, 1):
        pad = [(r, r) if a == axis else (0, 0) for a in range(3)]
        p, n = np.pad(px, pad, mode="edge"), px.shape[axis]
        px = sum(w * np.take(p, range(i, i + n), axis=axis) for i, w in enumerate(k))
    return px


def boxes(rng, size: int) -> list[tuple[int, int, int, int]]:
    out = []
    for _ in range(rng.integers(1, 3)):
        bw, bh = rng.integers(size // 5, size // 2, 2)
        x0, y0 = rng.integers(size // 10, size - bw - size // 10), rng.integers(size // 10, size - bh - size // 10)
        out.append((int(x0), int(y0), int(x0 + bw), int(y0 + bh)))
    return out


def case(kind: str, edit: str, seed: int, size: int = 256, blur: int = 2):
    """(edited image, boxes, blur recorded) for one synthetic edit."""
    rng = np.random.default_rng(seed)
    low, fine = source(kind, rng, size)
    before = low + fine
    regions = boxes(rng, size)
    fresh = source(kind, np.random.default_rng(seed + 10_000), size)[1]
    split = size / 40  # what a good inpaint continues: the source's structure above this scale
    painted = _lowpass(before, split) + fresh - _lowpass(fresh, split)
    if edit.startswith(("offset", "hard-paste")):
        direction = rng.normal(size=3)
        painted = painted + direction / np.linalg.norm(direction) * float(edit.rsplit("-", 1)[1])
    if edit == "smooth-fill":
        painted = _lowpass(before, split)
    if edit.startswith("hard-paste"):
        blur = 0
    mask = Image.new("L", (size, size), 0)
    for b in regions:
        mask.paste(255, b)
    if blur:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    alpha = np.asarray(mask, np.float64)[..., None] / 255
    out = before * (1 - alpha) + painted * alpha
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8)), regions, blur


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--blur", type=int, default=2)
    args = parser.parse_args(argv)
    start, calls = time.perf_counter(), 0
    print(f"seam check fired / cases ({args.seeds} seeds, {args.size}px, blur {args.blur}); unmeasured in brackets")
    print(f"{'':10}" + "".join(f"{e:>15}" for e in EDITS))
    for kind in SOURCES:
        row = []
        for edit in EDITS:
            fired = unmeasured = 0
            for seed in range(args.seeds):
                image, regions, blur = case(kind, edit, seed, args.size, args.blur)
                report = find_seams(image, regions, blur)
                calls += 1
                fired += bool(report.seams)
                unmeasured += not report.checked
            row.append(f"{fired}/{args.seeds}" + (f" [{unmeasured}]" if unmeasured else ""))
        print(f"{kind:10}" + "".join(f"{r:>15}" for r in row))
    print(f"{(time.perf_counter() - start) / calls * 1000:.0f} ms a check (case synthesis included)")


if __name__ == "__main__":
    main()
