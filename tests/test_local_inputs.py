"""Bad input to the local back ends fails with one clear line before any weights load; absent
weights say how to get them; the out-of-memory retry; weight resolution and `atelier models list`."""
from __future__ import annotations

import struct
from pathlib import Path
import zlib

import pytest

pytest.importorskip("diffusers")
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from agent.core.errors import ConfigError, InputError  # noqa: E402
from agent.core.types import GenerationRequest  # noqa: E402
from local_models import diffusers_base, tiny_pipelines as tiny  # noqa: E402
from local_models.catalog import load_image_backend, load_video_backend  # noqa: E402
from local_models.models_cli import list_models  # noqa: E402
from local_models.weights import find  # noqa: E402


def huge_png(path):
    """A PNG whose header says 20000×20000: a decompression bomb (a few bytes on disk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture
def files(tmp_path):
    Image.new("RGB", (64, 48)).save(tmp_path / "image.png")
    Image.new("L", (32, 32)).save(tmp_path / "small_mask.png")
    (tmp_path / "notes.png").write_text("not a picture")
    return {"image": tmp_path / "image.png", "mask": tmp_path / "small_mask.png",
            "text": tmp_path / "notes.png", "bomb": huge_png(tmp_path / "bomb.png")}


def req(**kw):
    return GenerationRequest(prompt="a cat", **kw)


CASES = [
    ("sdxl", "generate", dict(width=640, height=480), "not on local:sdxl's menu: 1024×1024"),
    ("sd-turbo", "edit", dict(source_image="image", mask="mask"), "the mask is 32×32 but the image is 64×48"),
    ("sd-turbo", "edit", dict(source_image="text"), "not an image file"),
    ("sd-turbo", "edit", dict(source_image="bomb"), "image too large"),
    ("sd-turbo", "edit", dict(source_image="image", strength=0.5, steps=1), "leaves no denoising step; use at least 2 steps"),
    ("flux-schnell", "generate", dict(negative_prompt="blurry"), "does not take a negative prompt"),
    ("flux-schnell", "generate", dict(scheduler="ddim"), "unknown scheduler 'ddim'"),
    ("flux-dev", "generate", dict(n=16), "at most 4 images"),
    ("sd-turbo", "edit", dict(source_image="image", instruction="make it blue"), "cannot do instruct"),
    ("instruct-pix2pix", "generate", dict(), "only edits images"),
    ("instruct-pix2pix", "edit", dict(source_image="image", mask="mask"), "edits by instruction and takes no mask"),
    ("sd-turbo", "edit", dict(), "needs a source image"),
    ("sdxl", "edit", dict(source_image="image", extra={"refiner": True}), "text to image only"),
    ("sd-turbo", "generate", dict(extra={"loras": {"/nowhere/style.safetensors": 1.0}}), "LoRA /nowhere"),
    ("sd-turbo", "generate", dict(extra={"style_image": "image"}), "no IP-Adapter"),
]


@pytest.mark.parametrize("model,method,kwargs,message", CASES)
def test_bad_image_requests_fail_before_loading(model, method, kwargs, message, files):
    for key in ("source_image", "mask"):
        if key in kwargs:
            kwargs = {**kwargs, key: files[kwargs[key]]}
    if "style_image" in kwargs.get("extra", {}):
        kwargs["extra"] = {"style_image": str(files["image"])}
    backend = load_image_backend(model)  # its weights are not on this machine: a load would be a ConfigError
    loads = sum(diffusers_base.LOADS.values())
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("?", r"\?")):
        getattr(backend, method)(req(**kwargs), files["image"].parent)
    assert sum(diffusers_base.LOADS.values()) == loads and backend._loaded is None


def test_strength_outside_the_range(files):
    with pytest.raises(ValueError):
        req(source_image=files["image"], strength=1.5)  # the request type refuses it already
    bad = req(source_image=files["image"]).model_copy(update={"strength": 0.0})  # built without validation
    with pytest.raises(InputError, match=r"strength must be in \(0, 1\]"):
        load_image_backend("sd-turbo").edit(bad, files["image"].parent)


@pytest.mark.parametrize("model,frames,message", [("svd", 30, "at most 14 frames"),
                                                   ("svd-xt", 26, "at most 25 frames"),
                                                   ("cogvideox-2b", 48, "8·k\\+1 frames"),
                                                   ("wan-1.3b", 101, "at most 81 frames"),
                                                   ("wan-1.3b", 40, "4·k\\+1 frames")])
def test_too_many_frames(model, frames, message, files):
    with pytest.raises(InputError, match=message):
        load_video_backend(model).generate(req(num_frames=frames, source_image=files["image"]), files["image"].parent)


def test_video_size_and_format(files):
    wan = load_video_backend("wan-1.3b")
    with pytest.raises(InputError, match="not on local:wan-1.3b's menu"):
        wan.generate(req(width=512, height=512), files["image"].parent)
    with pytest.raises(InputError, match="video format"):
        wan.generate(req(extra={"format": "avi"}), files["image"].parent)


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown local image model 'sdxxl'"):
        load_image_backend("sdxxl")
    from agent.core.registry import resolve

    with pytest.raises(ConfigError, match="unknown local video model"):
        resolve("video", "local:sora")


def test_absent_weights_say_how_to_get_them(files):
    with pytest.raises(ConfigError) as error:
        load_image_backend("flux-schnell").generate(req(), files["image"].parent)
    text = str(error.value)
    assert "flux-schnell is not on this machine" in text and "atelier models pull flux-schnell" in text
    assert "ATELIER_MODEL_FLUX_SCHNELL" in text


def test_absent_controlnet_weights_are_named_before_the_model_loads(files):
    backend = tiny.backend("sd")
    with pytest.raises(ConfigError, match="model sd21-controlnet-depth is not on this machine"):
        backend.edit(req(source_image=files["image"], extra={"control": "depth"}), files["image"].parent)
    assert backend._loaded is None


def test_weights_from_a_folder_or_a_file(tmp_path, monkeypatch):
    from local_models.specs import SPECS

    assert find(SPECS["sdxl"]) is None
    rows = {row["name"]: row for row in list_models()}
    assert not rows["sdxl"]["present"] and rows["sdxl"]["repo"] == "stabilityai/stable-diffusion-xl-base-1.0"
    monkeypatch.setenv("ATELIER_MODEL_SDXL", str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"")
    monkeypatch.setenv("ATELIER_MODEL_SD15", str(tmp_path / "model.safetensors"))
    rows = {row["name"]: row for row in list_models()}
    assert rows["sdxl"]["present"] and rows["sdxl"]["path"] == str(tmp_path)
    assert rows["sd15"]["present"] and rows["sd15"]["path"].endswith("model.safetensors")
    assert {"svd", "wan-1.3b", "cogvideox-2b", "sdxl-refiner"} <= set(rows)


def test_out_of_memory_steps_down_every_level_to_sequential_offload(tmp_path):
    """The retry ladder reaches CPU offload (one retry used to stop at level 1 or 2)."""
    backend = tiny.backend("sd")
    real, calls = backend.denoise, []

    def denoise(pipe, kwargs, request, loaded, progress):
        calls.append(loaded.memory)
        if len(calls) == 1 or request.seed == 7:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real(pipe, kwargs, request, loaded, progress)

    backend.denoise = denoise
    assert len(backend.generate(req(), tmp_path)) == 1 and calls == [0, 1]
    with pytest.raises(diffusers_base.OutOfMemory, match="ran out of GPU memory at 32×32, n=1 with sequential CPU offload"):
        backend.generate(req(seed=7), tmp_path)
    assert calls == [0, 1, 1, 2, 3, 4, 5]



def test_memory_level_1_keeps_sdpa_attention(tmp_path):
    """Attention slicing would replace PyTorch's SDPA attention with a slower sliced one."""
    pipe = tiny.build("sd")
    diffusers_base.apply_memory(pipe, 1, torch.device("cpu"))
    kinds = {type(p).__name__ for p in pipe.unet.attn_processors.values()}
    assert kinds == {"AttnProcessor2_0"} and pipe.vae.use_tiling and pipe.vae.use_slicing


