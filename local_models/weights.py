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


def allow_patterns(spec: ModelSpec) -> list[str]:
    """The files of the repo a pipeline needs (diffusers layout, one precision), not every checkpoint."""
    if "weight_name" in spec.options:
        sub = spec.options["subfolder"]
        return [f"{sub}/{spec.options['weight_name']}", f"{sub}/image_encoder/*"]
    weights = f"*.{spec.variant}*.safetensors" if spec.variant else "*.safetensors"
    pipeline = spec.kind != "aux" or spec.name.endswith("refiner")  # components in subfolders
    return ["*.json", "*.txt", "*.model", "*tokenizer*", ("*/" if pipeline else "") + weights]


def find(spec: ModelSpec) -> Path | None:
    """The folder or file holding `spec`'s weights, or None when they are not on this machine."""
    given = os.environ.get(env_var(spec.name)) or (spec.repo if spec.repo.startswith(("/", ".")) else None)
    if given:
        path = Path(given).expanduser()
        return path if path.is_dir() or (path.is_file() and path.suffix == ".safetensors") else None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(spec.repo, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return folder if any(folder.iterdir()) else None


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
