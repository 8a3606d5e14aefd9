"""The Python API: `Studio(...).run(brief) -> Result`, its async twin, a stream of events, and the
steering calls the UI uses (resume, iterate on an attempt, stop)."""
from __future__ import annotations

import asyncio
import queue
import secrets
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import ValidationError

from agent.core import registry
from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.plans import LayoutPolicy, wants_clip
from agent.core.protocols import check_ready
from agent.run.context import Review, RunContext
from agent.run.director import Director
from agent.core.errors import InputError, one_line
from agent.core.image_settings import NAMES as IMAGE_SETTINGS
from agent.core.options import RunOptions
from agent.core.records import RunStore
from agent.core.requirements import self_contradiction
from agent.core.types import Attempt, Brief, Event, RunRecord, SceneSpec, Verdict


class Result:
    """A finished (or stopped) run: the best attempt, every attempt, and why it ended."""

    def __init__(self, record: RunRecord):
        self.record = record

    run_id = property(lambda self: self.record.run_id)
    approved = property(lambda self: self.record.approved)
    best: Attempt | None = property(lambda self: self.record.best)
    attempts: list[Attempt] = property(lambda self: self.record.attempts)
    status = property(lambda self: self.record.status)
    error = property(lambda self: self.record.error)

    def summary(self) -> dict[str, Any]:
        return self.record.summary()

    def __repr__(self) -> str:
        return f"Result({self.run_id}, {self.status}, {len(self.attempts)} attempts, approved={self.approved})"


