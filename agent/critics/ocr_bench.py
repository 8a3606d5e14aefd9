"""How well critic:ocr reads what typeset_text writes: words read exactly (the match rule of
agent.critics.ocr, and nothing else read) by font size, font and background, and seconds per image.

    python -m agent.critics.ocr_bench [--per-cell 4] [--sizes 12,16,24,32,48,64,96] [--engine tesseract]

Each image is 512x256 with one word or short phrase set at the given size (not fitted: the size is
the variable) in one of the shipped fonts, on a flat world background (gray, beige, lavender) or on a
synthesised "photographic" one (smooth colour gradients, blobs and pixel noise), at a random place.
The words come from a fixed list of sign and logo words; nothing here tunes the reader. `--engine
tesseract` reads the same images (same seed) with Tesseract instead of RapidOCR.
"""
from __future__ import annotations

import argparse
import random
import time

import numpy as np
from PIL import Image, ImageFilter

from agent.core.typeset import FONTS, _font, typeset
from agent.critics.ocr import normalise, read

WORDS = ["SALE", "OPEN", "HELLO", "Bean There", "Done That", "EXIT", "Fresh Bread", "STOP", "Welcome",
         "Coffee", "GRAND OPENING", "Books", "Sunday Market", "42 Main St", "Tea & Cake", "CLOSED", "Pizza",
         "Summer", "Hotel", "North"]
FLAT = {"gray": (128, 128, 128), "beige": (214, 200, 164), "lavender": (190, 180, 230)}
W, H = 512, 256


def photographic(rng: np.random.Generator) -> Image.Image:
    """A busy background: two-colour gradient, soft blobs, then pixel noise."""
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, W)[None, :, None] * rng.uniform(0.3, 1) + np.linspace(0, 1, H)[:, None, None] * rng.uniform(0, 0.7)
    px = a * (1 - t / t.max()) + b * (t / t.max())
    yy, xx = np.mgrid[0:H, 0:W]
    for _ in range(6):
        cx, cy, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(20, 120)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
        px = px * (1 - 0.6 * blob) + rng.integers(0, 256, 3) * 0.6 * blob
    px = px + rng.normal(0, 12, px.shape)
    return Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))


def sample(size: int, family: str, background: str, rng: random.Random, nrng) -> tuple[Image.Image, str]:
    word = rng.choice(WORDS)
    image = photographic(nrng) if background == "photo" else Image.new("RGB", (W, H), FLAT[background])
    font = _font(family, "bold", size)
    for _ in range(50):  # a word that fits the image at this size
        x0, y0, x1, y1 = font.getbbox(word)
        tw, th = x1 - x0 + size // 2 + 2 * max(1, size // 16), y1 - y0 + size // 2
        if tw < W - 8:
            break
        word = rng.choice([w for w in WORDS if len(w) <= 5])
    x, y = rng.randint(4, max(4, W - tw - 4)), rng.randint(4, max(4, H - th - 4))
    # a photographic background gets an outline, as a designer would set it
    out, _ = typeset(image, word, (x, y, x + tw, y + th), family=family, size=size,
                     outline=max(1, size // 16) if background == "photo" else 0)
    return out, word


def reader(engine: str):
    if engine == "tesseract":
        from agent.critics import tesseract
        return tesseract.read
    if engine != "rapidocr":
        raise SystemExit(f"unknown OCR engine {engine!r}: rapidocr or tesseract")
    return read


def run(sizes: list[int], per_cell: int, seed: int = 0, engines: tuple[str, ...] = ("rapidocr",)) -> list[dict]:
    """One row per engine and size x font x background. With several engines each image is read by
    every one in turn, so they see the same images under the same machine load."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    readers = {e: reader(e) for e in engines}
    for read_with in readers.values():
        read_with(Image.new("RGB", (64, 64)))  # load the engine outside the timing
    rows = []
    for size in sizes:
        for family in FONTS:
            for background in [*FLAT, "photo"]:
                ok, seconds = dict.fromkeys(engines, 0), dict.fromkeys(engines, 0.0)
                for _ in range(per_cell):
                    image, word = sample(size, family, background, rng, nrng)
                    for engine, read_with in readers.items():
                        t0 = time.perf_counter()
                        got = read_with(image)
                        seconds[engine] += time.perf_counter() - t0
                        ok[engine] += "".join(normalise(r.text) for r in got) == normalise(word)
                rows += [{"engine": e, "size": size, "font": family, "background": background, "n": per_cell,
                          "exact": ok[e], "seconds": seconds[e]} for e in engines]
    return rows


def pct(rows: list[dict]) -> str:
    return f"{100 * sum(r['exact'] for r in rows) / max(sum(r['n'] for r in rows), 1):.0f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m agent.critics.ocr_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--per-cell", type=int, default=4, help="images per size x font x background")
    ap.add_argument("--sizes", default="12,16,20,24,32,48,64,96")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engine", default="rapidocr", help="rapidocr (critic:ocr's), tesseract (the system binary), "
                    "or both comma-separated: the same images read by each in turn")
    args = ap.parse_args(argv)
    engines = tuple(e.strip() for e in args.engine.split(",") if e.strip())
    rows = run([int(s) for s in args.sizes.split(",")], args.per_cell, args.seed, engines)
    for engine in engines:
        print(f"{engine}\n{'size':>5} {'exact':>8} {'flat':>8} {'photo':>8} {'s/image':>8}   by font")
        for size in sorted({r["size"] for r in rows}):
            mine = [r for r in rows if r["size"] == size and r["engine"] == engine]
            flat = [r for r in mine if r["background"] != "photo"]
            photo = [r for r in mine if r["background"] == "photo"]
            secs = sum(r["seconds"] for r in mine) / sum(r["n"] for r in mine)
            fonts = "  ".join(f"{f.replace('DejaVu ', '')}: {pct([r for r in mine if r['font'] == f])}" for f in FONTS)
            print(f"{size:>5} {pct(mine):>8} {pct(flat):>8} {pct(photo):>8} {secs:>8.2f}   {fonts}")
        mine = [r for r in rows if r["engine"] == engine]
        total = sum(r["n"] for r in mine)
        print(f"{total} images, {sum(r['seconds'] for r in mine) / total:.2f} s per image on average\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
