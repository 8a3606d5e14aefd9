"""`"provider:model"` strings → back ends. The module behind a prefix is imported only when used,
so `import agent` never pulls in torch. Plugins add prefixes with `register()`, the
`atelier.backends` entry-point group (name `KIND.PREFIX`, value `module:factory`), or the
`ATELIER_PLUGINS` environment variable: comma-separated `module` or `module:function` names, each
imported (and the function called) before the first back end is resolved, in every process that
resolves one (CLI, MCP server, batch workers, Ray workers)."""
from __future__ import annotations

import functools
import importlib
import os
import threading
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any, Iterator, Literal

from agent.core.errors import ConfigError

Kind = Literal["llm", "image", "video", "critic"]

# kind -> prefix -> "module:factory"; factory(model: str) -> back end
_REGISTRY: dict[str, dict[str, str]] = {
    "llm": {
        "anthropic": "agent.llm.anthropic:AnthropicLLM",
        "openai": "agent.llm.openai:OpenAILLM",
        "openai-compatible": "agent.llm.openai:OpenAICompatibleLLM",
        "scripted": "agent.llm.scripted:ScriptedLLM",
        "offline": "agent.llm.offline:OfflinePlanner",
    },
    "image": {
        "local": "local_models.catalog:load_image_backend",
        "openai": "agent.backends.remote.openai_images:OpenAIImages",
        "stability": "agent.backends.remote.stability:StabilityImages",
        "replicate": "agent.backends.remote.replicate:ReplicateImages",
    },
    "video": {
        "local": "local_models.catalog:load_video_backend",
        "replicate": "agent.backends.remote.replicate:ReplicateVideo",
        "runway": "agent.backends.remote.runway:RunwayVideo",
    },
    "critic": {
        "critic": "agent.critics:load_critic",
    },
}


def register(kind: Kind, prefix: str, target: str) -> None:
    """Add or replace a back end: `register("image", "myco", "my_pkg.backend:MyBackend")`."""
    _REGISTRY[kind][prefix] = target
    resolve.cache_clear()


def target(kind: Kind, prefix: str) -> str:
    """The "module:factory" behind a prefix (ConfigError when none is)."""
    _load_plugins()
    if prefix not in _REGISTRY[kind]:
        raise ConfigError(f"unknown {kind} back end prefix {prefix!r}; known prefixes: {', '.join(known(kind))}")
    return _REGISTRY[kind][prefix]


@contextmanager
def override(kind: Kind, prefix: str, target: str, **more: str) -> Iterator[None]:
    """Within the block, `prefix` (and each of `more`, prefix=target) resolves to `target`
    ("module:factory"); after it, what was there before (or nothing) again. Built back ends are
    dropped on entry and exit, so none made from an override outlives its block. For tests and
    embedders: `with registry.override("image", "test", "tests.fakes:FlatBackend"): ...`."""
    _load_plugins()
    wanted = {prefix: target, **more}
    table = _REGISTRY[kind]
    before = {p: table[p] for p in wanted if p in table}
    table.update(wanted)
    resolve.cache_clear()
    try:
        yield
    finally:
        for p in wanted:
            if p in before:
                table[p] = before[p]
            else:
                table.pop(p, None)
        resolve.cache_clear()


def split(spec: str) -> tuple[str, str]:
    spec = spec.strip()
    prefix, _, model = spec.partition(":")
    return prefix, model


def known(kind: Kind) -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY[kind])


@functools.cache
def _load_plugins() -> None:
    for ep in entry_points(group="atelier.backends"):
        kind, _, prefix = ep.name.partition(".")
        if kind in _REGISTRY:
            _REGISTRY[kind].setdefault(prefix, ep.value)
    for name in filter(None, (n.strip() for n in os.environ.get("ATELIER_PLUGINS", "").split(","))):
        module_name, _, function = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            if function:
                getattr(module, function)()
        except Exception as e:
            raise ConfigError(f"ATELIER_PLUGINS: cannot load {name!r}: {type(e).__name__}: {e}") from e


