"""`critic:ocr`: the words in the picture, read by a real OCR engine offline and checked exactly.

The engine is RapidOCR (`rapidocr-onnxruntime`: PP-OCRv4 detection and recognition on onnxruntime,
the models inside the wheel, nothing downloaded). It reads every text region with its box and
confidence. Each text requirement of the brief's checklist is then decided:

- **the match rule**: both sides are normalised (Unicode NFKC; case folded unless the requirement
  is case-sensitive; everything but letters and digits dropped, so spaces and punctuation never
  count: the recogniser often drops the space between words) and the asked words must appear, in
  order, inside one region's reading or a run of up to four neighbouring regions in reading order;
- **placement**: a named one (top, bottom, left, right, center) from the words' box centre (outer
  two-fifths of the image; the middle two-fifths for center); one relative to an object ("below
  object 0") by GenEval's rule against that object's box, when another checker located it
  (otherwise the item is unchecked: this critic does not see shapes);
- **cut by the edge**: words whose box reaches the image's border are failed (cut off, or about to be);
- **only the asked words**: whatever else was read (another region, or letters round the asked ones in
  the same region) fails the `text:only` item, with what was read and where; a misreading of an asked
  text (the nearest reading, at least half alike: "SALF" for "SALE") is that text's failure, not an
  extra word as well;
- **where the words are** (`word_boxes`): the boxes of what this engine read, never a box an image
  claims in its metadata, so a crafted PNG cannot hide a mark from the shape checker behind a
  "text" box: every pixel left out of the shape check is accounted for here, as asked words or as
  unasked ones.

Named alone it judges only the text items (every other item "unchecked"); `critic:detector` and
`critic:vlm` ask it for the text items whenever the checklist has any.
"""
from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np

from agent.core.geometry import relation_holds
from agent.core.requirements import Requirement, checklist
from agent.core.types import Artifact, Finding, SceneSpec, Verdict

NAME = "critic:ocr"
MIN_CONFIDENCE = 0.5   # readings below this are noise (RapidOCR's own default cut)
MIN_SIDE = 320         # smaller images are enlarged to this before reading (PP-OCR's detector wants room)
WINDOW = 4             # the asked words may span this many neighbouring regions (lines of a logo)
MISREAD = 0.5          # a reading at least this alike to an asked text is that text, misspelt
BOX_PAD = 2            # px round a read box left to the OCR (antialiased letter edges)
SHAPE_LETTERS = 2      # a reading this short may be a shape read as letters ("O", "00")
_ENGINE = None
_LOCK = threading.Lock()


@dataclass
class Reading:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
    confidence: float


def normalise(text: str, case_sensitive: bool = False) -> str:
    """The match rule's form: NFKC, case folded unless `case_sensitive`, letters and digits only."""
    text = unicodedata.normalize("NFKC", text)
    if not case_sensitive:
        text = text.casefold()
    return "".join(ch for ch in text if ch.isalnum())


def engine():
    """One RapidOCR per process (its sessions are shared; calls go one at a time through _LOCK)."""
    global _ENGINE
    if _ENGINE is None:
        from agent.core.registry import loading
        with loading():
            if _ENGINE is None:
                from rapidocr_onnxruntime import RapidOCR
                # "max": never enlarge inside the engine (read() enlarges small images itself)
                _ENGINE = RapidOCR(det_limit_side_len=960, det_limit_type="max", print_verbose=False)
    return _ENGINE


def read(image) -> list[Reading]:
    """Every text region of `image` (PIL image or path) with its box and confidence, in reading order."""
    from PIL import Image
    if not isinstance(image, Image.Image):
        with Image.open(image) as im:
            image = im.convert("RGB")
    image = image.convert("RGB")
    scale = max(1.0, MIN_SIDE / max(image.size))
    big = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC) \
        if scale > 1 else image
    eng = engine()
    with _LOCK:
        result, _ = eng(np.asarray(big)[:, :, ::-1].copy(), use_cls=False)  # BGR, as OpenCV reads files
    out = []
    for quad, text, conf in result or []:
        xs, ys = [p[0] for p in quad], [p[1] for p in quad]
        box = (max(0, int(min(xs) / scale)), max(0, int(min(ys) / scale)),
               min(image.width, int(np.ceil(max(xs) / scale))), min(image.height, int(np.ceil(max(ys) / scale))))
        out.append(Reading(text=str(text), box=box, confidence=float(conf)))
    return reading_order(out)


@lru_cache(maxsize=16)
def _read_file(path: str, mtime_ns: int, size: int) -> tuple[Reading, ...]:
    return tuple(read(path))


def read_file(path) -> list[Reading]:
    """`read` of an image file, kept for the file's version: the shape checker and the words checker
    of one critique share one reading."""
    st = Path(path).stat()
    return list(_read_file(str(Path(path).resolve()), st.st_mtime_ns, st.st_size))


