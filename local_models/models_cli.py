"""`atelier models list` and `atelier models pull NAME`: what local models Atelier knows, which are on
this machine, and fetching one (with the weights that go with it) on a machine with internet."""
from __future__ import annotations

from pathlib import Path

from agent.core.errors import ConfigError
from local_models.specs import SPECS
from local_models.weights import allow_patterns, complete, env_var, find


def list_models() -> list[dict]:
    """One row per known model: name, kind, repo, present, path (no torch import, nothing downloaded)."""
    rows = []
    for spec in SPECS.values():
        path = find(spec)
        rows.append({"name": spec.name, "kind": spec.kind, "repo": spec.repo, "present": path is not None,
                     "path": str(path) if path else "", "env": env_var(spec.name)})
    return rows


def pull(name: str, with_aux: bool = True) -> list[Path]:
    """Download NAME (and, with `with_aux`, its refiner / ControlNets / IP-Adapter) into the Hugging
    Face cache, only the files a pipeline loads. Returns the local folders."""
    if name not in SPECS:
        raise ConfigError(f"unknown local model {name!r}; known: {', '.join(sorted(SPECS))}")
    from huggingface_hub import snapshot_download

    spec = SPECS[name]
    names = [name] + (list(spec.aux.values()) if with_aux else [])
    if with_aux and any(role.startswith("controlnet-depth") for role in spec.aux):
        names.append("depth-estimator")
    from huggingface_hub import list_repo_files

    folders = []
    for n in names:
        spec = SPECS[n]
        patterns = allow_patterns(spec, list_repo_files(spec.repo))  # .bin where there is no .safetensors
        folders.append(Path(snapshot_download(spec.repo, allow_patterns=patterns)))
        if not complete(folders[-1], spec):
            raise ConfigError(f"pulled {spec.repo} but found no weights in it ({', '.join(patterns)}); "
                              f"download it by hand and set {env_var(n)}=/path/to/it")
    return folders
