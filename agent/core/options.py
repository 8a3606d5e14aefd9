"""How to run a brief, in one typed model: `RunOptions`. Every surface (the Python API, the CLI's
`run` and `brief`, brief file entries, the chat UI's settings and API, the MCP tools, the HTTP run
API and the Images API's `atelier` extension) builds one, or derives its flags, JSON schema or
widget limits from its fields, so a value means the same and has the same limit everywhere, and a
bad one gets the same one-line error ("bad run options: max_iterations: Input should be less than
or equal to 20"). `RunRecord.options` keeps the options a run was started with, as dumped here.

What the brief itself says (its text, spec, reference images, negative prompt, style) is the
`Brief`'s, not an option."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

from agent.core import limits
from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import InputError, one_line
from agent.core import image_settings
from agent.core.image_settings import NAMES as IMAGE_SETTINGS, ImageSettings

# The limits a caller may ask for, on every surface. A run's record may hold more rounds than this
# (Budget's own limit): each edit of a finished run adds one.
MAX_ITERATIONS = 20
MAX_SECONDS = 24 * 3600.0
MAX_COST_USD = 10_000.0
MAX_CANDIDATES = 8
SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1, what a torch generator takes

BACKENDS = ("llm", "image_model", "critic", "video_model")  # the fields that name a back end
BUDGET = ("max_iterations", "max_seconds", "max_cost_usd")  # the fields that go into a Budget
WHAT = "run options"  # how the one-line error names the model


class RunOptions(BaseModel):
    """The back ends, budget and behaviour of one run."""

    model_config = ConfigDict(extra="forbid")
    llm: str = Field(DEFAULT_LLM, description="director: offline, anthropic:MODEL, openai:MODEL, "
                     "openai-compatible:MODEL@URL, scripted:FILE")
    image_model: str = Field(DEFAULT_IMAGE_MODEL, description="image back end: local:NAME (atelier models list), "
                             "openai:MODEL, stability:MODEL, replicate:OWNER/MODEL")
    critic: str = Field(DEFAULT_CRITIC, description="critic:detector, critic:vlm, or a+b")
    video_model: str | None = Field(None, description="video back end, e.g. local:shapes-video (embedded): "
                                    "a brief about motion becomes a clip")
    video_format: Literal["mp4", "gif"] | None = Field(None, description="mp4 or gif (default: the video "
                                                       "model's, mp4 for local:shapes-video)")
    mode: Literal["agent", "loop"] = Field("agent", description="agent (the director picks tools) or loop "
                                           "(a fixed cycle)")
    edits: bool = Field(True, description="repair regions by edits; off: only regenerate")
    max_iterations: int = Field(4, ge=1, le=MAX_ITERATIONS, description="rounds of generate-and-critique at most")
    max_seconds: float | None = Field(None, gt=0, le=MAX_SECONDS, description="wall-clock budget in seconds; "
                                      "the run stops after the step that spends it")
    max_cost_usd: float | None = Field(None, ge=0, le=MAX_COST_USD, description="money budget, US dollars "
                                       "(paid back ends and LLM tokens; 0: free back ends only)")
    candidates: int = Field(1, ge=1, le=MAX_CANDIDATES, description="images per round")
    seed: int | None = Field(None, ge=0, lt=SEED_LIMIT, description="the first attempt's seed (later ones "
                             "follow from it); recorded, so a run can be reproduced (default: random)")
    rewrite: Literal["auto", "review", "off"] = Field("auto", description="auto (use the refined prompt), "
                                                      "review (confirm or edit it first) or off (the brief verbatim)")
    # the image settings (agent.core.image_settings: their one definition), checked against the image model
    # when a run starts; a run's record holds the values it used (the model's defaults where none was set)
    steps: int | None = limits.field_of(ImageSettings, "steps")
    guidance: float | None = limits.field_of(ImageSettings, "guidance")
    size: str | None = limits.field_of(ImageSettings, "size")
    sampler: str | None = limits.field_of(ImageSettings, "sampler")

    _image_settings = field_validator("size", "sampler")(image_settings.checked)

    @field_validator(*BACKENDS)
    @classmethod
    def _spec(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty: name a back end (provider:model) or leave it out for the default")
        return limits.text("model", value.strip() if value is not None else None)

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def parse(cls, values: dict[str, Any] | None = None, **more) -> "RunOptions":
        """RunOptions from a caller's values, `more` over `values` (None: not given, so the value under
        it or the default), or InputError with one line naming each bad field. `budget` may be given
        as a dict or a Budget (the Python API's `budget={...}`): its counts sit under the same layer's
        keywords (`max_iterations=10` over `budget={"max_iterations": 5}`); `settings` likewise (a
        Brief's ImageSettings or its dict) under `steps=...`."""
        from agent.core.types import Budget

        data: dict[str, Any] = {}
        for layer in (values or {}, more):
            budget = budget_counts(layer.get("budget"))
            extra = sorted(set(budget) - set(Budget.model_fields))
            if extra:
                raise InputError(f"bad {WHAT}: budget.{extra[0]}: not a budget (one of {', '.join(BUDGET)})")
            data.update({k: v for k, v in budget.items() if k in BUDGET and v is not None})
            settings = layer.get("settings")  # a Brief's image settings (ImageSettings or its dict)
            settings = settings.model_dump() if isinstance(settings, BaseModel) else dict(settings or {})
            data.update({k: v for k, v in settings.items() if v is not None})
            data.update({k: v for k, v in layer.items() if k not in ("budget", "settings") and v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise InputError(one_line(e, WHAT)) from None

    @classmethod
    def field(cls, name: str, **overrides) -> FieldInfo:
        """The field's definition (limits, description), for a surface's own model or tool signature:
        `Annotated[int, RunOptions.field("max_iterations")]`; `overrides` e.g. default=None."""
        return limits.field_of(cls, name, **overrides)

    @classmethod
    def limits(cls, name: str, **overrides) -> FieldInfo:
        """The field's limits and description without its default, for a function's parameter:
        `max_iterations: Annotated[int, RunOptions.limits("max_iterations")] = 4` (MCP tools)."""
        return limits.field_of(cls, name, **{**overrides, "default": ...})

    @classmethod
    def default(cls, name: str):
        return cls.model_fields[name].default

    @classmethod
    def help(cls, name: str) -> str:
        """The field's description with its limits, for a flag's help text."""
        info = cls.model_fields[name]
        bounds = limits.bounds(cls, name)
        low = next((f"{'≥' if k == 'ge' else '>'} {bounds[k]:g}" for k in ("ge", "gt") if k in bounds), "")
        high = next((f"{'≤' if k == 'le' else '<'} {bounds[k]}" for k in ("le", "lt") if k in bounds), "")
        limits_text = ", ".join(x for x in (low, high) if x)
        return f"{info.description} ({limits_text})" if limits_text else str(info.description)

    # ---- what each part of a run takes -----------------------------------------------------------
    def budget(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in BUDGET}

    def brief_fields(self, budget: BaseModel | dict[str, Any] | None = None) -> dict[str, Any]:
        """What a `Brief` takes from the options; a caller's `budget` (a Budget or a dict) keeps the counts
        the options do not name (max_generations, max_denoiser_steps), the options' own over it."""
        return {"budget": {**budget_counts(budget), **self.budget()}, "seed": self.seed,
                "candidates": self.candidates, "rewrite": self.rewrite, "settings": self.image_settings()}

    def image_settings(self) -> ImageSettings:
        """The image settings the caller set (steps, guidance, size, sampler; None: the model's)."""
        return ImageSettings(**{k: getattr(self, k) for k in IMAGE_SETTINGS})

    def studio_fields(self) -> dict[str, Any]:
        """What a `Studio` takes from the options."""
        return {k: getattr(self, k) for k in (*BACKENDS, "video_format", "mode", "edits")}


def budget_counts(budget: BaseModel | dict[str, Any] | None) -> dict[str, Any]:
    """A Budget, or a dict of its counts, as a dict (None: empty)."""
    if budget is None:
        return {}
    return budget.model_dump() if isinstance(budget, BaseModel) else dict(budget)
