"""The held-out text category of `atelier bench` (issue 23) and its judge.

The briefs are data (`bench_text.yaml`: each brief with its truth written by hand). The judge is
built apart from the loop's critic (critic:detector with critic:ocr): it reads the words with its
own OCR engine instance (RapidOCR, a second session, at three times the image's size and with the
angle classifier on, where the critic reads at 320 px without it; or Tesseract, `engine="tesseract"`)
and its own rules, and judges the shapes with `judge:shapes` on the picture with the words it read
painted out:

- **the words**: everything it read, in reading order, letters and digits only, case folded, must
  equal the asked words and nothing else (a misspelling, a missing or an extra word: "text"); a
  reading mostly covered by a shape the shapes judge fits on the untouched picture is that shape (the
  OCR reads a ring as "O"), not a word;
- **where**: the words' box clear of the image's edge ("text-cut"), its centre in the named third of
  the picture (top, bottom, left, right, center) or, relative to a shape, GenEval's rule against
  every shape of that kind and colour that the shapes judge found ("text-place");
- **the rest**: `local_models.shapes.judge` on the picture with each read word's box filled with the
  background colour: exact counts, the named background, nothing else drawn, nothing malformed.
"""
from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from agent.core.types import SceneSpec

BRIEFS = Path(__file__).with_name("bench_text.yaml")
SCALE = 3            # the judge reads the picture enlarged this much (the critic: to 320 px)
MIN_CONFIDENCE = 0.5
PAD = 3              # px round a read word painted out before the shapes are judged
_LOCK = threading.Lock()


def text_prompts() -> list[tuple[str, str, SceneSpec]]:
    """(category, brief, truth) for every brief of bench_text.yaml, in the file's order."""
    import yaml
    entries = yaml.safe_load(BRIEFS.read_text())
    return [("text", e["brief"], SceneSpec.model_validate(e["truth"])) for e in entries]


@lru_cache(maxsize=1)
def _engine():
    """The judge's own RapidOCR session (not the critic's)."""
    from rapidocr_onnxruntime import RapidOCR
    return RapidOCR(det_limit_side_len=2048, det_limit_type="max", print_verbose=False)


