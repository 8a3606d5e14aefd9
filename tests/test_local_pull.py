"""`atelier models pull` against recorded listings of the real Hugging Face repos (tests/fixtures/hub:
paths and sizes as the repos' file trees show them, model_index.json as they ship it): exactly the
files a pipeline loads are fetched (no ONNX / OpenVINO / Flax folders, no single-file checkpoints,
one precision), the folder they make is complete, gated repos say how to get in, `--dry-run` prints
the plan and its size, `--no-extras` / `--only` choose the weights that go with a model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.core.errors import ConfigError
from local_models import models_cli
from local_models.models_cli import Listing, pull
from local_models.specs import SPECS
from local_models.weights import complete

FIXTURES = Path(__file__).parent / "fixtures" / "hub"


class RecordedHub:
    """The hub as the recorded listings show it; a download writes the asked files (a few bytes each)."""

    def __init__(self, root: Path, token: bool = False):
        self.root, self.token, self.downloads = root, token, []
        self.repos = {d["repo"]: d for d in (json.loads(p.read_text()) for p in FIXTURES.glob("*.json"))}

    def listing(self, repo):
        if repo not in self.repos:
            raise ConfigError(f"no recorded listing of {repo}")
        d = self.repos[repo]
        return Listing(repo, d["files"], d["gated"])

    def model_index(self, repo):
        return self.repos[repo]["model_index"]

    def download(self, repo, files):
        if self.repos[repo]["gated"] and not self.token:
            raise models_cli.gated_error(repo)
        self.downloads.append((repo, files))
        folder = self.root / repo.replace("/", "--")
        for f in files:
            (folder / f).parent.mkdir(parents=True, exist_ok=True)
            (folder / f).write_text(json.dumps(self.model_index(repo)) if f == "model_index.json" else "{}")
        return folder


def planned(name, hub):
    return {n: files for n, _, files in models_cli.plans([name], hub)}[name]


def test_sdxl_fetches_the_named_components_in_fp16_only(tmp_path):
    files = planned("sdxl", RecordedHub(tmp_path))
    folders = {f.split("/")[0] for f in files if "/" in f}
    assert folders == {"scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "vae"}
    weights = [f for f in files if f.endswith(".safetensors")]
    assert all(".fp16." in f for f in weights) and len(weights) == 4
    assert not any(f.endswith((".onnx", ".onnx_data", ".xml", ".msgpack", ".bin")) for f in files)
    assert "sd_xl_base_1.0.safetensors" not in files  # the single-file checkpoint: a second copy


def test_sdxl_as_the_old_patterns_fetched_it_is_complete_now(tmp_path):
    """Every *.json and the fp16 weights: vae_decoder/ and vae_encoder/ (ONNX / OpenVINO, not named by
    model_index.json) came as configs without weights, and complete() said "found no weights"."""
    from fnmatch import fnmatch

    d = json.loads((FIXTURES / "sdxl.json").read_text())
    for f in d["files"]:
        if any(fnmatch(f, p) for p in ("*.json", "*.txt", "*.model", "*tokenizer*", "*/*.fp16*.safetensors")):
            (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / f).write_text(json.dumps(d["model_index"]) if f == "model_index.json" else "{}")
    assert (tmp_path / "vae_decoder" / "config.json").is_file()
    assert complete(tmp_path, SPECS["sdxl"])
    (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").unlink()  # a named component without weights
    assert not complete(tmp_path, SPECS["sdxl"])


@pytest.mark.parametrize("name", ["sdxl", "sd15", "cogvideox-2b", "flux-dev", "sd3-medium", "flux-schnell", "sdxl-turbo",
                                  "instruct-pix2pix", "sdxl-refiner", "qwen-image", "svd-xt", "svd", "depth-estimator",
                                  "sdxl-controlnet-depth", "sd15-ip-adapter", "sd21-controlnet-depth", "sd-turbo"])
def test_a_pull_makes_a_complete_folder(tmp_path, name):
    hub = RecordedHub(tmp_path, token=True)
    folder, = pull(name, with_aux=False, hub=hub)
    assert complete(folder, SPECS[name])
    fetched = hub.downloads[0][1]
    if name == "cogvideox-2b":
        assert "tokenizer/spiece.model" in fetched  # the only tokenizer file it ships
    if name == "sd15":
        assert "safety_checker/model.fp16.safetensors" in fetched and "feature_extractor/preprocessor_config.json" in fetched
    if name == "flux-schnell":  # three transformer shards and their index; not the single-file checkpoints
        assert [f for f in fetched if f.startswith("transformer/")][-1] == \
            "transformer/diffusion_pytorch_model.safetensors.index.json"
        assert "flux1-schnell.safetensors" not in fetched and "ae.safetensors" not in fetched
    if name in ("sdxl-turbo", "instruct-pix2pix", "sd-turbo"):  # the fp16 copies the repo ships, not twice the bytes
        weights = [f for f in fetched if f.endswith(".safetensors")]
        assert weights and all(".fp16." in f for f in weights)
        assert not any(f.startswith(("vae_decoder/", "vae_encoder/")) or f.endswith(".onnx") for f in fetched)
    if name == "sdxl-refiner":  # the one text encoder it has, and the VAE model_index names (not vae_1_0/)
        assert "text_encoder_2/model.fp16.safetensors" in fetched and not any(f.startswith("vae_1_0/") for f in fetched)
        assert not any(f.startswith(("text_encoder/", "tokenizer/")) for f in fetched)
    if name == "qwen-image":  # 9 transformer and 4 text-encoder shards, each with its index; the chat template
        assert len([f for f in fetched if f.startswith("transformer/diffusion_pytorch_model-")]) == 9
        assert len([f for f in fetched if f.startswith("text_encoder/model-")]) == 4
        assert "tokenizer/chat_template.jinja" in fetched
    if name in ("svd-xt", "svd"):  # the fp16 UNet, VAE and image encoder; not the single-file svd*.safetensors
        assert [f for f in fetched if f.endswith(".safetensors")] == [
            "image_encoder/model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
            "vae/diffusion_pytorch_model.fp16.safetensors"]
    if name == "depth-estimator":  # a transformers model at the repo's root
        assert fetched == ["config.json", "model.safetensors", "preprocessor_config.json"]
    if name == "sdxl-controlnet-depth":  # the full-precision safetensors the loader reads; no .bin, no example image
        assert fetched == ["config.json", "diffusion_pytorch_model.safetensors"]
    if name == "sd21-controlnet-depth":  # it ships only a pickled .bin (fp16 tensors): that is what there is to fetch
        assert fetched == ["config.json", "diffusion_pytorch_model.bin"]
    if name == "sd15-ip-adapter":  # the adapter and ONE copy of its image encoder (the repo also has pytorch_model.bin)
        assert fetched == ["models/image_encoder/config.json", "models/image_encoder/model.safetensors",
                           "models/ip-adapter_sd15.safetensors"]
    if name == "sd3-medium":  # sharded T5 weights: both shards and the index, one precision
        assert [f for f in fetched if f.startswith("text_encoder_3/model")] == [
            "text_encoder_3/model-00001-of-00002.safetensors", "text_encoder_3/model-00002-of-00002.safetensors",
            "text_encoder_3/model.safetensors.index.json"]


@pytest.mark.parametrize("name", ["flux-dev", "sd3-medium", "flux-schnell"])
def test_a_gated_repo_says_how_to_get_in(tmp_path, name):
    with pytest.raises(ConfigError) as caught:
        pull(name, with_aux=False, hub=RecordedHub(tmp_path))
    message = str(caught.value)
    assert f"accept its licence at https://huggingface.co/{SPECS[name].repo}" in message and "HF_TOKEN" in message
    assert "\n" not in message


def test_the_hub_clients_gated_error_is_one_line():
    import httpx
    from huggingface_hub.errors import GatedRepoError

    response = httpx.Response(401, request=httpx.Request("GET", "https://huggingface.co/api/models/x"))

    def gated():
        raise GatedRepoError("401 Client Error. Cannot access gated repo", response=response)

    with pytest.raises(ConfigError, match=r"^black-forest-labs/FLUX.1-dev is gated: accept its licence at "
                                          r"https://huggingface.co/black-forest-labs/FLUX.1-dev"):
        models_cli.HuggingFaceHub()._call("black-forest-labs/FLUX.1-dev", gated)


def test_extras_are_chosen():
    assert models_cli.targets("sdxl", with_aux=False) == ["sdxl"]
    assert models_cli.targets("sdxl", only=["base", "controlnet-canny"]) == ["sdxl", "sdxl-controlnet-canny"]
    assert "sdxl-refiner" in models_cli.targets("sdxl") and "depth-estimator" in models_cli.targets("sdxl")
    with pytest.raises(ConfigError, match="sdxl has no 'controlnet-pose' to pull; choose from base, refiner"):
        models_cli.targets("sdxl", only=["controlnet-pose"])


def test_dry_run_prints_the_plan_and_its_size(tmp_path, monkeypatch):
    from agent.surfaces.cli import app

    hub = RecordedHub(tmp_path)
    monkeypatch.setattr(models_cli, "HuggingFaceHub", lambda: hub)
    result = CliRunner().invoke(app, ["models", "pull", "--dry-run", "sdxl", "--only", "base",
                                      "--only", "controlnet-canny"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # SDXL base's listing has the pages' rounded figures only (kept in 'shown'): its weights' sizes are unknown
    assert lines[0] == "sdxl: stabilityai/stable-diffusion-xl-base-1.0: 18 files, 5.1 KiB + 9 files of unknown size"
    assert "  unet/diffusion_pytorch_model.fp16.safetensors  size unknown" in lines
    assert any(line.startswith("sdxl-controlnet-canny: diffusers/controlnet-canny-sdxl-1.0: 2 files") for line in lines)
    assert lines[-1].startswith("total: ") and hub.downloads == []
    exact = CliRunner().invoke(app, ["models", "pull", "--dry-run", "sdxl-turbo"]).output.splitlines()
    assert exact[0] == "sdxl-turbo: stabilityai/sdxl-turbo: 18 files, 6.46 GiB"  # LFS-pointer sizes, to the byte
    assert "  unet/diffusion_pytorch_model.fp16.safetensors  4.78 GiB" in exact and exact[-1] == "total: 6.46 GiB"
    gated = CliRunner().invoke(app, ["models", "pull", "--dry-run", "flux-dev"])
    assert gated.exit_code == 0 and "(gated: accept the licence and set HF_TOKEN)" in gated.output
    failed = CliRunner().invoke(app, ["models", "pull", "flux-dev", "--no-extras"])
    assert failed.exit_code != 0 and "accept its licence at https://huggingface.co/black-forest-labs/FLUX.1-dev" \
        in failed.output and "Traceback" not in failed.output


DERIVED = {d["repo"]: d for d in (json.loads(p.read_text()) for p in FIXTURES.glob("derived-*.json"))}


@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.repo in DERIVED])
def test_a_newer_model_pulls_the_components_its_pipeline_names(tmp_path, name):
    """On the DERIVED layouts (tests/fixtures/hub/derive_layouts.py: diffusers' save_pretrained layout of
    each pipeline class, not recorded listings): every component model_index.json names is fetched, with
    its weights, and none it leaves empty (Wan 2.2 I2V A14B has no image encoder); gated repos say so."""
    d = DERIVED[SPECS[name].repo]
    if d["gated"]:
        with pytest.raises(ConfigError, match="HF_TOKEN"):
            pull(name, with_aux=False, hub=RecordedHub(tmp_path))
    hub = RecordedHub(tmp_path, token=True)
    folder, = pull(name, with_aux=False, hub=hub)
    assert complete(folder, SPECS[name])
    named = {k for k, v in d["model_index"].items() if isinstance(v, list) and v[1]}
    assert {f.split("/")[0] for f in hub.downloads[0][1] if "/" in f} == named
    if name.startswith("wan2.2"):  # both experts
        assert {"transformer", "transformer_2"} <= named
    if name == "wan2.2-i2v":
        assert "image_encoder" not in named and d["model_index"]["image_encoder"] == [None, None]


@pytest.mark.slow
def test_the_derived_layouts_are_what_the_pipelines_save_now():
    """Stale derived listings would test a layout no pipeline makes: each is written again and compared
    (the diffusers version it was written with aside)."""
    from tests.fixtures.hub import derive_layouts

    for name in derive_layouts.DERIVED:
        fresh, kept = derive_layouts.layout(name), json.loads((FIXTURES / f"derived-{name}.json").read_text())
        for d in (fresh, kept):
            d["model_index"].pop("_diffusers_version")
        assert fresh == kept, name


LISTINGS = {d["repo"]: d for d in (json.loads(p.read_text()) for p in FIXTURES.glob("*.json"))}
# repos with no listing here, and what a search of public copies found of each (none is a full listing with sizes)
UNRECORDED = {
    "lllyasviel/control_v11p_sd15_canny": "the stored tree pages stop after diffusion_pytorch_model.fp16.safetensors",
    "lllyasviel/control_v11f1p_sd15_depth": "the stored tree pages stop after diffusion_pytorch_model.fp16.safetensors",
    "thibaud/controlnet-sd21-canny-diffusers": "only tree pages of its first two commits (README only) were found, "
                                               "none after its weights were uploaded",
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": "only its transformer/, text_encoder/ and scheduler/ tree pages were found "
                                        "(and a duplicate's tokenizer/): not its root, vae/ nor model_index.json",
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_dry_run_prints_what_every_known_model_would_fetch(tmp_path, monkeypatch, name):
    """`atelier models pull --dry-run NAME --no-extras` for every known model: its repo (gated or not), each file
    a pull would fetch with its size ("size unknown" where the listing has none), and the total; nothing
    downloaded. A model whose repo has no recorded or derived listing here is skipped, not passed, naming what
    is missing (this machine cannot reach the hub)."""
    from agent.surfaces.cli import app

    spec = SPECS[name]
    if spec.repo not in LISTINGS:
        pytest.skip(f"no recorded listing of {spec.repo}: {UNRECORDED.get(spec.repo, 'not searched for')}")
    listing = LISTINGS[spec.repo]
    part = listing.get("recorded_only")  # a listing of part of a repo: a model outside that part is not tested
    if part and not any(p.startswith(f"{spec.options.get('subfolder')}/") for p in part):
        pytest.skip(f"the listing of {spec.repo} records only {', '.join(part)}, not {spec.options['subfolder']}/")
    hub = RecordedHub(tmp_path)
    monkeypatch.setattr(models_cli, "HuggingFaceHub", lambda: hub)
    result = CliRunner().invoke(app, ["models", "pull", "--dry-run", "--no-extras", name])
    assert result.exit_code == 0, result.output
    head, *files, total = result.output.splitlines()
    want = planned(name, RecordedHub(tmp_path))
    gated = " (gated: accept the licence and set HF_TOKEN)" if listing["gated"] else ""
    sizes = [listing["files"][f] for f in want]
    assert head == f"{name}: {spec.repo}{gated}: {len(want)} files, {models_cli.sized(sizes)}"
    assert files == [f"  {f}  {models_cli.sized([s])}" for f, s in zip(want, sizes)] and hub.downloads == []
    assert total == f"total: {models_cli.sized(sizes)}"
    if "derived" not in listing and "shown" not in listing:  # recorded with exact sizes: every file fetched has one
        assert all(s and s > 0 for s in sizes)


def test_a_file_the_listing_gives_no_size_prints_size_unknown(tmp_path, monkeypatch):
    """SVD's listing, recorded from the hub's file pages, has exact bytes for the configs only (the pages round the
    weights to 3.05 GB and so on): the dry run adds what it knows and counts the rest, never a guessed number."""
    from agent.surfaces.cli import app

    monkeypatch.setattr(models_cli, "HuggingFaceHub", lambda: RecordedHub(tmp_path))
    lines = CliRunner().invoke(app, ["models", "pull", "--dry-run", "svd"]).output.splitlines()
    assert lines[0] == "svd: stabilityai/stable-video-diffusion-img2vid: 9 files, 3.7 KiB + 3 files of unknown size"
    assert "  unet/diffusion_pytorch_model.fp16.safetensors  size unknown" in lines
    assert "  model_index.json  498 B" in lines
    assert lines[-1] == "total: 3.7 KiB + 3 files of unknown size"


def test_the_hubs_missing_size_stays_unknown(monkeypatch):
    """The hub's file metadata can lack a size: it stays None (was 0, printed as 0.0 MiB)."""
    from types import SimpleNamespace as NS

    import huggingface_hub

    info = NS(siblings=[NS(rfilename="config.json", size=None), NS(rfilename="model.safetensors", size=99173660)],
              gated=False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, repo, **kw: info)
    listing = models_cli.HuggingFaceHub().listing("depth-anything/Depth-Anything-V2-Small-hf")
    assert listing.sizes == {"config.json": None, "model.safetensors": 99173660}
    assert models_cli.sized(list(listing.sizes.values())) == "94.6 MiB + 1 file of unknown size"
