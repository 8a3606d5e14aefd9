"""The learned veto: a small image-level classifier that says how sure it is that a picture of the shapes
world is flawed (a patch, a smudge, a ghost, a seam, a malformed, pinched or lumpy shape, shapes touching,
a shape cut by the edge, specks), trained on the pictures people labelled by eye (`veto_data.py`,
`train_veto.py`), not on synthetic flaws.

It only ever takes an approval away: critic:detector adds a finding when p >= the threshold chosen by
leave-one-set-out cross validation (`veto_cv.py`, kept in config.json). Without its weights
(weights-veto/) the check is absent and the critic's evidence says so, never a pass invented. The
bench's judge (judge:shapes) never uses it.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_DIR = Path(__file__).parent / "weights-veto"
WEIGHTS_FILE = WEIGHTS_DIR / "veto.safetensors"
WIDTHS = (8, 16, 24, 32)
THRESHOLD = 0.9  # used only when a config.json carries none
# what the network sees: the picture (against its background, and as it is), and with "rerender" also the
# residual between the picture and the critic's re-render of what it detected (each shape drawn ideal)
INPUTS = ("picture", "rerender")
CHANNELS = {"picture": 6, "rerender": 3}
SOFT_EDGE = 0.7  # px: the re-render is blurred this much, so an antialiased outline is not a residual


def build(widths=WIDTHS, inputs=INPUTS):
    """Four stages, each a strided 3x3 then a 3x3 convolution (64 -> 32 -> 16 -> 8 -> 4 px), then the
    mean and the max of every channel (a flaw anywhere, however small) and one logit."""
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], sum(CHANNELS[i] for i in inputs)
            for w in widths:
                layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.SiLU(), nn.Conv2d(w, w, 3, padding=1), nn.SiLU()]
                c = w
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(2 * c, 1)

        def forward(self, x):
            h = self.body(x)
            return self.head(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))[:, 0]

    return Net()


def background(pictures: np.ndarray) -> np.ndarray:
    """Each picture's background colour (N, 3): the median of its border, as the detector takes it."""
    border = np.concatenate([pictures[:, 0], pictures[:, -1], pictures[:, :, 0], pictures[:, :, -1]], axis=1)
    return np.median(border, axis=1)


def rerender(px: np.ndarray, detections) -> np.ndarray:
    """The canvas as the critic explains it (64x64x3 float): its background, and every detected shape drawn
    as the ideal shape of its kind over its mask's extent, in its mean colour (largest first)."""
    from local_models.shapes.detector import _template
    out = np.empty((64, 64, 3), np.float32)
    out[:] = background(px[None].astype(np.float32))[0]
    for d in sorted((d for d in detections if d.mask is not None and d.mean is not None), key=lambda d: -d.area):
        ys, xs = np.nonzero(d.mask)
        y0, x0 = ys.min(), xs.min()
        ideal = _template(d.kind, int(xs.max() - x0 + 1), int(ys.max() - y0 + 1))
        region = out[y0:y0 + ideal.shape[0], x0:x0 + ideal.shape[1]]
        region[ideal] = d.mean
    from scipy import ndimage
    return ndimage.gaussian_filter(out, sigma=(SOFT_EDGE, SOFT_EDGE, 0))  # the model draws soft edges


def features(pictures: np.ndarray, renders: np.ndarray | None = None, inputs=INPUTS):
    """Pictures (N, 64, 64, 3; 0-255) as the network's input: each relative to its own background (a faint
    box or smudge is a few levels off it) and as it is; with "rerender", its residual against `renders`
    (the critic's re-render, `rerender`: a pinched, lumpy or cut shape, a stray mark, stand out there)."""
    import torch
    pictures = pictures.astype(np.float32)
    bg = background(pictures)[:, None, None, :]
    parts = [(pictures - bg) / 48.0, pictures / 127.5 - 1.0]
    if "rerender" in inputs:
        if renders is None:
            raise ValueError("this veto compares the picture with the critic's re-render: pass the renders")
        parts.append((pictures - renders.astype(np.float32)) / 48.0)
    x = np.concatenate(parts, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class VetoModel:
    net: object
    config: dict

    @property
    def threshold(self) -> float:
        return float(self.config.get("threshold", THRESHOLD))

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.config.get("inputs", INPUTS))

    def p_flawed(self, px: np.ndarray, detections=()) -> float:
        """How sure the network is that the canvas `px` (64x64x3, 0-255), where the critic detected
        `detections` (with their canvas masks), is flawed, 0..1."""
        render = rerender(px, detections)[None] if "rerender" in self.inputs else None
        return float(self.p_flawed_many(px[None], render)[0])

    def p_flawed_many(self, pictures: np.ndarray, renders: np.ndarray | None = None) -> np.ndarray:
        import torch
        with torch.inference_mode():
            return torch.sigmoid(self.net(features(pictures, renders, self.inputs))).numpy()


_lock = threading.Lock()
_loaded: dict[Path, VetoModel | None] = {}
_off = threading.local()


def load(weights: Path | None = None) -> VetoModel | None:
    """The shipped network (WEIGHTS_FILE; once per process, safe from many threads), or None without
    weights (or in a thread inside `switched_off`)."""
    if getattr(_off, "on", False):
        return None
    weights = Path(weights) if weights is not None else WEIGHTS_FILE
    with _lock:
        if weights not in _loaded:
            _loaded[weights] = read(weights)
        return _loaded[weights]


@contextmanager
def switched_off():
    """The critic without the veto, in this thread only (its verdicts before the veto, for `veto_cv`)."""
    before = getattr(_off, "on", False)
    _off.on = True
    try:
        yield
    finally:
        _off.on = before


def read(weights: Path) -> VetoModel | None:
    if not weights.exists():
        return None
    from safetensors.torch import load_file
    config_file = weights.parent / "config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    net = build(tuple(config.get("widths", WIDTHS)), tuple(config.get("inputs", INPUTS)))
    try:
        net.load_state_dict(load_file(str(weights)))
    except (RuntimeError, OSError, ValueError) as e:
        raise ValueError(f"the veto's weights {weights} do not fit its network ({type(e).__name__}: {e})") from e
    net.eval()
    return VetoModel(net, config)


@dataclass(frozen=True)
class Opinion:
    """What the veto said of one picture: p (None: the check is absent) against its threshold."""

    p: float | None
    threshold: float | None = None

    @property
    def flawed(self) -> bool:
        return self.p is not None and self.p >= self.threshold

    @property
    def evidence(self) -> str:
        if self.p is None:
            return f"the learned check is absent (no weights in {WEIGHTS_DIR.name}/)"
        if self.flawed:
            return f"the picture looks flawed to the learned check (p={self.p:.2f} >= {self.threshold:.2f})"
        return f"the learned check sees no flaw (p={self.p:.2f} < {self.threshold:.2f})"


def opinion(px: np.ndarray, detections=(), text_boxes=()) -> Opinion:
    """The veto's opinion of the canvas `px` where the critic detected `detections`; what lies in
    `text_boxes` (canvas pixels, typeset words the OCR checker reads) is painted background first."""
    model = load()
    if model is None:
        return Opinion(None)
    if len(text_boxes):
        px = np.array(px, np.float32)
        bg = background(px[None])[0]
        for x0, y0, x1, y1 in text_boxes:
            px[max(0, y0):y1, max(0, x0):x1] = bg
    return Opinion(model.p_flawed(np.asarray(px, np.float32), detections), model.threshold)
