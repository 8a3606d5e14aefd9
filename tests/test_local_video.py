"""Local video back ends on tiny pipelines: MP4 and GIF files that decode to the expected frames."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")
av = pytest.importorskip("av")
from PIL import Image  # noqa: E402

from agent.core.errors import InputError  # noqa: E402
from agent.core.types import GenerationRequest  # noqa: E402
from local_models import tiny_pipelines as tiny  # noqa: E402


def decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def mp4_rate(path) -> float:
    with av.open(str(path)) as container:
        return float(container.streams.video[0].average_rate)


@pytest.mark.parametrize("family,frames", [("cogvideox", 9), ("wan", 5), ("wan", 9)])
def test_text_to_video_mp4_and_gif(family, frames, tmp_path):
    backend = tiny.backend(family)
    art = backend.generate(GenerationRequest(prompt="a red ball rolls", num_frames=frames, fps=6), tmp_path)[0]
    assert art.kind == "video" and art.path.suffix == ".mp4" and art.meta["frames"] == frames
    decoded = decode(art.path)
    assert len(decoded) == frames and decoded[0].shape == (16, 16, 3) and mp4_rate(art.path) == 6
    gif = backend.generate(GenerationRequest(prompt="a red ball rolls", num_frames=frames,
                                             extra={"format": "gif"}), tmp_path)[0]
    with Image.open(gif.path) as im:
        assert gif.path.suffix == ".gif" and im.n_frames == frames and im.size == (16, 16)
    again = backend.generate(GenerationRequest(prompt="a red ball rolls", num_frames=frames, fps=6), tmp_path)[0]
    # same seed, same video: frames compared, not file bytes, since torch's CPU sums may round differently
    # when a model loaded by another test in this process changes the thread count between the two calls
    again_frames = decode(again.path)
    assert len(again_frames) == frames
    assert max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(again_frames, decoded)) <= 3


def test_svd_animates_the_source_image(tmp_path):
    Image.new("RGB", (50, 40), (200, 40, 40)).save(tmp_path / "still.png")
    backend = tiny.backend("svd")
    arts = backend.generate(GenerationRequest(prompt="-", source_image=tmp_path / "still.png", n=2), tmp_path)
    assert len(arts) == 2 and [a.request.seed for a in arts] == [0, 1]
    for art in arts:
        frames = decode(art.path)
        assert len(frames) == 3 and frames[0].shape == (32, 32, 3) and mp4_rate(art.path) == 7
    assert arts[0].parent is not None
    with pytest.raises(InputError, match="animates an image"):
        backend.generate(GenerationRequest(prompt="a cat"), tmp_path)