def counted(readings: list[Reading]) -> list[Reading]:
    """The readings `judge_text` accounts for whatever the brief asks: sure enough, with a letter or digit."""
    return [r for r in readings if r.confidence >= MIN_CONFIDENCE and normalise(r.text)]


def word_boxes(readings: list[Reading], size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Where the words are (image pixels, padded by BOX_PAD): the pixels a shape checker leaves to this one."""
    W, H = size
    return [(max(0, r.box[0] - BOX_PAD), max(0, r.box[1] - BOX_PAD), min(W, r.box[2] + BOX_PAD),
             min(H, r.box[3] + BOX_PAD)) for r in counted(readings)]


def letters_not_shapes(readings: list[Reading], shapes: list[tuple], spec: SceneSpec) -> list[Reading]:
    """`readings` without the shapes the engine took for a letter or two (a circle or a ring read as
    "O", a square as "口"): a short reading (at most SHAPE_LETTERS letters and digits, none of the asked
    texts) that mostly (60% of the smaller box) overlaps one of `shapes`, the boxes a shape checker
    fitted on the untouched picture (the engine's box is often the wider: a square at [64, 32, 132,
    100] read at [56, 23, 149, 112]). Left in, such a reading was an unasked word, and its pixels were
    left out of the shape check, so the shape was missing too: a planner then added another (measured
    on the text bench)."""
    asked = {normalise(t.text) for t in spec.text}

    def covered(shape, box) -> bool:
        iw = min(shape[2], box[2]) - max(shape[0], box[0])
        ih = min(shape[3], box[3]) - max(shape[1], box[1])
        smaller = min((b[2] - b[0]) * (b[3] - b[1]) for b in (shape, box))
        return iw > 0 and ih > 0 and iw * ih > 0.6 * smaller

    return [r for r in readings if not (maybe_a_shape(r) and normalise(r.text) not in asked
                                        and any(covered(s, r.box) for s in shapes))]


def maybe_a_shape(reading: Reading) -> bool:
    """A reading short enough to be a shape the engine took for letters."""
    return 0 < len(normalise(reading.text)) <= SHAPE_LETTERS


def reading_order(readings: list[Reading]) -> list[Reading]:
    """Top to bottom by line (regions whose centres are within half a line height), left to right."""
    lines: list[list[Reading]] = []
    for r in sorted(readings, key=lambda r: (r.box[1] + r.box[3]) / 2):
        cy, h = (r.box[1] + r.box[3]) / 2, r.box[3] - r.box[1]
        if lines and abs(cy - np.mean([(q.box[1] + q.box[3]) / 2 for q in lines[-1]])) < h / 2:
            lines[-1].append(r)
        else:
            lines.append([r])
    return [r for line in lines for r in sorted(line, key=lambda r: r.box[0])]


def _union(boxes):
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _where(placement: str, box, size) -> bool:
    (w, h), cx, cy = size, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return {"top": cy < 0.4 * h, "bottom": cy > 0.6 * h, "left": cx < 0.4 * w, "right": cx > 0.6 * w,
            "center": 0.3 * w < cx < 0.7 * w and 0.3 * h < cy < 0.7 * h}[placement]


def _noun(spec: SceneSpec, k: int) -> str:
    from agent.core.captions import noun
    obj = spec.include[k]
    return noun(obj.cls, obj.color, obj.count)


def judge_text(spec: SceneSpec, readings: list[Reading], size: tuple[int, int],
               object_boxes: dict[int, list] | None = None, checker: str = NAME
               ) -> tuple[dict[str, Requirement], list[Finding]]:
    """The checklist's text items (by id) decided from `readings`, and the findings for a planner.
    `object_boxes`: where another checker saw each include object (image pixels), for placements
    relative to an object."""
    items = {r.id: r for r in checklist(spec) if r.kind == "text"}
    judged: dict[str, Requirement] = {}
    findings: list[Finding] = []
    used: set[int] = set()
    leftovers: list[tuple[str, tuple]] = []
    W, H = size
    for k, words in enumerate(spec.text):
        req, cs = items[f"text:{k}"], words.case_sensitive
        target = normalise(words.text, cs)
        best = None  # (window length, i, j): the shortest window of unused regions holding the words
        for i in range(len(readings)):
            for j in range(i, min(i + WINDOW, len(readings))):
                if any(n in used for n in range(i, j + 1)):
                    break
                if target and target in "".join(normalise(r.text, cs) for r in readings[i:j + 1]):
                    best = min(best or (j - i, i, j), (j - i, i, j))
                    break
        if best is None:
            near = max(((SequenceMatcher(None, target, normalise(r.text, cs)).ratio(), n, r)
                        for n, r in enumerate(readings) if n not in used), default=None, key=lambda t: t[0])
            # a single letter is no misspelling (a ring read as "O" against "GO" is a shape)
            misspelt = near is not None and near[0] >= MISREAD and len(normalise(near[2].text, cs)) >= 2
            if misspelt:
                used.add(near[1])  # the asked text, misspelt: this item's failure, not an unasked word
            seen = f"read {near[2].text!r} at {list(near[2].box)}" if near else "no words read"
            msg = f"text: expected {words.text!r}, {seen}"
            # the box says where the misspelt words are (a planner covers them); none when nothing alike was read
            where = near[2].box if misspelt else None
            judged[req.id] = req.judged("failed", msg, where, checker)
            findings.append(Finding(kind="missing", message=msg, box=where, text=words.text))
            continue
        _, i, j = best
        used.update(range(i, j + 1))
        region = readings[i:j + 1]
        box = _union([r.box for r in region])
        joined = "".join(normalise(r.text, cs) for r in region)
        if rest := joined.replace(target, "", 1):
            leftovers.append((rest, box))
        read = " / ".join(r.text for r in region)
        status, why = "passed", f"read {read!r} at {list(box)}"
        if box[0] <= 1 or box[1] <= 1 or box[2] >= W - 1 or box[3] >= H - 1:
            status, why = "failed", f"{why}: the words reach the image's edge (cut off?)"
        elif (rel := words.relative_to()) is not None:
            rel_name, obj = rel
            seen = (object_boxes or {}).get(obj)
            if not seen:
                status, why = "unchecked", f"{why}; where the {_noun(spec, obj)} is, another checker says"
            elif not all(relation_holds(rel_name, box, b) for b in seen):
                status, why = "failed", f"{why}: not {rel_name} the {_noun(spec, obj)} at {[list(b) for b in seen]}"
        elif words.placement and not _where(words.placement, box, size):
            status, why = "failed", f"{why}: not at the {words.placement} of the {W}x{H} image"
        if status == "failed":
            why = f"text: {words.text!r}: {why}"
            findings.append(Finding(kind="position", message=why, box=box, text=words.text))
        judged[req.id] = req.judged(status, why, box, checker)
    others = [(r.text, r.box) for n, r in enumerate(readings)
              if n not in used and r.confidence >= MIN_CONFIDENCE and normalise(r.text)] + leftovers
    only = items.get("text:only")
    if only is not None:
        if others:
            msg = "text: words the brief does not ask for: " + "; ".join(f"{t!r} at {list(b)}" for t, b in others)
            judged[only.id] = only.judged("failed", msg, _union([b for _, b in others]), checker)
            findings += [Finding(kind="extra", message=f"text: {t!r} at {list(b)}: not asked for", box=b, text=t)
                         for t, b in others]
        else:
            judged[only.id] = only.judged("passed", "no other words", None, checker)
    return judged, findings


def seen(readings: list[Reading]) -> list[Finding]:
    """The readings as a verdict's detections (kept in run.json: what the OCR read, where, how sure)."""
    return [Finding(kind="seen", message=f"text {r.text!r} ({r.confidence:.2f})", box=r.box, text=r.text) for r in readings]


