"""Tesseract (Debian's `tesseract-ocr`, the system binary; not a dependency) as a second OCR engine:
the comparison with RapidOCR in BENCHMARKS.md (`python -m agent.critics.ocr_bench --engine
tesseract`) and the benchmark's independent text judge (`agent.surfaces.bench_text`). Same contract
as `agent.critics.ocr.read`: every word region with its box and confidence (0-1), in reading order.
Page segmentation 11 ("sparse text": words anywhere, in no particular layout), LSTM engine, English."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from agent.critics.ocr import MIN_SIDE, Reading, reading_order

DEADLINE = 30.0  # seconds for one picture (it takes well under one)


def available() -> bool:
    return shutil.which("tesseract") is not None


def read(image: Image.Image) -> list[Reading]:
    if not available():
        raise RuntimeError("tesseract is not installed (Debian: apt-get install tesseract-ocr)")
    image = image.convert("RGB")
    scale = max(1.0, MIN_SIDE / max(image.size))  # the same enlargement as critic:ocr's
    big = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC) \
        if scale > 1 else image
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.png"
        big.save(path)
        try:
            done = subprocess.run(["tesseract", str(path), "stdout", "--psm", "11", "--oem", "1", "-l", "eng", "tsv"],
                                  capture_output=True, text=True, timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"tesseract took over {DEADLINE:.0f} s on one picture") from None
    if done.returncode != 0:
        raise RuntimeError(f"tesseract failed (exit {done.returncode}): {done.stderr.strip()[:200]}")
    out = []
    for row in csv.DictReader(io.StringIO(done.stdout), delimiter="\t", quoting=csv.QUOTE_NONE):
        text, conf = (row.get("text") or "").strip(), float(row.get("conf") or -1)
        if row.get("level") != "5" or not text or conf < 0:
            continue
        x, y, w, h = (int(row[k]) for k in ("left", "top", "width", "height"))
        box = (int(x / scale), int(y / scale), min(image.width, int(-(-(x + w) // scale))),
               min(image.height, int(-(-(y + h) // scale))))
        out.append(Reading(text=text, box=box, confidence=conf / 100))
    return reading_order(out)