@pytest.mark.parametrize("level", [1, 2])
def test_svd_runs_at_lower_memory_levels(tmp_path, monkeypatch, level):
    """SVD's temporal VAE has no tiling: enable_tiling raised NotImplementedError at level >= 1."""
    from PIL import Image

    from local_models.svd import decode_chunk

    monkeypatch.setenv("ATELIER_MEMORY", str(level))
    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "first.png")
    backend = tiny.backend("svd")
    art = backend.generate(GenerationRequest(prompt="a ball", source_image=tmp_path / "first.png", num_frames=3,
                                             extra={"format": "gif"}), tmp_path)[0]
    loaded = backend.load()
    assert art.meta["frames"] == 3 and loaded.memory == level and decode_chunk(level) <= 2
    unet = loaded.pipe.unet
    assert all(getattr(b, "_chunk_size", None) for b in unet.modules() if hasattr(b, "_chunk_size"))


@pytest.mark.slow  # loads three tiny families in turn: about 40 s; CI's optional pass runs it
def test_loading_a_family_evicts_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv("ATELIER_KEEP_MODELS", "1")
    sd, sdxl = tiny.backend("sd"), tiny.backend("sdxl")
    sd.generate(req(), tmp_path)
    first = sd.load()
    sdxl.generate(req(), tmp_path)
    second = sdxl.load()
    assert first.evicted and first.pipe is None and second in diffusers_base.CACHE.values()
    assert first not in diffusers_base.CACHE.values()
    assert len(sd.generate(req(), tmp_path)) == 1 and not sd.load().evicted  # loaded again when asked for
    assert second.evicted