class OCRCritic:
    """Judges the checklist's text items; leaves every other item unchecked."""

    name = NAME
    kinds = ("image",)

    def __init__(self, arg: str | None = None):
        self.arg = arg

    def critique(self, artifact: Artifact, brief_text: str, spec: SceneSpec | None,
                 object_boxes: dict[int, list] | None = None, readings: list[Reading] | None = None) -> Verdict:
        """`object_boxes`: where another checker saw each include object (image pixels); `readings`:
        what this engine read of the artifact, when the caller read it already (`letters_not_shapes`)."""
        from PIL import Image
        if spec is None:
            from agent.core.spec_parser import parse_spec
            spec = parse_spec(brief_text)
        items = checklist(spec, brief_text)
        if spec is None or not spec.text:
            reqs = [r.judged("unchecked", "the brief asks for no words to read", None, NAME) for r in items]
            return Verdict(critic=NAME, approved=False, requirements=reqs,
                           issues=["could not check: the brief asks for no words to read"])
        try:
            with Image.open(artifact.path) as im:
                size = im.size
            readings = read_file(artifact.path) if readings is None else readings
        except Exception as e:  # an unreadable file, an engine that cannot start
            return Verdict(critic=NAME, approved=False, error=f"OCR failed: {type(e).__name__}: {e}")
        judged, findings = judge_text(spec, readings, size, object_boxes)
        reqs = [judged.get(r.id) or r.judged("unchecked", f"{NAME} reads words only", None, NAME) for r in items]
        text = [r for r in reqs if r.kind == "text"]
        issues = [r.evidence for r in reqs if r.status == "failed"]
        issues += [f"could not check {r.text}: {r.evidence}" for r in reqs if r.status == "unchecked"]
        return Verdict(critic=NAME, approved=all(r.status == "passed" for r in reqs), issues=issues,
                       findings=findings, detections=seen(readings), requirements=reqs,
                       scores={"text": round(sum(r.status == "passed" for r in text) / len(text), 4)})