def read_words(image: Image.Image, engine: str = "rapidocr") -> list[tuple[str, tuple[int, int, int, int], float]]:
    """(text, box in image pixels, confidence) of every word region read with confidence, top to bottom."""
    image = image.convert("RGB")
    if engine == "tesseract":
        from agent.critics.tesseract import read as tesseract_read
        found = [(r.text, r.box, r.confidence) for r in tesseract_read(image)]
    elif engine == "rapidocr":
        big = image.resize((image.width * SCALE, image.height * SCALE), Image.Resampling.LANCZOS)
        with _LOCK:
            result, _ = _engine()(np.asarray(big)[:, :, ::-1].copy(), use_cls=True)
        found = []
        for quad, text, conf in result or []:
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            found.append((str(text), (int(min(xs) // SCALE), int(min(ys) // SCALE),
                                      int(-(-max(xs) // SCALE)), int(-(-max(ys) // SCALE))), float(conf)))
    else:
        raise ValueError(f"unknown OCR engine {engine!r}: rapidocr or tesseract")
    found = sorted((f for f in found if f[2] >= MIN_CONFIDENCE and _letters(f[0])), key=lambda f: f[1][1] + f[1][3])
    lines: list[list] = []  # a region starts a new line when its centre is below the line's by half a height
    for f in found:
        if lines and (f[1][1] + f[1][3]) / 2 - (lines[-1][0][1][1] + lines[-1][0][1][3]) / 2 < (f[1][3] - f[1][1]) / 2:
            lines[-1].append(f)
        else:
            lines.append([f])
    return [f for line in lines for f in sorted(line, key=lambda f: f[1][0])]


def _letters(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _third(placement: str, box, size) -> bool:
    (w, h), cx, cy = size, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return {"top": cy < h / 3, "bottom": cy > 2 * h / 3, "left": cx < w / 3, "right": cx > 2 * w / 3,
            "center": w / 3 < cx < 2 * w / 3 and h / 3 < cy < 2 * h / 3}[placement]


def _covers(shape, box) -> bool:
    """Does `shape` (a box) cover most (60%) of `box`?"""
    iw = min(shape[2], box[2]) - max(shape[0], box[0])
    ih = min(shape[3], box[3]) - max(shape[1], box[1])
    return iw > 0 and ih > 0 and iw * ih > 0.6 * (box[2] - box[0]) * (box[3] - box[1])


def judge_words(path, spec: SceneSpec, engine: str = "rapidocr"):
    """Is the picture at `path` what `spec` asks, words included? -> (right, kinds, reasons)."""
    from local_models.shapes.judge import judge
    from local_models.shapes.world import CANVAS, relation_holds

    with Image.open(path) as im:
        image = im.convert("RGB")
    W, H = image.size
    # a world shape the OCR takes for a letter (a ring read as "O") is a shape: what the shapes judge
    # fits as one on the untouched picture, covering most of a reading's box, drops that reading
    first = judge(image, spec.model_copy(update={"text": []}))
    fitted = [tuple(v * s / CANVAS for v, s in zip(sh.box, (W, H, W, H))) for sh in first.shapes if sh.kind]
    words = [w for w in read_words(image, engine) if not any(_covers(f, w[1]) for f in fitted)]
    kinds, reasons = [], []
    read = "".join(_letters(t) for t, _, _ in words)
    asked = "".join(_letters(t.text) for t in spec.text)
    box = (min(b[0] for _, b, _ in words), min(b[1] for _, b, _ in words),
           max(b[2] for _, b, _ in words), max(b[3] for _, b, _ in words)) if words else None
    if read != asked:
        kinds.append("text")
        reasons.append(f"read {' / '.join(t for t, _, _ in words) or 'nothing'!r}, "
                       f"asked {' / '.join(t.text for t in spec.text)!r}")
    # the words painted out with the canvas colour, so the shapes judge sees only the shapes
    px = np.asarray(image).copy()
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    for _, (x0, y0, x1, y1), _ in words:
        px[max(0, y0 - PAD):y1 + PAD, max(0, x0 - PAD):x1 + PAD] = np.median(border, axis=0)
    shapes = judge(Image.fromarray(px), spec.model_copy(update={"text": []}))
    kinds += shapes.kinds
    reasons += shapes.reasons
    if box is not None and read == asked:
        if box[0] <= 1 or box[1] <= 1 or box[2] >= W - 1 or box[3] >= H - 1:
            kinds.append("text-cut")
            reasons.append(f"the words at {list(box)} reach the edge")
        for t in spec.text[:1] if len(spec.text) == 1 else []:  # one text: its place is the words' box
            rel = t.relative_to()
            if rel:
                obj = spec.include[rel[1]]
                canvas = tuple(v * CANVAS / s for v, s in zip(box, (W, H, W, H)))
                anchors = [s.box for s in shapes.shapes if s.kind == obj.cls and (obj.color is None or s.color == obj.color)]
                # no anchor seen is the shapes' fault, said already (malformed, count): not where the words are
                if anchors and not all(relation_holds(rel[0], canvas, a) for a in anchors):
                    kinds.append("text-place")
                    reasons.append(f"the words at {list(box)} are not {rel[0]} the {obj.cls}")
            elif t.placement and not _third(t.placement, box, (W, H)):
                kinds.append("text-place")
                reasons.append(f"the words at {list(box)} are not at the {t.placement}")
    return not kinds, sorted(set(kinds)), reasons


def contact_sheet(rows, path: Path, cell: int = 192) -> Path:
    """The delivered images of `rows` in a grid, each under its brief and verdict: to look at by eye."""
    from PIL import ImageDraw

    from agent.core.typeset import _font
    rows = [r for r in rows if r.best_path]
    cols = 6
    sheet = Image.new("RGB", (cols * cell, -(-len(rows) // cols) * (cell + 28)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, r in enumerate(rows):
        x, y = (k % cols) * cell, (k // cols) * (cell + 28)
        with Image.open(r.best_path) as im:
            sheet.paste(im.convert("RGB").resize((cell - 4, cell - 4)), (x + 2, y + 2))
        verdict = "right" if r.correct else "WRONG " + ",".join(r.final)
        draw.text((x + 2, y + cell), r.prompt[:34], fill=(0, 0, 0), font=_font("DejaVu Sans", "regular", 10))
        draw.text((x + 2, y + cell + 13), verdict, fill=(0, 110, 0) if r.correct else (200, 0, 0),
                  font=_font("DejaVu Sans", "bold", 10))
    sheet.save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m agent.surfaces.bench_text grid|rejudge OUT`: a bench folder's text rows as a picture
    grid to look at, or judged again with another OCR engine (the agreement printed per strategy)."""
    import argparse

    from agent.surfaces.bench import load_rows, suite
    ap = argparse.ArgumentParser(prog="python -m agent.surfaces.bench_text", description=main.__doc__.split("\n")[0])
    ap.add_argument("action", choices=["grid", "rejudge"])
    ap.add_argument("out", type=Path, help="the folder given to atelier bench --out")
    ap.add_argument("--strategy", default=None, help="only this strategy's rows")
    ap.add_argument("--engine", default="tesseract", help="rejudge: rapidocr or tesseract")
    ap.add_argument("--png", type=Path, default=None, help="grid: where (default OUT/text_grid.png)")
    args = ap.parse_args(argv)
    rows = [r for r in load_rows(args.out / "results.jsonl") if r.category == "text"
            and (args.strategy is None or r.strategy == args.strategy)]
    if not rows:
        raise SystemExit(f"no text rows in {args.out / 'results.jsonl'}")
    if args.action == "grid":
        print(contact_sheet(rows, args.png or args.out / "text_grid.png"))
        return 0
    truth = {it.index: it.spec for it in suite(categories=["text"])}
    for strategy in dict.fromkeys(r.strategy for r in rows):
        mine = [r for r in rows if r.strategy == strategy]
        again = [bool(r.best_path) and judge_words(r.best_path, truth[r.index], args.engine)[0] for r in mine]
        both = sum(a == r.correct for a, r in zip(again, mine))
        print(f"{strategy:<16} judge (rapidocr) right {sum(r.correct for r in mine)}/{len(mine)}, "
              f"{args.engine} right {sum(again)}/{len(mine)}, agree on {both}/{len(mine)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
