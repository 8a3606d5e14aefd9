"""Where a model's weights are on this machine: `ATELIER_MODEL_<NAME>` (a folder or a single
`.safetensors` file), the spec's repo when it is a path, or the Hugging Face cache. Never downloads:
`pull()` in models_cli does that, on a machine with internet."""
from __future__ import annotations

import os
from pathlib import Path

from agent.core.errors import ConfigError
from local_models.specs import ModelSpec


def env_var(name: str) -> str:
    return "ATELIER_MODEL_" + name.upper().replace("-", "_").replace(".", "_")


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")


# configs, tokenizers (vocab, merges, spiece.model) and their chat templates (Qwen-Image's chat_template.jinja)
TEXT_SUFFIXES = (".json", ".txt", ".model", ".jinja")


def components(model_index: dict | None) -> list[str]:
    """The subfolders a pipeline loads: the entries of its model_index.json that name a class (the
    ONNX / OpenVINO / Flax folders some repos also carry are not among them)."""
    return sorted(k for k, v in (model_index or {}).items()
                  if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and v[1])


def _weights(names: list[str], variant: str | None) -> list[str]:
    """Of one folder's files, the weights to fetch: safetensors where there are, else .bin; the
    variant's (e.g. fp16) where it has them, else the full-precision ones; one checkpoint."""
    for suffix in (".safetensors", ".bin"):
        pool = [n for n in names if n.endswith(suffix) or f"{suffix}.index" in n]
        if not pool:
            continue
        if variant:
            chosen = [n for n in pool if f".{variant}." in n or f".{variant}-" in n]
            if chosen:
                return chosen
        plain = [n for n in pool if not any(f".{v}." in n or f".{v}-" in n for v in ("fp16", "bf16", "fp32"))]
        return plain or pool
    return []


def _folder(repo_files: list[str], folder: str, variant: str | None) -> list[str]:
    """One folder's configs, tokenizer files and one precision's weights (not its subfolders)."""
    prefix = f"{folder}/" if folder else ""
    names = [f for f in repo_files if f.startswith(prefix) and "/" not in f[len(prefix):]]
    return [f for f in names if f.endswith(TEXT_SUFFIXES) and ".index" not in f] + _weights(names, variant)


def plan(spec: ModelSpec, repo_files: list[str], model_index: dict | None = None) -> list[str]:
    """The exact files of the repo a pipeline needs, given the repo's file list (and, for a pipeline,
    its model_index.json): configs, tokenizer files and one precision's weights of each component
    model_index.json names, and nothing of any other folder. An aux repo (a ControlNet, the depth
    model) is one model at its root; an IP-Adapter one weight file and its image encoder (one copy of
    its weights: h94/IP-Adapter ships the encoder as both model.safetensors and pytorch_model.bin)."""
    if "weight_name" in spec.options:
        sub = spec.options["subfolder"]
        weight = [f for f in repo_files if f == f"{sub}/{spec.options['weight_name']}"]
        return sorted(weight + _folder(repo_files, f"{sub}/image_encoder", spec.variant)) if weight else []
    folders = components(model_index) if model_index else [""]
    out = ["model_index.json"] if model_index else []
    for folder in folders:
        out += _folder(repo_files, folder, spec.variant)
    return sorted(set(out))


def complete(folder: Path, spec: ModelSpec | None = None) -> bool:
    """Whether `folder` holds weights, not only configs. A pipeline (a model_index.json) is complete when
    every component it names that has a model config has a weight file beside it; any other folder
    when each folder with a config.json has weights. A pull that fetched only the JSON files
    (weights in a format it did not ask for) is not a model."""
    if spec is not None and "weight_name" in spec.options:
        return (folder / spec.options["subfolder"] / spec.options["weight_name"]).is_file()
    index = folder / "model_index.json"
    if index.is_file():
        import json

        try:
            names = components(json.loads(index.read_text()))
        except (OSError, ValueError):
            return False
        dirs = [folder / n for n in names]
        if not all(d.is_dir() for d in dirs):
            return False
        models = [d for d in dirs if (d / "config.json").is_file()]
        return bool(models) and all(any(p.suffix in WEIGHT_SUFFIXES for p in d.iterdir()) for d in models)
    files = [p for p in folder.rglob("*") if p.is_file()]
    weighted = {p.parent for p in files if p.suffix in WEIGHT_SUFFIXES}
    configs = {p.parent for p in files if p.name == "config.json"}
    return bool(weighted) and configs <= weighted


def find(spec: ModelSpec) -> Path | None:
    """The folder or file holding `spec`'s weights, or None when they are not (all) on this machine."""
    given = os.environ.get(env_var(spec.name)) or (spec.repo if spec.repo.startswith(("/", ".")) else None)
    if given:
        path = Path(given).expanduser()
        if path.is_file():
            return path if path.suffix == ".safetensors" else None
        return path if path.is_dir() and complete(path, spec) else None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(spec.repo, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return folder if complete(folder, spec) else None


def locate(spec: ModelSpec) -> Path:
    path = find(spec)
    if path is None:
        where = os.environ.get(env_var(spec.name))
        raise ConfigError(
            f"model {spec.name} is not on this machine"
            + (f" ({env_var(spec.name)}={where} is not a folder or .safetensors file)" if where else "")
            + f": run `atelier models pull {spec.name}` on a machine with internet "
            f"(Hugging Face repo {spec.repo}), or set {env_var(spec.name)}=/path/to/weights")
    return path
