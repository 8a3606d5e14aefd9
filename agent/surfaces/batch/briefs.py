"""The brief file: a YAML or JSONL list of briefs, validated as a whole before anything runs. Every
problem is reported at once, with its entry and field; paths are resolved in the file's folder and
kept inside it (or a folder the operator allowed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Literal

import yaml
from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator)

from agent.core import limits
from agent.core.errors import InputError
from agent.core.image_settings import NAMES as IMAGE_SETTINGS
from agent.core.options import RunOptions
from agent.core.types import MAX_BRIEF_CHARS, Brief, Budget, SceneSpec, existing_files

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


# ---- the file -----------------------------------------------------------------------------------
class BriefEntry(BaseModel):
    """One entry of a brief file. Unknown fields are errors, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=ID_PATTERN, description="unique in the file; names the run folder")
    brief: str = Field(description="what to make")
    spec: SceneSpec | None = Field(None, description="what the image must contain, GenEval format")
    reference_images: list[Path] = Field(default_factory=list)
    mask: Path | None = None
    negative_prompt: str = ""
    style: str = ""
    # how to run it: the run options' fields and limits (agent.core.options); unset: the batch's defaults
    llm: str | None = RunOptions.field("llm", default=None)
    image_model: str | None = RunOptions.field("image_model", default=None)
    video_model: str | None = RunOptions.field("video_model")
    critic: str | None = RunOptions.field("critic", default=None)
    mode: Literal["agent", "loop"] | None = RunOptions.field("mode", default=None)
    budget: Budget | None = None
    max_iterations: int | None = RunOptions.field("max_iterations", default=None,
                                                  description="shorthand for budget.max_iterations")
    seed: int | None = RunOptions.field("seed")
    variants: int = RunOptions.field("candidates", validation_alias=AliasChoices("variants", "candidates"))
    rewrite: Literal["auto", "off"] = RunOptions.field("rewrite")  # no one is there to review a rewrite
    # the image settings (agent.core.image_settings), checked against the image model when the brief runs
    steps: int | None = RunOptions.field("steps")
    guidance: float | None = RunOptions.field("guidance")
    size: str | None = RunOptions.field("size")
    sampler: str | None = RunOptions.field("sampler")

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value):
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value  # YAML `id: 7`

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower().startswith("index.sqlite"):
            raise ValueError(f"{value!r} is reserved: it clashes with the run index's files (index.sqlite*)")
        return value

    @field_validator("reference_images", "mask", mode="before")
    @classmethod
    def _relative_to_file(cls, value, info: ValidationInfo):
        """Paths in the file are relative to the file's folder, and must stay inside it (links
        followed) or inside a folder the operator allowed (`atelier brief --files DIR`): a brief file
        may come from anyone, and must not make Atelier read the operator's other files."""
        context = info.context or {}
        base = context.get("base")
        if base is None or value is None:
            return value
        roots = [base, *context.get("files", ())]
        if isinstance(value, list):
            return [_inside(v, base, roots) if isinstance(v, str) else v for v in value]
        return _inside(value, base, roots) if isinstance(value, str) else value

    @field_validator("reference_images", "mask")
    @classmethod
    def _exists(cls, value):
        return existing_files(limits.items("reference_images", value) if isinstance(value, list) else value)

    @field_validator("brief")
    @classmethod
    def _text(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the brief is empty: say what to make")
        if len(text.strip()) > MAX_BRIEF_CHARS:
            raise ValueError(f"the brief is {len(text.strip())} characters long; the limit is {MAX_BRIEF_CHARS}")
        return text.strip()

    def run_options(self, defaults: dict[str, str] | None = None) -> RunOptions:
        """The entry's run options over the batch's `defaults`; ValidationError naming the field (a
        budget over the limits every surface has, e.g. budget.max_iterations 50, is refused here)."""
        chosen = self.model_dump(include={"llm", "image_model", "video_model", "critic", "mode", "seed", "rewrite",
                                          *IMAGE_SETTINGS},
                                 exclude_none=True)
        budget = self.budget.model_dump(include={"max_iterations", "max_seconds", "max_cost_usd"},
                                        exclude_none=True) if self.budget else {}
        if self.max_iterations is not None:
            budget["max_iterations"] = self.max_iterations
        return RunOptions.model_validate({**(defaults or {}), **chosen, **budget, "candidates": self.variants})

    def to_brief(self) -> Brief:
        return Brief(text=self.brief, spec=self.spec, reference_images=self.reference_images, mask=self.mask,
                     negative_prompt=self.negative_prompt, style=self.style,
                     **self.run_options().brief_fields(self.budget))


def _inside(name: str, base: Path, roots: list[Path]) -> Path:
    from agent.core.trust import contained
    path = Path(base) / Path(name).expanduser()  # an absolute path stays absolute, then must be inside
    try:
        return contained(path, roots, what="reference image")
    except InputError:
        if not path.exists():
            raise ValueError(f"reference image not found: {name}") from None
        raise ValueError(f"{name} is outside the brief file's folder; only files in that folder (or in a "
                         f"folder allowed with --files DIR) can be read") from None


class BriefFileError(InputError):
    """Every problem of a brief file, one per line."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        head = f"{path}: {len(problems)} problem{'s' * (len(problems) != 1)}"
        super().__init__(head + "".join(f"\n  {p}" for p in problems))


def read_entries(path: Path) -> list[Any]:
    """The raw entries of a YAML or JSONL file (a list; YAML may also be `{briefs: [...]}`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"brief file not found: {path}")
    try:
        limits.file_size("the file", path.stat().st_size)
    except ValueError as e:
        raise BriefFileError(path, [str(e)]) from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BriefFileError(path, ["not a text file: a brief file is YAML or JSONL"]) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise BriefFileError(path, ["the file is empty: give a list of briefs, each with an id and a brief"])
    if path.suffix.lower() in (".jsonl", ".ndjson") or (path.suffix.lower() not in (".yaml", ".yml")
                                                         and lines[0][1].lstrip().startswith("{")):
        entries, problems = [], []
        for n, line in lines:
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: not JSON ({e.msg} at column {e.colno}); "
                                f"a JSONL file has one JSON object per line")
        if problems:
            raise BriefFileError(path, problems)
        return entries
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BriefFileError(path, [f"neither YAML nor JSONL: {problem}{at}"]) from None
    if isinstance(data, dict) and set(data) == {"briefs"}:
        data = data["briefs"]
    if not isinstance(data, list):
        kind = type(data).__name__.replace("str", "a line of text").replace("dict", "a mapping")
        raise BriefFileError(path, [f"expected a list of briefs (YAML list or JSONL lines), got {kind}"])
    return data