# One process-wide lock for importing back-end modules, building back ends and loading weights the
# first time: diffusers' (and transformers') lazy modules are not safe to import from two threads at
# once (a fresh MCP server's first burst got "cannot import name 'StableDiffusionPipeline'"), and a
# back end built twice would load its weights twice. Reentrant: a critic's constructor resolves its LLM.
_LOAD_LOCK = threading.RLock()
_BUILT: dict[tuple[str, str], Any] = {}
_MAX_BUILT = 32  # specs come from callers too; the oldest built is dropped past this many


@contextmanager
def loading():
    """Hold while importing a heavy library (diffusers, transformers) or loading weights for the
    first time, from any thread: one such load at a time per process. Take it inside a back end's
    own lock, not around it: what holds it never waits for a back end's lock."""
    with _LOAD_LOCK:
        yield


def resolve(kind: Kind, spec: str) -> Any:
    """The back end for `spec`, built once per process (pipelines stay loaded between requests),
    whatever the number of threads asking for it at once."""
    key = (kind, spec)
    built = _BUILT.get(key, _BUILT)  # the warm path takes no lock: a load elsewhere never stalls it
    if built is not _BUILT:
        return built
    with _LOAD_LOCK:
        if key not in _BUILT:
            backend = factory(kind, spec)(split(spec)[1])
            if kind == "critic":
                _check_critic(spec, backend)
            while len(_BUILT) >= _MAX_BUILT:
                _BUILT.pop(next(iter(_BUILT)))
            _BUILT[key] = backend
        return _BUILT[key]


def _check_critic(spec: str, backend: Any) -> None:
    """A plugin's critic declares what it judges (`Critic.kinds`); one that does not is refused in one
    line here, before any run or direct call leans on it."""
    from agent.core.protocols import Critic
    kinds = getattr(backend, "kinds", None)  # the declaration itself is what is checked here
    if not isinstance(backend, Critic) or not isinstance(kinds, (tuple, list)) or not kinds \
            or not set(kinds) <= {"image", "video"}:
        raise ConfigError(f"{spec} is not a critic: it needs name, kinds (what it judges: ('image',) or "
                          f"('image', 'video')) and critique() (agent.core.protocols.Critic)")


def _clear() -> None:
    with _LOAD_LOCK:
        _BUILT.clear()


resolve.cache_clear = _clear  # as with functools' caches: tests and register() start afresh


def factory(kind: Kind, spec: str) -> Any:
    """The class (or function) that builds `spec`'s back end, imported but not called: its declared
    capabilities (e.g. an LLM's `structured_output`) can be read without building it."""
    _load_plugins()
    prefix, model = split(spec)
    if prefix not in _REGISTRY[kind]:
        raise ConfigError(f"unknown {kind} back end {spec!r}; known prefixes: {', '.join(known(kind))}")
    module_name, _, attr = _REGISTRY[kind][prefix].partition(":")
    try:
        with _LOAD_LOCK:
            module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"{spec!r} needs a package that is not installed ({e.name}); "
                          f"install the extra that provides it, e.g. pip install 'atelier[local]'") from e
    return getattr(module, attr)


def structured_output(llm: str) -> bool:
    """Whether `llm` answers free-form structured questions (`LLM.structured_output`): read off its class
    without building it (no key is needed to ask); an LLM made by a factory function is built and asked."""
    built_by = factory("llm", llm)
    declared = getattr(built_by if isinstance(built_by, type) else resolve("llm", llm), "structured_output", None)
    if not isinstance(declared, bool):  # a plugin's: its abilities are declared, never guessed
        raise ConfigError(f"{llm} is not an LLM: it needs name, structured_output (True when structured() answers "
                          f"free-form questions, else False), complete() and structured() (agent.core.protocols.LLM)")
    return declared