def test_wan_vae_runs_in_float32(tmp_path):
    pipe = tiny.build("wan").to(torch.bfloat16)
    backend = tiny.backend("wan", pipeline=pipe)
    art = backend.generate(GenerationRequest(prompt="a red ball", num_frames=5, extra={"format": "gif"}), tmp_path)[0]
    loaded = backend.load()
    assert art.meta["frames"] == 5 and loaded.pipe.vae.dtype == torch.float32
    assert loaded.dtype == torch.bfloat16  # the transformer keeps the model's dtype
    tiny.build("wan").save_pretrained(tmp_path / "wan")
    from_folder = tiny.backend("wan", repo=tmp_path / "wan")
    assert from_folder.components(torch.bfloat16)["vae"].dtype == torch.float32


def test_pull_fetches_bin_where_a_model_ships_only_bin(tmp_path, monkeypatch):
    """The sd-turbo ControlNets ship only diffusion_pytorch_model.bin: a *.safetensors-only pull
    fetched config.json alone, and find() then called the model present."""
    from fnmatch import fnmatch

    import huggingface_hub

    from local_models.models_cli import pull
    from local_models.specs import SPECS

    repo_files = {"thibaud/controlnet-sd21-canny-diffusers": ["config.json", "diffusion_pytorch_model.bin", "README.md"]}
    cache = tmp_path / "cache"

    def snapshot_download(repo, allow_patterns=None, local_files_only=False):
        folder = cache / repo.replace("/", "--")
        if local_files_only:
            if not folder.exists():
                raise OSError("not cached")
            return str(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in repo_files[repo]:
            if any(fnmatch(name, p) for p in allow_patterns):
                (folder / name).write_bytes(b"{}")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    from local_models.models_cli import Listing

    class Hub:  # the repo as huggingface_hub lists it
        def listing(self, repo):
            return Listing(repo, {f: 1 for f in repo_files[repo]})

        def download(self, repo, files):
            return Path(snapshot_download(repo, allow_patterns=files))

    spec = SPECS["sd21-controlnet-canny"]
    snapshot_download(spec.repo, allow_patterns=["*.json"])  # what the old pull left: config.json only
    assert find(spec) is None
    folder, = pull("sd21-controlnet-canny", with_aux=False, hub=Hub())
    assert (folder / "diffusion_pytorch_model.bin").is_file() and find(spec) == folder
    # a repo with safetensors gets only those; a variant's where it has them
    from local_models.weights import plan
    assert plan(spec, ["config.json", "a.safetensors", "a.bin"]) == ["a.safetensors", "config.json"]
    index = {"unet": ["diffusers", "UNet2DConditionModel"]}
    assert plan(SPECS["sdxl"], ["unet/x.fp16.safetensors", "unet/x.safetensors"], index)[-1] == "unet/x.fp16.safetensors"
    assert plan(SPECS["sdxl"], ["unet/x.safetensors"], index)[-1] == "unet/x.safetensors"


def test_a_folder_with_configs_but_no_weights_is_not_present(tmp_path, monkeypatch):
    from local_models.specs import SPECS

    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{}")
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text("{}")
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    monkeypatch.setenv("ATELIER_MODEL_SDXL", str(tmp_path))
    assert find(SPECS["sdxl"]) is None  # the UNet's weights are missing
    (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    assert find(SPECS["sdxl"]) == tmp_path