class Studio:
    def __init__(self, llm: str = DEFAULT_LLM, image_model: str = DEFAULT_IMAGE_MODEL,
                 critic: str = DEFAULT_CRITIC, video_model: str | None = None, video_format: str | None = None,
                 mode: Literal["agent", "loop"] = "agent", runs_dir: str | Path = "runs",
                 edits: bool = True, layouts: LayoutPolicy = "auto", on_event: Callable[[Event], None] | None = None):
        if video_format not in (None, "mp4", "gif"):
            raise InputError(f"video format must be mp4 or gif, not {video_format!r}")
        # the back-end half of the run options; each run adds its budget, seed, candidates, rewrite
        self.options = RunOptions.parse(llm=llm, image_model=image_model, critic=critic, video_model=video_model,
                                        video_format=video_format, mode=mode, edits=edits)
        self.llm, self.image_model, self.critic = self.options.llm, self.options.image_model, self.options.critic
        self.video_model, self.video_format = self.options.video_model, self.options.video_format
        self.mode, self.edits, self.layouts, self.on_event = self.options.mode, edits, layouts, on_event
        self.store = RunStore(runs_dir)
        self._stops: dict[str, threading.Event] = {}
        self._stopping = False  # stop_all() was called: a run starting now stops at its first step
        _STUDIOS.add(self)

    # ---- running -------------------------------------------------------------------------------
    def prepare(self, brief: str | Brief, run_id: str | None = None, **fields) -> RunRecord:
        """Validate everything and derive the spec; creates nothing on disk until it all checks out.
        `fields` are the Brief's (spec, reference_images, ...) and the run options' (budget, seed,
        candidates, rewrite), all validated by RunOptions: the limits every surface has."""
        given = brief.model_dump() if isinstance(brief, Brief) else {"text": brief}
        asked = {k: fields.pop(k) for k in ("budget", "seed", "candidates", "rewrite", "settings", *IMAGE_SETTINGS)
                 if k in fields}
        if isinstance(brief, Brief):  # a Brief's own budget and seed, unless the call names others
            asked = {"budget": given["budget"], "seed": given["seed"], "candidates": given["candidates"],
                     "rewrite": given["rewrite"], "settings": given["settings"], **asked}
        options = RunOptions.parse(self.options.studio_fields(), **asked)
        try:
            brief = Brief.model_validate({**given, **fields, **options.brief_fields(asked.get("budget"))})
        except ValidationError as e:
            raise InputError(one_line(e, "brief")) from None
        if brief.seed is None:
            brief.seed = secrets.randbelow(2**31)  # recorded, so the run can be reproduced
        # everything that can be checked before spending anything: models known, weights here, keys set
        registry.resolve("llm", self.llm)
        critic = registry.resolve("critic", self.critic)  # a plugin's declares what it judges (checked there)
        from agent.backends.remote.prices import check_affordable, check_llm_affordable
        money = brief.budget.max_cost_usd  # a budget that cannot pay for one paid call is refused, not run to no end
        for kind, model in (("image", self.image_model), ("video", self.video_model)):
            if model:
                check_ready(backend := registry.resolve(kind, model))
                check_affordable(backend, model, money)
        image_info = registry.resolve("image", self.image_model).info
        if problem := brief.settings.problem(image_info):  # refused, not ignored: the model cannot honour it
            raise InputError(f"bad run options: {problem}")
        for llm in (self.llm, *critic_llms(self.critic)):
            check_llm_affordable(llm, money)
        spec = brief.spec or spec_for(brief.text, self.llm)
        clip = wants_clip(brief.text, spec, self.video_model)
        if clip and "video" not in critic.kinds:
            raise InputError(f"this brief makes a clip and {self.critic} cannot judge clips: use critic:detector "
                             f"(shapes world) or critic:vlm")
        if clip and (why := self_contradiction(spec)):  # refused before any clip is made: none could pass
            raise InputError(why)
        if clip and brief.settings.given():
            raise InputError(f"bad run options: {', '.join(brief.settings.given())}: the image settings apply to "
                             f"images, and this brief makes a clip with {self.video_model}; leave them out")
        # the record's options hold the image settings used: the user's, else the model's defaults
        used = {"seed": brief.seed, **brief.settings.used(image_info)}
        return RunRecord(run_id=run_id or self.store.new_id(), brief=brief, spec=spec,
                         options=options.model_copy(update=used))  # the back ends with them

    def spec(self, text: str) -> SceneSpec | None:
        return spec_for(text, self.llm)

    def critique(self, image: str | Path, brief: str, spec: SceneSpec | None = None) -> Verdict:
        """Judge a picture the user already has against a brief: the checklist item by item, with
        evidence (nothing is written to the runs folder)."""
        from agent.core.artifacts import check_image_header
        from agent.core.types import Artifact, GenerationRequest

        path = Path(image)
        if not path.is_file():
            raise InputError(f"image not found: {image}")
        check_image_header(path)
        brief = Brief(text=brief).text if isinstance(brief, str) else brief
        critic = registry.resolve("critic", self.critic)
        spec = spec or spec_for(brief, self.llm)
        artifact = Artifact(path=path, sha256=Artifact.digest(path), kind="video" if path.suffix.lower() in
                            (".mp4", ".gif", ".webm", ".mov") else "image",
                            request=GenerationRequest(prompt=brief, model="user"))
        return critic.critique(artifact, brief, spec)

    def run(self, brief: str | Brief, *, review: Review | None = None, run_id: str | None = None,
            on_event: Callable[[Event], None] | None = None, owner: str = "", **fields) -> Result:
        """Run a brief to approval or until its budget is spent. `run_id` names the run folder
        (a batch uses the brief's id); by default it is a fresh timestamped id."""
        return self._drive(self.prepare(brief, run_id, **fields), review, on_event, owner)

    def resume(self, run_id: str, on_event: Callable[[Event], None] | None = None) -> Result:
        """Continue an interrupted run where it stopped, within what is left of its budget."""
        record = self.store.load(run_id)
        if record.status == "approved":
            return Result(record)
        return self._drive(record, None, on_event, "")

    def run_prepared(self, record: RunRecord, *, on_event: Callable[[Event], None] | None = None,
                     owner: str = "") -> Result:
        """Run a record `prepare` made: a server checks a request, answers with the run's id, then runs it."""
        return self._drive(record, None, on_event, owner)

    def _drive(self, record: RunRecord, review, on_event, owner: str) -> Result:
        with self.store.lock(record.run_id):  # "run X is already running" for a second driver
            return self._drive_held(record, review, on_event, owner)

    def _drive_held(self, record: RunRecord, review, on_event, owner: str) -> Result:
        stop = self._stops.setdefault(record.run_id, threading.Event())
        if self._stopping:
            stop.set()
        sinks = [s for s in (self.on_event, on_event) if s]
        if record.video_model and self.video_model and record.video_model != self.video_model:
            raise InputError(f"run {record.run_id} makes clips with {record.video_model}, not {self.video_model}: "
                             f"resume it without a video model or with that one")
        ctx = RunContext(record, self.store, video_model=record.video_model or self.video_model, review=review,
                         stop=stop,
                         owner=owner, on_event=(lambda e: [s(e) for s in sinks]) if sinks else None,
                         # a listener marked `hears_steps = False` ignores `progress` events: with no other,
                         # no step preview is made for it (on the pipeline owner's thread, each step)
                         hears_steps=any(getattr(s, "hears_steps", True) for s in sinks))
        # paid back ends refuse a call that would overspend; a priced LLM call is refused unsent once nothing is left
        from agent.backends.remote.prices import before_tokens, spending_limit
        from agent.core.usage import metering
        money = record.brief.budget.max_cost_usd
        try:
            with spending_limit(None if money is None else money - record.cost_usd), \
                    metering(token_meter(record), before_tokens):
                return Result(Director(registry.resolve("llm", record.llm), ctx, _toolbox(), edits=self.edits,
                                       layouts=self.layouts).run())
        finally:
            self._stops.pop(record.run_id, None)

    async def arun(self, brief: str | Brief, **kwargs) -> Result:
        return await asyncio.to_thread(self.run, brief, **kwargs)

    def stream(self, brief: str | Brief, **kwargs) -> Iterator[Event]:
        """Events as the run unfolds; the last one is `run_finished`. Bad input raises at once."""
        record = self.prepare(brief, **{k: v for k, v in kwargs.items() if k not in ("review", "owner")})
        events: queue.Queue[Event | None] = queue.Queue()

        def work():
            try:
                self._drive(record, kwargs.get("review"), events.put, kwargs.get("owner", ""))
            finally:
                events.put(None)

        threading.Thread(target=work, daemon=True, name=f"run-{record.run_id}").start()
        while (event := events.get()) is not None:
            yield event

    def stop(self, run_id: str) -> bool:
        """Ask a run in flight to stop after its current step; False if it is not running here."""
        if run_id in self._stops:
            self._stops[run_id].set()
            return True
        return False

    def stop_all(self) -> None:
        """Ask every run in flight here, and any about to start, to stop after its current step."""
        self._stopping = True
        for event in list(self._stops.values()):
            event.set()

    # ---- steering after a run ----------------------------------------------------------------
    def iterate(self, run_id: str, attempt: int, prompt: str, *, box: tuple[int, int, int, int] | None = None,
                mask: Path | None = None, instruction: str = "", strength: float = 0.75,
                seed: int | None = None, feather: int | None = None,
                on_event: Callable[[Event], None] | None = None) -> Result:
        """Edit a chosen attempt of a run (by instruction, region or painted mask) and judge the result;
        the new attempt joins the same run, so history and best are kept together. `feather`: the
        mask's edge softened by that many pixels (models declaring `mask_feather`; None: the model's)."""
        from tools.edit_image import edit_attempt
        return self._one_more(run_id, on_event, "edit", lambda ctx: edit_attempt(
            ctx, attempt, prompt, box=box, mask=mask, instruction=instruction, strength=strength, seed=seed,
            feather=feather))

    def typeset(self, run_id: str, attempt: int, text: str, *, box: tuple[int, int, int, int] | None = None,
                placement: str | None = None, font: str = "DejaVu Sans", weight: str = "bold",
                on_event: Callable[[Event], None] | None = None) -> Result:
        """Set exact words onto a chosen attempt (`typeset_text`: a shipped font fitted to `box` or a named
        `placement`, every other pixel kept) and judge the result; it joins the same run."""
        from tools.typeset_text import typeset_attempt
        return self._one_more(run_id, on_event, "typeset", lambda ctx: typeset_attempt(
            ctx, attempt, text, box=box, placement=placement, font=font, weight=weight))

    def _one_more(self, run_id: str, on_event, what: str, make: Callable[[RunContext], Any]) -> Result:
        """One more attempt made by hand in a finished run (an edit, the words set), judged, saved."""
        with self.store.lock(run_id, new=False):
            record = self.store.load(run_id)
            record.brief.budget.max_iterations = max(record.brief.budget.max_iterations, record.iterations + 1)
            ctx = RunContext(record, self.store, video_model=self.video_model, on_event=on_event or self.on_event)
            try:
                make(ctx)
            except ValidationError as e:  # e.g. a prompt over its limit (agent.core.limits)
                raise InputError(one_line(e, what)) from None
            record.status = "approved" if record.approved else record.status
            ctx.save()
            return Result(record)

    def history(self, limit: int = 50, owner: str | None = None) -> list[dict]:
        return self.store.history(limit, owner)

    def load(self, run_id: str) -> Result:
        return Result(self.store.load(run_id))


