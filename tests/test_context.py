"""The run context keeps the best attempt right when verdicts change, not only when attempts arrive."""
import pytest

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
    record = RunRecord(run_id="r1", brief=Brief(text="a lake"), image_model="test:flat", critic="critic:seed")
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
    record = RunRecord(run_id="r1", brief=Brief(text="a lake"), image_model="test:flat", critic="critic:seed")
    ctx = RunContext(record, RunStore(tmp_path))
    made = [a for seed in (4, 5) for a in ctx.image_backend().generate(
        GenerationRequest(prompt="a lake", model="test:flat", seed=seed), ctx.out_dir)]
    attempts = ctx.add_attempts(made, "generate")
    ctx.judge(attempts[0], "critic:failed")
    ctx.judge(attempts[1], "critic:unchecked")
    assert attempts[0].verdict.score == attempts[1].verdict.score and record.best_index == 1
    ctx.judge(attempts[1], "critic:failed")  # both equal again: the earlier one
    assert record.best_index == 0
