"""local_models/bench_gpu.py: it refuses cleanly without CUDA, and its full-size configs are the
real architectures (built on the meta device: no memory, no compute)."""
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from local_models import bench_gpu  # noqa: E402


def test_refuses_without_cuda(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_gpu.main(["--families", "sdxl", "--out", str(tmp_path / "b.jsonl")]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err and not (tmp_path / "b.jsonl").exists()


@pytest.mark.parametrize("family,denoiser,billions", [("sdxl", "unet", 2.567), ("flux", "transformer", 11.90),
                                                      ("sd3", "transformer", 2.03)])
def test_full_size_configs(family, denoiser, billions):
    with torch.device("meta"):
        pipe = bench_gpu.build(family)
    params = sum(p.numel() for p in getattr(pipe, denoiser).parameters()) / 1e9
    assert params == pytest.approx(billions, rel=0.02)
