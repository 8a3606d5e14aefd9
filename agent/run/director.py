"""The director: one run, top to bottom.

A run ends by exception (mini-swe-agent style): `Approved` when the critic approves an attempt,
`BudgetSpent` when iterations, generations, seconds or money run out, `Stopped` when the user
stops it, `Ended` when the LLM gives up, `TooManyErrors` when tools keep failing, `Unverified` when
the critic cannot check what the brief asks (after the first attempt that shows it: more would burn
the budget for nothing), `CriticFailed` when every critique failed. Whatever ends
it, the record is saved in `finally`, so nothing made is ever lost.

Two ways to drive:
- agent: the LLM (or the offline planner, which speaks the same protocol) picks each tool call;
- loop:  the fixed cycle refine → generate N → critique → revise, with a planner proposing the
         prompt and each revision.
"""
from __future__ import annotations

import json
import traceback

from agent.run.context import RunContext
from agent.core.errors import (Approved, AtelierError, BudgetSpent, CriticFailed, Ended, OutOfSpace, StopRun,
                               Stopped, TooManyErrors, Unverified)
from agent.core.lettering import typeset_step
from agent.core.plans import PLAN_STATE, LayoutPolicy, Planner, task_part
from agent.core.prompts import load_prompt
from agent.core.typeset import words_missing
from agent.core.protocols import LLM, Message, Presents, TextPart, ToolCall, ToolResult
from agent.run.planning import LLMPlanner, prompt_vars, state_from_record
from agent.run.tooling import Toolbox

MAX_ERRORS_IN_A_ROW = 3
CRITIC_FAILURES = 2  # critiques that all failed, with none ever succeeding: the critic is down
STATUS = {Approved: "approved", BudgetSpent: "budget_spent", Stopped: "stopped", Ended: "ended",
          TooManyErrors: "failed", Unverified: "unverified", CriticFailed: "failed"}


def _reason(error: AtelierError) -> str:
    return OutOfSpace.reason if isinstance(error, OutOfSpace) else "error"


