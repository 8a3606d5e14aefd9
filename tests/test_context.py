"""The run context keeps the best attempt right when verdicts change, not only when attempts arrive."""
import pytest

from agent.core.options import RunOptions
from agent.core.records import RunStore
from agent.core.types import Brief, GenerationRequest, RunRecord, Verdict
from agent.critics import CRITICS
from agent.run.context import RunContext
from tests import fakes


class ZeroCritic:
    name = "critic:zero"
    kinds = ("image",)

    def critique(self, artifact, brief_text, spec) -> Verdict:
        return Verdict(critic=self.name, approved=False, scores={"q": 0.0}, issues=["nothing right"])


@pytest.fixture(autouse=True)
def _fakes(monkeypatch):
    monkeypatch.setitem(CRITICS, "zero", "tests.test_context:ZeroCritic")
    yield from fakes.installed(monkeypatch)


def test_best_moves_back_when_the_best_attempt_is_rescored_lower(tmp_path):
    record = RunRecord(run_id="r1", brief=Brief(text="a lake"), options=RunOptions(image_model="test:flat", critic="critic:seed"))
    ctx = RunContext(record, RunStore(tmp_path))
    backend = ctx.image_backend()
    made = [a for seed in (4, 5) for a in backend.generate(
        GenerationRequest(prompt="a lake", model="test:flat", seed=seed), ctx.out_dir)]
    attempts = ctx.add_attempts(made, "generate")
    assert [a.verdict.score for a in attempts] == [4.0 - 0.01, 5.0 - 0.01] and record.best_index == 1

    ctx.judge(attempts[1], "critic:zero")  # `critique` with another critic: attempt 1 is now worst
    assert record.best_index == 0
    ctx.judge(attempts[0], "critic:zero")  # both score the same: the earlier one stays best
    assert record.best_index == 0
    ctx.judge(attempts[1])  # back to the run's critic: attempt 1 leads again
    assert record.best_index == 1


class UncheckedCritic:
    """Scores like ZeroCritic, but leaves its one item unchecked instead of failed."""

    name = "critic:unchecked"
    kinds = ("image",)
    status = "unchecked"

    def critique(self, artifact, brief_text, spec) -> Verdict:
        from agent.core.requirements import Requirement
        item = Requirement(id="text:0", kind="text", text="the word SALE", status=self.status)
        return Verdict(critic=self.name, approved=False, scores={"q": 0.0}, issues=["nothing right"],
                       requirements=[item])


class FailedCritic(UncheckedCritic):
    name = "critic:failed"
    status = "failed"


def test_among_equal_scores_the_attempt_with_fewer_items_found_wrong_is_best(tmp_path, monkeypatch):
    """The words set under a shape that is missing: the critic cannot check where they are (unchecked),
    no better by score than the picture without them (failed), but nothing is wrong with them."""
    monkeypatch.setitem(CRITICS, "unchecked", "tests.test_context:UncheckedCritic")
    monkeypatch.setitem(CRITICS, "failed", "tests.test_context:FailedCritic")
    record = RunRecord(run_id="r1", brief=Brief(text="a lake"), options=RunOptions(image_model="test:flat", critic="critic:seed"))
    ctx = RunContext(record, RunStore(tmp_path))
    made = [a for seed in (4, 5) for a in ctx.image_backend().generate(
        GenerationRequest(prompt="a lake", model="test:flat", seed=seed), ctx.out_dir)]
    attempts = ctx.add_attempts(made, "generate")
    ctx.judge(attempts[0], "critic:failed")
    ctx.judge(attempts[1], "critic:unchecked")
    assert attempts[0].verdict.score == attempts[1].verdict.score and record.best_index == 1
    ctx.judge(attempts[1], "critic:failed")  # both equal again: the earlier one
    assert record.best_index == 0


def test_with_the_rounds_spent_only_a_typeset_of_missing_words_gets_through(tmp_path, monkeypatch):
    """The rounds are spent and the best attempt lacks its words: the director's check before a step
    refuses (no turn past the budget: the director sets the words by rule), a typeset is allowed (it runs
    no model) and joins the last round, any model step is refused; once the words are set, nothing more
    is allowed."""
    from agent.core.errors import BudgetSpent
    from agent.core.types import Budget, SceneSpec, TextSpec
    monkeypatch.setitem(CRITICS, "failed", "tests.test_context:FailedCritic")
    brief = Brief(text="the word SALE", budget=Budget(max_iterations=1, max_denoiser_steps=20))
    record = RunRecord(run_id="r1", brief=brief, options=RunOptions(image_model="test:flat", critic="critic:failed"),
                       spec=SceneSpec(text=[TextSpec(text="SALE")]))
    ctx = RunContext(record, RunStore(tmp_path))
    made = ctx.image_backend().generate(GenerationRequest(prompt="a lake", model="test:flat", seed=4, steps=20),
                                        ctx.out_dir)
    (first,) = ctx.add_attempts(made, "generate")
    assert ctx.denoiser_steps == 20 and record.iterations == 1
    with pytest.raises(BudgetSpent, match="iteration budget spent"):
        ctx.check_budget()  # the words are missing, but no director's turn is due for them
    ctx.check_budget(typeset=True)
    with pytest.raises(BudgetSpent, match="iteration budget spent"):
        ctx.check_budget(about_to_generate=1)
    (typeset,) = ctx.add_attempts([first.artifact.model_copy(update={"meta": {"denoiser_steps": 0}})], "edit",
                                  "typeset 'SALE' onto attempt 0", source=0, typeset="SALE")
    assert record.iterations == 1 and typeset.iteration == 1  # no round past the budget
    assert ctx.denoiser_steps == 20 and ctx.generations == 1  # no step, no model image
    from agent.run.planning import attempt_data
    assert [attempt_data(a)["steps"] for a in record.attempts] == [20, 0]  # the planner sees the typeset's 0
    assert "after the rounds were spent" in typeset.note
    with pytest.raises(BudgetSpent, match=r"then the words typeset without a model \(0 denoising steps\) "
                                          r"as attempt\(s\) 1"):
        ctx.check_budget()
    with pytest.raises(BudgetSpent):
        ctx.check_budget(typeset=True)
