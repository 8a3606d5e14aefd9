"""The run context keeps the best attempt right when verdicts change, not only when attempts arrive."""
import pytest

from agent.core.records import RunStore
from agent.core.types import Brief, GenerationRequest, RunRecord, Verdict
from agent.critics import CRITICS
from agent.run.context import RunContext
from tests import fakes


class ZeroCritic:
    name = "critic:zero"

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
