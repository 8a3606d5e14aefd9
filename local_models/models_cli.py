"""`atelier models list` and `atelier models pull NAME`: what local models Atelier knows, which are on
this machine, and fetching one (with the weights that go with it) on a machine with internet.
A pull fetches exactly the files `weights.plan` picks from the repo's listing and model_index.json;
`--dry-run` prints them with their sizes and fetches nothing."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.core.errors import ConfigError
from local_models.specs import SPECS
from local_models.weights import complete, env_var, find, plan

HUB_DEADLINE_S = 60.0  # one listing or config request; downloads report their own progress


def list_models() -> list[dict]:
    """One row per known model: name, kind, repo, present, path (no torch import, nothing downloaded)."""
    rows = []
    for spec in SPECS.values():
        path = find(spec)
        rows.append({"name": spec.name, "kind": spec.kind, "repo": spec.repo, "present": path is not None,
                     "path": str(path) if path else "", "env": env_var(spec.name)})
    return rows


@dataclass
class Listing:
    repo: str
    sizes: dict[str, int | None]  # path -> bytes; None where the hub (or a recorded listing) gives no size
    gated: bool = False


class Hub(Protocol):
    def listing(self, repo: str) -> Listing: ...
    def model_index(self, repo: str) -> dict | None: ...
    def download(self, repo: str, files: list[str]) -> Path: ...


def gated_error(repo: str) -> ConfigError:
    return ConfigError(f"{repo} is gated: accept its licence at https://huggingface.co/{repo} "
                       "(signed in), then set HF_TOKEN to a token of that account and pull again")


class HuggingFaceHub:
    """The Hugging Face Hub through huggingface_hub (HF_TOKEN from the environment, as it reads it)."""

    def _call(self, repo: str, fn):
        from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

        try:
            return fn()
        except GatedRepoError:
            raise gated_error(repo) from None
        except RepositoryNotFoundError:
            raise ConfigError(f"Hugging Face Hub: no repo {repo} (or it is gated and HF_TOKEN is unset: "
                              f"accept its licence at https://huggingface.co/{repo} and set HF_TOKEN)") from None
        except (HfHubHTTPError, OSError) as e:
            raise ConfigError(f"Hugging Face Hub: fetching {repo} failed: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from None

    def listing(self, repo: str) -> Listing:
        from huggingface_hub import HfApi

        info = self._call(repo, lambda: HfApi().model_info(repo, files_metadata=True, timeout=HUB_DEADLINE_S))
        return Listing(repo, {s.rfilename: s.size for s in info.siblings or []}, bool(info.gated))

    def model_index(self, repo: str) -> dict | None:
        from huggingface_hub import hf_hub_download

        path = self._call(repo, lambda: hf_hub_download(repo, "model_index.json", etag_timeout=HUB_DEADLINE_S))
        return json.loads(Path(path).read_text())

    def download(self, repo: str, files: list[str]) -> Path:
        from huggingface_hub import snapshot_download

        return Path(self._call(repo, lambda: snapshot_download(repo, allow_patterns=files,
                                                               etag_timeout=HUB_DEADLINE_S)))


def targets(name: str, only: list[str] | None = None, with_aux: bool = True) -> list[str]:
    """The models a pull of NAME fetches: NAME ("base") and the weights that go with it, by role
    (refiner, controlnet-canny, ip-adapter, ...); `only` picks roles, `with_aux=False` the base alone."""
    if name not in SPECS:
        raise ConfigError(f"unknown local model {name!r}; known: {', '.join(sorted(SPECS))}")
    spec = SPECS[name]
    roles = dict(spec.aux)
    if any(role.startswith("controlnet-depth") for role in roles):
        roles["depth-estimator"] = "depth-estimator"  # makes the depth maps
    known = ["base", *roles]
    for role in only or []:
        if role not in known:
            raise ConfigError(f"{name} has no {role!r} to pull; choose from {', '.join(known)}")
    chosen = only or (known if with_aux else ["base"])
    return [name if role == "base" else roles[role] for role in known if role in chosen]


def plans(names: list[str], hub: Hub) -> list[tuple[str, Listing, list[str]]]:
    """Each model's listing and the files a pull fetches of it (nothing downloaded)."""
    out = []
    for n in names:
        spec = SPECS[n]
        listing = hub.listing(spec.repo)
        index = hub.model_index(spec.repo) if "model_index.json" in listing.sizes else None
        files = plan(spec, list(listing.sizes), index)
        if not files:
            raise ConfigError(f"{spec.repo} has none of the files {n} needs; download it by hand and set "
                              f"{env_var(n)}=/path/to/it")
        out.append((n, listing, files))
    return out


def gib(size: int) -> str:
    if size >= 2**27:
        return f"{size / 2**30:.2f} GiB"
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB" if size >= 2**10 else f"{size} B"


def sized(sizes: list[int | None]) -> str:
    """The total of `sizes`; files of unknown size are counted, never guessed."""
    unknown = sum(s is None for s in sizes)
    known = gib(sum(s for s in sizes if s is not None))
    if not unknown:
        return known
    return f"{known} + {unknown} file{'s' if unknown > 1 else ''} of unknown size" if unknown < len(sizes) \
        else "size unknown"


def describe(planned: list[tuple[str, Listing, list[str]]]) -> list[str]:
    """`--dry-run`'s lines: each model, its repo, what is fetched and its size ("size unknown" where the
    listing gives none); then the total."""
    lines, every = [], []
    for n, listing, files in planned:
        sizes = [listing.sizes.get(f) for f in files]
        every += sizes
        gated = " (gated: accept the licence and set HF_TOKEN)" if listing.gated else ""
        lines.append(f"{n}: {listing.repo}{gated}: {len(files)} files, {sized(sizes)}")
        lines += [f"  {f}  {sized([s])}" for f, s in zip(files, sizes)]
    lines.append(f"total: {sized(every)}")
    return lines


def pull(name: str, with_aux: bool = True, only: list[str] | None = None, dry_run: bool = False,
         hub: Hub | None = None) -> list[Path] | list[str]:
    """Download NAME (and the weights that go with it) into the Hugging Face cache, only the files
    a pipeline loads. Returns the local folders, or with `dry_run` the lines describing the plan."""
    hub = hub or HuggingFaceHub()
    planned = plans(targets(name, only, with_aux), hub)
    if dry_run:
        return describe(planned)
    folders = []
    for n, listing, files in planned:
        folders.append(hub.download(listing.repo, files))
        if not complete(folders[-1], SPECS[n]):
            raise ConfigError(f"pulled {listing.repo} but found no weights in it ({len(files)} files); "
                              f"download it by hand and set {env_var(n)}=/path/to/it")
    return folders