def load_briefs(path: Path | str, defaults: dict[str, str] | None = None,
                files: Iterable[Path | str] = ()) -> list[BriefEntry]:
    """Read and validate a whole brief file; raise BriefFileError listing every problem with its
    entry and field (`entry 3 (id 'x'), field 'spec.include.0.count': ...`). Its reference images
    and masks must lie in its folder or in one of `files` (the operator's --files folders)."""
    path = Path(path).expanduser().resolve()
    raw = read_entries(path)
    if len(raw) > limits.BRIEF_FILE_ENTRIES:
        raise BriefFileError(path, [f"the file holds {len(raw):,} briefs; the limit is {limits.BRIEF_FILE_ENTRIES:,}"])
    context = {"base": path.parent, "files": [Path(f).expanduser().resolve() for f in files]}
    entries, problems, seen = [], [], {}
    for n, item in enumerate(raw, 1):
        ident = item.get("id") if isinstance(item, dict) else None
        where = f"entry {n}" + (f" (id {str(ident)!r})" if isinstance(ident, (str, int)) and ident is not True and ident is not False else "")
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with 'id' and 'brief', got {type(item).__name__}")
            continue
        try:
            entry = BriefEntry.model_validate(item, context=context)
        except ValidationError as e:
            problems.extend(_field_problems(where, e))
            continue
        try:
            entry.to_brief()
        except ValidationError as e:
            problems.extend(_field_problems(where, e, rename={"text": "brief", "candidates": "variants"}))
            continue
        if entry.id in seen:
            problems.append(f"{where}, field 'id': duplicate of entry {seen[entry.id]}")
            continue
        seen[entry.id] = n
        problems.extend(f"{where}, field '{field}': {msg}" for field, msg in _backend_problems(entry, defaults or {}))
        entries.append(entry)
    if problems:
        raise BriefFileError(path, problems)
    if not entries:
        raise BriefFileError(path, ["the file holds no briefs"])
    return entries


def _field_problems(where: str, error: ValidationError, rename: dict[str, str] | None = None) -> list[str]:
    out = []
    for err in error.errors():
        loc = [str(x) for x in err["loc"]]
        if loc and rename and loc[0] in rename:
            loc[0] = rename[loc[0]]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field" + (" (fields: " + ", ".join(sorted(_FIELDS)) + ")" if len(loc) == 1 else "")
        elif err["type"] == "string_pattern_mismatch" and loc == ["id"]:
            msg = "must be letters, digits, '.', '_' or '-' (it names a folder), at most 128 characters"
        out.append(f"{where}, field '{'.'.join(loc)}': {msg}" if loc else f"{where}: {msg}")
    return out


_FIELDS = {name for name in BriefEntry.model_fields}


def _backend_problems(entry: BriefEntry, defaults: dict[str, str]) -> Iterable[tuple[str, str]]:
    """Unknown back ends, found without importing or loading any of them."""
    from agent.core import registry
    from agent.core.errors import ConfigError
    from agent.core.trust import TrustPolicy, check_untrusted_spec
    policy = TrustPolicy.from_env(defaults.values())  # a brief file may come from anyone; the CLI is the operator
    for field, kind in (("llm", "llm"), ("image_model", "image"), ("critic", "critic"), ("video_model", "video")):
        spec = getattr(entry, field) or defaults.get(field)
        if not spec:
            continue
        try:
            check_untrusted_spec(kind, getattr(entry, field), policy)
        except ConfigError as e:
            yield field, str(e)
            continue
        prefix, name = registry.split(spec)
        if prefix not in registry.known(kind):
            yield field, f"unknown {kind} back end {spec!r}; known prefixes: {', '.join(registry.known(kind))}"
        elif kind == "image" and prefix == "local" and registry.target("image", "local").startswith("local_models."):
            from local_models.catalog import IMAGE_MODELS
            if name not in IMAGE_MODELS:
                yield field, f"unknown local image model {name!r}; known: {', '.join(sorted(IMAGE_MODELS))}"
        elif kind == "critic" and prefix == "critic":
            from agent.critics import CRITICS
            for part in spec.split("+"):
                base = part.strip().removeprefix("critic:").partition("@")[0]
                if base not in CRITICS:
                    yield field, f"unknown critic {base!r}; known: {', '.join(sorted(CRITICS))}"