class Director:
    def __init__(self, llm: LLM, ctx: RunContext, toolbox: Toolbox, planner: Planner | None = None,
                 edits: bool = True, layouts: LayoutPolicy = "auto"):
        self.llm, self.ctx, self.toolbox, self.edits, self.layouts = llm, ctx, toolbox, edits, layouts
        # the offline planner is both an LLM and a Planner; any other LLM plans through prompts
        self.planner = planner or (llm if isinstance(llm, Planner) else LLMPlanner(llm))
        self.messages = [Message.model_validate(m) for m in ctx.record.messages]
        self.answered: list[ToolResult] = []  # the results of the reply in flight so far, saved with it
        ctx.before_save = self.keep_conversation
        self.errors_in_a_row = 0
        self.info = self.video_info = None
        self.last_error: str | None = None

    @property
    def record(self):
        return self.ctx.record

    def run(self):
        r = self.record
        r.status, r.stop_reason, r.error = "running", "", None
        self.ctx.emit("run_started", r.brief.text, mode=r.mode, llm=r.llm, image_model=r.image_model,
                      critic=r.critic, spec=r.spec.to_geneval() if r.spec else None)
        try:
            self.info = self.ctx.image_backend().info
            self.video_info = self.ctx.video_backend().info if r.video_model else None
            self.drive_agent() if r.mode == "agent" else self.drive_loop()
        except StopRun as stop:
            if isinstance(stop, BudgetSpent) and stop.budget not in ("seconds", "money"):
                stop = self.deliver_words(stop)
            r.status, r.stop_reason = STATUS.get(type(stop), "ended"), str(stop)
            if isinstance(stop, (TooManyErrors, CriticFailed, Unverified)):
                r.error = str(stop)
            elif isinstance(stop, Ended) and not r.attempts and self.last_error:
                # it gave up because nothing could be made: that is a failure, not a choice
                r.status, r.error = "failed", self.last_error
            if isinstance(stop, (Approved, BudgetSpent, Unverified)):
                self.present(money_left=not (isinstance(stop, BudgetSpent) and stop.budget == "money"))
        except AtelierError as e:
            r.status, r.stop_reason, r.error = "failed", _reason(e), str(e)
        except Exception as e:  # a bug: the user gets one line, the traceback goes to the run folder
            r.status, r.stop_reason = "failed", "error"
            r.error = f"internal error {type(e).__name__}: {e} (traceback in {self.ctx.out_dir / 'error.log'})"
            try:
                (self.ctx.out_dir / "error.log").write_text(traceback.format_exc())
            except OSError:
                r.error = f"internal error {type(e).__name__}: {e}"
        finally:
            try:
                self.ctx.save()
            except OutOfSpace as e:  # run.json keeps its last step; the run can be resumed from it
                r.status, r.stop_reason, r.error = "failed", OutOfSpace.reason, str(e)
            self.ctx.emit("run_finished", r.stop_reason, summary=r.summary())
        return r

    # ---- after the budget: the words ------------------------------------------------------------
    def deliver_words(self, spent: BudgetSpent) -> StopRun:
        """The asked words the best attempt still lacks, typeset onto it by rule (`lettering.typeset_step`,
        the offline planner's own) when a budget of rounds, images or steps is spent: a typeset runs no
        model, so the run allows it as its last action (`RunContext.check_budget`), and no director is
        given a turn past the budget for it (an LLM's turn costs tokens, and the typeset is all it could
        still do). Once per asked text. The conversation is told what was set, so the presentation and a
        resumed run know. Returns how the run ends (the stop reason saying what came after)."""
        spec, made = self.record.spec, []
        for _ in range(len(spec.text) if spec else 0):
            spent_rounds = self.record.iterations >= self.record.brief.budget.max_iterations
            if (best := self.ctx.finishing_words(rounds_spent=spent_rounds)) is None:
                break
            state = self.state()
            base = next(a for a in state.attempts if a.index == best.index)
            k = words_missing(spec, self.record.attempts, best.index)[0]
            if (step := typeset_step(state, base, f"the budget is spent: {spent}", text=k)) is None:
                break
            self.ctx.emit("step_started", f"typeset: {step.reason}")
            try:
                result = self.call(step.call())
            except StopRun as stop:  # time, money or the user's stop: the run ends on that
                return stop
            if result.is_error:
                break
            made.append(result)
        if not made:
            return spent
        if self.record.mode == "agent":
            said = "\n".join(p.text for r in made for p in r.content if isinstance(p, TextPart))
            self.messages.append(Message(role="user", parts=[TextPart(
                text=f"{spent}. The asked words were then typeset by rule, with no model:\n{said}")]))
        self.ctx.save()
        return BudgetSpent(str(spent) + self.ctx.after_the_budget(), budget=spent.budget)

    # ---- the last turn: present the result ----------------------------------------------------
    def present(self, money_left: bool = True) -> None:
        """What was made and why, as a creative director presents it: the offline planner writes it
        by rules; an LLM director gets one last turn (the conversation so far, the tools unchanged so
        its prompt cache still applies, asked not to call any). Shown as a message, kept in the record.
        A failure here never changes how the run ended."""
        r = self.record
        if not r.attempts or r.presentation:
            return
        try:
            if isinstance(self.llm, Presents):
                text = self.llm.present(r)
            elif money_left:
                best = r.best
                ask = load_prompt("present", status=r.status, best=best.index if best else "none",
                                  prompt=best.prompt if best else "", attempts=len(r.attempts))
                if self.messages and self.messages[-1].role == "user":  # the words set after the budget, said
                    self.messages[-1].parts.append(TextPart(text=ask))
                else:
                    self.messages.append(Message(role="user", parts=[TextPart(text=ask)]))
                reply = self.llm.complete(load_prompt("system"), self.messages, self.toolbox.specs())
                text = reply.text.strip()
                # tool calls are not run now; keep only the words, so a resumed conversation is well formed
                self.messages.append(Message(role="assistant", parts=[TextPart(text=text or "(no presentation)")]))
            else:
                return
        except (AtelierError, StopRun) as e:
            self.ctx.emit("tool_error", f"the director could not present the result: {e}", tool="present")
            return
        if text:
            r.presentation = text
            self.ctx.emit("message", text, presentation=True)

    # ---- agent mode: the LLM decides ----------------------------------------------------------
    def drive_agent(self) -> None:
        if not self.messages:
            self.messages.append(self.task_message())
        elif not any(isinstance(p, TextPart) and PLAN_STATE in p.data for p in self.messages[0].parts):
            # a conversation saved before the task carried its state: its words, with the state as data
            self.messages[0] = self.task_message(self.messages[0].text)
        self.resume_reply()
        system, tools = load_prompt("system"), self.toolbox.specs()
        for _ in range(4 * self.record.brief.budget.max_iterations + 4):
            self.ctx.check_budget()
            self.ctx.emit("step_started", f"asking {self.record.llm}")
            reply = self.llm.complete(system, self.messages, tools)
            self.messages.append(reply)
            if reply.text:
                self.ctx.emit("message", reply.text)
            if not reply.tool_calls:
                raise Ended(f"the director ended the run: {reply.text.strip() or '(no reason given)'}")
            self.after_step(self.answer(reply.tool_calls))
        raise BudgetSpent("turn limit reached without approval", budget="turns")

    def answer(self, calls: list[ToolCall], done: list[ToolResult] = ()) -> list[ToolResult]:
        """Run a reply's tool calls in order (`calls`: those after the ones `done` answers) and add their
        results to the conversation. When one ends the run (a budget refusal, the user's stop, a
        failure no retry fixes), it and every call after it still get a result, saying why they did not
        run or finish, before the run ends: the conversation stays well formed for the presentation
        turn, a resumed run and the record (Anthropic and OpenAI refuse a tool call left unanswered).
        Each save while they run (`keep_conversation`) holds the reply and the results so far."""
        results = self.answered = list(done)
        try:
            for c in calls:
                results.append(self.call(c))
        except Exception as stop:  # noqa: BLE001 - re-raised: this only answers the calls before the run ends
            why = f"{type(stop).__name__}: {stop}" if not isinstance(stop, (StopRun, AtelierError)) else str(stop)
            ran = len(results) - len(done)
            for k, c in enumerate(calls[ran:]):
                text = (f"{c.name} ended the run: {why}" if k == 0 else
                        f"not run: the run ended because {why} (at {calls[ran].name})")
                results.append(ToolResult(call_id=c.id, name=c.name, content=[TextPart(text=text)],
                                          data={"error": text, "run_ended": True}, is_error=True))
            raise
        finally:
            self.answered = []
            if results:  # none when the process is going down in the first call: the reply stays unanswered
                self.messages.append(Message(role="tool", parts=results))
        return results

    def keep_conversation(self) -> None:
        """The record's conversation as it stands, a reply in flight with the results its calls gave so far
        (`RunContext.before_save`: saved in the same write as what a call made)."""
        messages = self.messages + ([Message(role="tool", parts=list(self.answered))] if self.answered else [])
        self.record.messages = [m.model_dump(mode="json") for m in messages]

    def task_message(self, text: str | None = None) -> Message:
        """The first turn: the task in words (`text`, or written now) with the plan state it says as data."""
        state = self.state()
        text = text or load_prompt("task", iterations=self.record.brief.budget.max_iterations, **prompt_vars(state))
        return Message(role="user", parts=[task_part(text, state)])

    def resume_reply(self) -> None:
        """A conversation saved while a reply's calls ran (the process killed then) ends in that reply,
        with the results of the calls that finished. The call that was running when it died is answered
        from the record when what it made is there (`Toolbox.saved_result`): asked again, it would make
        its round twice (issue 28). The calls after it then run as they would have. A reply none of
        whose calls left a trace is dropped and the director asked again."""
        done: list[ToolResult] = []
        if len(self.messages) > 1 and self.messages[-1].role == "tool" and self.messages[-2].tool_calls:
            results = [p for p in self.messages[-1].parts if isinstance(p, ToolResult)]
            if len(results) < len(self.messages[-2].tool_calls):
                done = results
                self.messages.pop()
        if not (self.messages and self.messages[-1].role == "assistant" and self.messages[-1].tool_calls):
            return
        answered = {r.call_id for r in done}
        calls = [c for c in self.messages[-1].tool_calls if c.id not in answered]
        told = self.messages + [Message(role="tool", parts=list(done))]
        if calls and (saved := self.toolbox.saved_result(self.ctx, calls[0], told)) is not None:
            self.ctx.emit("message", f"{calls[0].name} had run before the run was interrupted: answered from the record")
            done, calls = [*done, saved], calls[1:]
        if not done:
            self.messages.pop()
            return
        self.after_step(self.answer(calls, done))

    # ---- loop mode: the fixed cycle ------------------------------------------------------------
    def drive_loop(self) -> None:
        r = self.record
        if r.refined_prompt is None:
            proposal = self.planner.propose(self.state())
            self.after_step([self.call(ToolCall(id="refine", name="refine_prompt",
                                                arguments=proposal.model_dump()))])
        while True:
            self.ctx.check_budget()
            step = self.planner.next_step(self.state()) if r.attempts else self.planner.first_step(self.state())
            self.ctx.emit("step_started", f"{step.action}: {step.reason or step.prompt}")
            self.after_step([self.call(step.call())])

    def state(self):
        return state_from_record(self.record, self.info, self.ctx.budget_left(), self.edits, self.layouts,
                                 self.video_info)

    # ---- shared ---------------------------------------------------------------------------------
    def call(self, call: ToolCall) -> ToolResult:
        self.ctx.emit("step_started", f"{call.name}({json.dumps(call.arguments)[:200]})",
                      tool=call.name, arguments=call.arguments)
        result = self.toolbox.call(self.ctx, call)
        self.last_error = result.data["error"] if result.is_error else None
        if result.is_error:
            self.ctx.emit("tool_error", result.data["error"], tool=call.name)
        return result

    def check_verdicts(self) -> None:
        """End the run when judging cannot lead to an approval: the latest verdict leaves part of the
        brief unchecked with nothing checked wrong, or every critique so far failed."""
        judged = [a for a in self.record.attempts if a.verdict is not None]
        if not judged:
            return
        last = judged[-1].verdict
        if last.unverified:
            missed = [r for r in last.requirements if r.status == "unchecked"]
            why = "; ".join(dict.fromkeys(r.evidence for r in missed if r.evidence))
            raise Unverified(f"{last.critic} could not check {', '.join(r.text for r in missed)}"
                             + (f": {why}" if why else "")[:500])
        if len(judged) >= CRITIC_FAILURES and all(a.verdict.error for a in judged):
            raise CriticFailed(f"every critique failed: {last.error}")

    def after_step(self, results: list[ToolResult]) -> None:
        """Save (the conversation with it: `keep_conversation`), then end the run if it is won or if tools
        keep failing."""
        self.ctx.save()
        if self.record.approved:
            best = self.record.best
            raise Approved(f"attempt {best.index} approved by {best.verdict.critic}")
        self.check_verdicts()
        self.errors_in_a_row = self.errors_in_a_row + 1 if all(r.is_error for r in results) else 0
        if self.errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
            raise TooManyErrors(results[-1].data["error"])
