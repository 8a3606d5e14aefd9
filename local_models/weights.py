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


def allow_patterns(spec: ModelSpec, repo_files: list[str] | None = None) -> list[str]:
    """The files of the repo a pipeline needs (diffusers layout, one precision), not every checkpoint.
    Safetensors when the repo has them; `.bin` where it ships only those (the sd-turbo ControlNets
    do), which `repo_files` (the repo's file list) tells."""
    if "weight_name" in spec.options:
        sub = spec.options["subfolder"]
        return [f"{sub}/{spec.options['weight_name']}", f"{sub}/image_encoder/*"]
    pipeline = spec.kind != "aux" or spec.name.endswith("refiner")  # components in subfolders
    prefix = "*/" if pipeline else ""
    weights = f"{prefix}*.{spec.variant}*.safetensors" if spec.variant else f"{prefix}*.safetensors"
    if repo_files is not None:
        from fnmatch import fnmatch

        if spec.variant and not any(fnmatch(f, weights) for f in repo_files):
            weights = f"{prefix}*.safetensors"  # no file of that variant: the full-precision files
        if not any(fnmatch(f, weights) for f in repo_files):
            weights = f"{prefix}*.{spec.variant}*.bin" if spec.variant and any(
                fnmatch(f, f"{prefix}*.{spec.variant}*.bin") for f in repo_files) else f"{prefix}*.bin"
    return ["*.json", "*.txt", "*.model", "*tokenizer*", weights]


def complete(folder: Path, spec: ModelSpec | None = None) -> bool:
    """Whether `folder` holds weights, not only configs: every folder with a model `config.json`
    has a weight file beside it, and there is at least one. A pull that fetched only the JSON
    files (weights in a format it did not ask for) is not a model."""
    if spec is not None and "weight_name" in spec.options:
        return (folder / spec.options["subfolder"] / spec.options["weight_name"]).is_file()
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
