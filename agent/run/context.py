"""The state one run's tools share: the record, the budget, the back ends, and the bookkeeping that
keeps the best attempt (a later, worse attempt never replaces it) and saves after every step."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from agent.core import registry
from agent.core.artifacts import stamp_verdict
from agent.core.defaults import DEFAULT_VIDEO_MODEL
from agent.core.errors import BudgetSpent, ConfigError, InputError, Stopped
from agent.core.captions import canonical_prompt
from agent.core.plans import FIRST_FRAME_ISSUE, BudgetLeft, rank, wants_clip
from agent.core.progress import StepProgress, preview_url, reporting_steps
from agent.core.protocols import check_ready, planned_steps
from agent.core.records import RunStore
from agent.core.tracks import still_spec
from agent.core.trust import TrustPolicy, check_untrusted_spec
from agent.core.typeset import words_missing
from agent.core.types import Artifact, Attempt, Event, GenerationRequest, RunRecord, Verdict

# (brief, proposed prompt) -> the prompt to use (edited or as is), or None to refuse the rewrite
Review = Callable[[str, str], str | None]
# the end of a typeset attempt's note when it was made after the rounds were spent (it joined the last one)
AFTER_THE_ROUNDS = " (after the rounds were spent: no model, 0 denoising steps, part of the last round)"


class RunContext:
    def __init__(self, record: RunRecord, store: RunStore, *, video_model: str | None = None,
                 on_event: Callable[[Event], None] | None = None, review: Review | None = None,
                 stop: threading.Event | None = None, owner: str = "", hears_steps: bool = True):
        self.record, self.store = record, store
        self.hears_steps = hears_steps  # False: no listener takes `progress` events (`reporting_steps`)
        self._last_preview: str | None = None  # the last step preview made (`_step_event`)
        self.video_model = video_model
        self.on_event, self.review = on_event, review
        self.stop_flag = stop or threading.Event()
        self.owner = owner
        # the director's: brings the record's conversation up to date before each save, so an attempt and
        # the reply whose call made it reach run.json in one write (a kill between the two repeated a round)
        self.before_save: Callable[[], None] | None = None
        self.started = time.monotonic() - record.seconds  # a resumed run keeps its spent time
        self.out_dir = store.run_dir(record.run_id)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    # ---- back ends, resolved lazily and cached per process by the registry -------------------
    def image_backend(self, model: str | None = None):
        return self._chosen("image", model, self.record.image_model)

    def video_backend(self, model: str | None = None):
        return self._chosen("video", model, self.video_model)

    def critic(self, spec: str | None = None):
        return self._chosen("critic", spec, self.record.critic)

    def _chosen(self, kind: str, spec: str | None, default: str | None):
        """The run's own back end of `kind`, or another the director names. The director is not the
        operator (a brief can steer it): what it names passes the operator's trust policy (no key
        to a server the operator did not allow). A back end the run was not set up with that
        cannot work here is the director's mistake, a tool error it can correct; only the run's
        own back end failing ends the run."""
        if not spec or spec == default:
            if not default:
                raise InputError(f"no {kind} model chosen for this run: name one (model={DEFAULT_VIDEO_MODEL}, the "
                                 f"embedded animator of an approved image attempt, model=local:shapes-video, the "
                                 f"embedded clip model from text, or local:svd, runway:gen4_turbo), or the operator "
                                 f"sets a default (--video-model {DEFAULT_VIDEO_MODEL})" if kind == "video" else
                                 f"no {kind} model chosen for this run: the operator sets one")
            return registry.resolve(kind, default)
        try:
            check_untrusted_spec(kind, spec, TrustPolicy.from_env(
                [self.record.llm, self.record.image_model, self.record.critic, self.video_model]))
            backend = registry.resolve(kind, spec)
            check_ready(backend)
            return backend
        except ConfigError as e:
            raise InputError(f"{e} (this run uses {default or f'no {kind} model'})") from None

    # ---- budget ------------------------------------------------------------------------------
    @property
    def generations(self) -> int:
        """Images or clips a model made (a typeset attempt is not one: no model drew it)."""
        return sum(a.typeset is None for a in self.record.attempts)

    @property
    def denoiser_steps(self) -> int:
        """Denoising steps spent: what each back end reports, else the request's steps."""
        default = self.image_backend().info.default_steps or 1
        return sum(a.artifact.denoiser_steps(default) for a in self.record.attempts)

    def budget_left(self) -> BudgetLeft:
        """What the budget still allows after the attempts so far (the limits `check_budget` enforces;
        seconds and money are not forecast)."""
        b, r = self.record.brief.budget, self.record
        return BudgetLeft(iterations=max(b.max_iterations - r.iterations, 0),
                          generations=None if b.max_generations is None else max(b.max_generations - self.generations, 0),
                          steps=None if b.max_denoiser_steps is None else max(b.max_denoiser_steps - self.denoiser_steps, 0))

    def next_seed(self) -> int:
        """Seeds follow from the brief's seed, so a run is reproducible from its record."""
        return (self.record.brief.seed or 0) + len(self.record.attempts)

    def fit_steps(self, backend, request: GenerationRequest, edit: bool = False) -> tuple[GenerationRequest, str]:
        """The request as it may run under the compute budget, and a note when its steps were cut, after
        `check_budget` with what it will spend (n images, each the back end's own count of steps:
        `protocols.planned_steps`, a layout one pass per box).

        A step that would pass the budget is shrunk, not refused, when half its steps or more fit: the
        fewest steps per pass cut to the most that fit (a layout box drawn at 10 steps is as often
        right as at 20, `backend.PASS_STEPS`), so the last steps of a budget still make a picture and
        the budget is never passed. Less than half would be a different picture than was asked (the
        quality of the model's fewest steps is not measured): refused, the run's compute spent."""
        left, need = self.budget_left().steps, planned_steps(backend, request, edit)
        note = ""
        if left is not None and need > left:
            top = request.steps or backend.info.default_steps or 1
            fits = [s for s in range(top, 0, -1)  # the most steps a pass first
                    if (cost := planned_steps(backend, request.model_copy(update={"steps": s}), edit)) <= left
                    and 2 * cost >= need]
            if fits:
                note = (f"{fits[0]} denoising steps a pass (the step asked {need} in all, {left} were left: "
                        f"cut to fit the compute budget)")
                request = request.model_copy(update={"steps": fits[0]})
                need = planned_steps(backend, request, edit)
        self.check_budget(about_to_generate=request.n, about_to_denoise=need)
        return request, note

    def check_budget(self, about_to_generate: int = 0, about_to_denoise: int = 0, typeset: bool = False) -> None:
        """Raise the stop condition that applies, if any (checked before every step). A step that
        says what it will spend (`about_to_generate` images or clips, `about_to_denoise` steps, as a
        clip costs steps x frames) is refused when that would go over the budget.

        Words are always delivered: a typeset (`typeset=True`) runs no model, so the image and compute
        budgets never refuse it, and when the rounds are spent it may still be the run's last action
        while the best attempt lacks asked words none of its typesets set (`finishing_words`), once per
        asked text; it then joins the last round (`add_attempts`). The check before a step (no
        arguments) refuses like any other once a budget is spent: the director then sets the words by
        rule (`Director.deliver_words`), with no turn past the budget. Time, money and the user's stop
        apply to a typeset as to anything else."""
        b, r = self.record.brief.budget, self.record
        self.tick()
        if self.stop_flag.is_set():
            raise Stopped("stopped by the user")
        if r.iterations >= b.max_iterations and not (typeset and self.finishing_words()):
            raise BudgetSpent(f"iteration budget spent ({b.max_iterations})" + self.after_the_budget(),
                              budget="iterations")
        if not typeset and b.max_generations is not None and self.generations + about_to_generate > b.max_generations:
            raise BudgetSpent(f"generation budget spent ({self.generations} of {b.max_generations})" + self.after_the_budget(),
                              budget="generations")
        # a step that says what it makes is counted exactly (a canvas with no box runs no denoiser); the
        # director's check wants a step left
        need = about_to_denoise if about_to_generate else max(about_to_denoise, 1)
        if not typeset and b.max_denoiser_steps is not None and self.denoiser_steps + need > b.max_denoiser_steps:
            more = f"; this step needs {about_to_denoise} more" if about_to_denoise else ""
            raise BudgetSpent(f"compute budget spent ({self.denoiser_steps} of {b.max_denoiser_steps} "
                              f"denoising steps{more})" + self.after_the_budget(), budget="compute")
        if b.max_seconds is not None and r.seconds >= b.max_seconds:
            raise BudgetSpent(f"time budget spent ({r.seconds:.0f} s of {b.max_seconds:.0f} s)", budget="seconds")
        # spent when it is used up; a budget of $0 is "spend nothing": free back ends go on, and a paid image,
        # video or priced LLM call is refused before it is made (prices.before_paying, prices.before_tokens)
        if b.max_cost_usd is not None and (r.cost_usd > b.max_cost_usd or r.cost_usd >= b.max_cost_usd > 0):
            raise BudgetSpent(f"money budget spent (${r.cost_usd:.2f} of ${b.max_cost_usd:.2f})", budget="money")

    def finishing_words(self, rounds_spent: bool = True) -> Attempt | None:
        """The best attempt, when the brief asks for words it does not show and that it did not get by
        typesetting (neither it nor an attempt it was made from set them: `typeset.words_missing`): a
        typeset of it may still finish the run. With `rounds_spent`, only while the typesets made in the
        last round number fewer than the asked texts (a typeset the critic misread may get the other
        font while rounds are left, not after)."""
        r = self.record
        best = r.best
        if best is None or best.artifact.kind != "image" or not words_missing(r.spec, r.attempts, best.index):
            return None
        if rounds_spent and sum(a.typeset is not None and a.iteration == r.iterations
                                for a in r.attempts) >= len(r.spec.text):
            return None
        return best

    def after_the_budget(self) -> str:
        """What the stop reason adds when typesets joined the last round after the rounds were spent."""
        attempts = self.record.attempts  # such a typeset shares its round with the attempt before it
        extra = [a for i, a in enumerate(attempts) if a.typeset is not None and i and attempts[i - 1].iteration == a.iteration]
        return f"; then the words typeset without a model (0 denoising steps) as attempt(s) " \
               f"{', '.join(str(a.index) for a in extra)}" if extra else ""

    def tick(self) -> None:
        self.record.seconds = time.monotonic() - self.started

    # ---- events and saving --------------------------------------------------------------------
    def emit(self, type_: str, message: str = "", attempt: Attempt | None = None, **data) -> None:
        if self.on_event:
            self.on_event(Event(type=type_, run_id=self.record.run_id, message=message,
                                attempt=attempt, data=data))

    def reporting_steps(self):
        """Around a back-end call: each denoising step a back end that `reports_steps` makes becomes a
        `progress` event (step, total, a small preview as a PNG data URL); nothing when nobody listens."""
        return reporting_steps(self._step_event if self.on_event and self.hears_steps else None)

    def _step_event(self, p: StepProgress) -> None:
        # a back end previews some steps only (step_progress.PREVIEW_EVERY_S): the others carry the last one made,
        # so a viewer that shows each event's preview keeps a picture (every image's first step has its own)
        if p.preview is not None or p.step == 1:
            self._last_preview = preview_url(p.preview)
        self.emit("progress", f"step {p.step}/{p.total}", step=p.step, total=p.total,
                  preview=self._last_preview)

    def save(self) -> None:
        self.tick()
        if self.before_save:
            self.before_save()
        self.store.save(self.record, owner=self.owner)

    # ---- attempts ------------------------------------------------------------------------------
    def add_attempts(self, artifacts: list[Artifact], action: str, note: str = "", source: int | None = None,
                     region: tuple[int, int, int, int] | None = None, typeset: str | None = None) -> list[Attempt]:
        """Record new artifacts as one iteration, critique each, and keep the best (`typeset`: the words
        typeset_text set, `Attempt.typeset`). A typeset made when the rounds are spent joins the last
        round, its note saying so (`check_budget`): the record never counts a round past the budget."""
        b = self.record.brief.budget
        if typeset is not None and self.record.iterations >= b.max_iterations:
            note += AFTER_THE_ROUNDS
        else:
            self.record.iterations += 1
        made = []
        for artifact in artifacts:
            attempt = Attempt(index=len(self.record.attempts), iteration=self.record.iterations,
                              action=action, prompt=artifact.request.prompt, seed=artifact.request.seed,
                              artifact=artifact, note=note, typeset=typeset, source=source,
                              region=tuple(region) if region else None)
            self.record.attempts.append(attempt)
            self.record.cost_usd += artifact.cost_usd
            self.emit("attempt_made", f"attempt {attempt.index}: {action}", attempt)
            self.judge(attempt)
            made.append(attempt)
        self.save()
        return made

    def judge(self, attempt: Attempt, critic: str | None = None) -> Verdict:
        judge = self.critic(critic)
        if self.delivers_clip and attempt.artifact.kind != "video":
            # an image is a step towards a clip (a first frame to animate), never the result
            verdict = self.judge_first_frame(judge, attempt)
        elif attempt.artifact.kind not in judge.kinds:  # Critic.kinds: what it can judge
            verdict = Verdict(critic=judge.name, approved=False,
                              error=f"{judge.name} cannot judge a {attempt.artifact.kind}; judge it by eye, or "
                                    f"run with a critic that can (critic:detector in the shapes world, critic:vlm)")
        else:
            verdict = judge.critique(attempt.artifact, self.record.brief.text, self.record.spec)
        attempt.verdict = verdict
        attempt.artifact = stamp_verdict(attempt.artifact, verdict)
        # a rescored attempt can lose its place; in a clip run a first frame is never the result
        self.record.best_index = best_index(self.record.attempts, "video" if self.delivers_clip else None)
        self.emit("verdict", verdict.summary(), attempt)
        return verdict

    def judge_first_frame(self, judge, attempt: Attempt) -> Verdict:
        """An image in a clip run: never approved (it is not the result). Where the video model animates
        a source image (ModelInfo.clip_from "image"), it is the clip's first frame: the critic judges it
        as a still, against the brief without its motion (`tracks.still_spec`), and its checklist and
        findings are kept, first issue FIRST_FRAME_ISSUE (`plans.first_frame_ok` reads them)."""
        spec = self.record.spec
        if (self.video_backend().info.clip_from != "image" or spec is None or not spec.include
                or "image" not in judge.kinds):
            return Verdict(critic=judge.name, approved=False, issues=[FIRST_FRAME_ISSUE])
        still = still_spec(spec)
        v = judge.critique(attempt.artifact, canonical_prompt(still), still)
        # no scores: a still never outranks a clip by them (Verdict.score)
        return v.model_copy(update={"approved": False, "scores": {}, "issues": [FIRST_FRAME_ISSUE, *v.issues]})

    @property
    def delivers_clip(self) -> bool:
        return wants_clip(self.record.brief.text, self.record.spec, self.video_model)

    def attempt(self, index: int) -> Attempt:
        if not 0 <= index < len(self.record.attempts):
            from agent.core.errors import InputError
            raise InputError(f"no attempt {index}; this run has {len(self.record.attempts)}")
        return self.record.attempts[index]

    def path_in_run(self, name: str) -> Path:
        return self.out_dir / name


def best_index(attempts: list[Attempt], kind: str | None = None) -> int | None:
    """The attempt ranked highest (`plans.rank`: the score, then fewer items found wrong), the earliest
    among equals (a later attempt that is no better never replaces it); recomputed over all attempts
    whenever any verdict changes. With `kind` ("video" in a clip run), only attempts of that kind
    once there is one."""
    judged = [a for a in attempts if a.verdict is not None]
    if kind and any(a.artifact.kind == kind for a in judged):
        judged = [a for a in judged if a.artifact.kind == kind]
    return max(judged, key=lambda a: (*rank(a.verdict), -a.index)).index if judged else None