_STUDIOS: "weakref.WeakSet[Studio]" = weakref.WeakSet()  # every Studio of this process, for a server's shutdown


def runs_in_flight() -> int:
    """How many runs any Studio of this process is driving now (the UI's, MCP's, a server's)."""
    return sum(len(studio._stops) for studio in list(_STUDIOS))


def stop_every_run() -> None:
    """Ask every run of every Studio in this process to stop after its current step (its record saved)."""
    for studio in list(_STUDIOS):
        studio.stop_all()


def spec_for(text: str, llm: str = DEFAULT_LLM) -> SceneSpec | None:
    """The SceneSpec a brief asks for: by rules offline, through structured output with an LLM."""
    from agent.core.spec_parser import derive_spec, parse_spec
    if not registry.structured_output(llm):
        return parse_spec(text)
    return derive_spec(text, registry.resolve("llm", llm))


def _toolbox():
    from tools import default_toolbox
    return default_toolbox()


def critic_llms(critic: str) -> list[str]:
    """The LLMs a critic spec asks (critic:vlm@openai:gpt-5.5, or critic:vlm's default vision LLM)."""
    from agent.core.defaults import critic_llm_spec
    parts = [p.strip().removeprefix("critic:").partition("@") for p in critic.split("+")]
    return [arg or critic_llm_spec() or "" for base, _, arg in parts if base == "vlm"]


def token_meter(record: RunRecord):
    """The sink for a run's LLM / VLM calls: each call's tokens priced (prices.yaml `llm:`), kept in
    the record, added to its cost and charged to its money budget, so --max-cost counts them."""
    from agent.backends.remote import prices

    def sink(usage) -> None:
        usage.cost_usd = prices.token_cost(usage)
        record.usage.append(usage.model_dump())
        if usage.cost_usd is None:  # unpriced: under a money budget the call was refused unsent (before_tokens)
            return
        record.cost_usd += usage.cost_usd
        prices.paid(usage.cost_usd)

    return sink
