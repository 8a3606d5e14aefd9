"""A run never passes its step budget: generate_image and edit_image ask the back end what a request will
denoise (n images, every pass of a layout counted) before it runs, cut the steps a pass to fit when half
or more of the asked work fits, and refuse the step, ending the run on its compute, when less does."""
from __future__ import annotations

import pytest

from agent.core.artifacts import save_image
from agent.core.errors import BudgetSpent
from agent.core.layout import Layout, LayoutBox
from agent.core.options import RunOptions
from agent.core.protocols import EstimatesSteps, planned_steps
from agent.core.records import RunStore
from agent.core.types import Brief, Budget, GenerationRequest, RunRecord
from agent.run.context import RunContext
from tests import fakes
from tools.edit_image import edit_image
from tools.generate_image import generate_image

PASS = 5  # the fake's steps per layout box


class BoxByBox(fakes.FlatBackend):
    """Draws a layout box by box, PASS steps a box unless the request names steps, as local:shapes does,
    and says so before it runs (`EstimatesSteps`) and after (the artifact's count)."""

    def __init__(self, model: str = ""):
        super().__init__(model)
        self.info = self.info.model_copy(update={"name": "test:boxes", "layouts": "regions", "default_steps": 20})

    def planned_steps(self, request: GenerationRequest, edit: bool = False) -> int:
        if edit:
            return int((request.steps or 20) * (request.strength or 1.0))
        if request.layout is not None:
            return (request.steps or PASS) * len(request.layout.boxes)
        return request.steps or 20

    def generate(self, request, out_dir, edit: bool = False):
        self.calls.append(request)
        steps = self.planned_steps(request, edit)
        return [save_image(a_picture(), out_dir, request.model_copy(update={"seed": request.seed + i, "n": 1}),
                           index=i, meta={"denoiser_steps": steps}) for i in range(request.n)]

    def edit(self, request, out_dir):
        return self.generate(request, out_dir, edit=True)


def a_picture():
    from PIL import Image
    return Image.new("RGB", (32, 32), (200, 90, 160))


@pytest.fixture(autouse=True)
def _fakes(monkeypatch):
    yield from fakes.installed(monkeypatch, boxes="tests.test_step_budget:BoxByBox")


def context(tmp_path, steps: int, rounds: int = 8) -> RunContext:
    brief = Brief(text="three red circles", budget=Budget(max_iterations=rounds, max_denoiser_steps=steps))
    options = RunOptions(image_model="boxes:fake", critic="critic:seed")
    return RunContext(RunRecord(run_id="r1", brief=brief, options=options), RunStore(tmp_path))


def three_circles() -> Layout:
    return Layout(width=32, height=32, boxes=[LayoutBox(object=0, kind="circle", color="red", box=(2 + 10 * i, 2, 9 + 10 * i, 9))
                                              for i in range(3)])


def test_the_back_end_is_asked_what_a_request_will_denoise():
    backend = BoxByBox()
    assert isinstance(backend, EstimatesSteps)
    request = GenerationRequest(prompt="p", model="boxes:fake", n=2, layout=three_circles())
    assert planned_steps(backend, request) == 2 * 3 * PASS  # n images, a pass a box
    assert planned_steps(backend, request.model_copy(update={"strength": 0.5, "steps": 10}), edit=True) == 2 * 5
    assert planned_steps(fakes.FlatBackend(), GenerationRequest(prompt="p", n=3)) == 3  # no estimate: its default


def test_a_layout_that_would_pass_the_budget_is_cut_to_fit(tmp_path):
    """Before: 10 steps left, a three-box layout at 5 a box ran and counted 15 (HOT's 30 of 20)."""
    ctx = context(tmp_path, steps=30)
    generate_image(ctx, "three red circles", steps=20)  # 20 of 30 spent
    reply = generate_image(ctx, "three red circles", layout=three_circles())  # asks 15, 10 left
    assert ctx.denoiser_steps <= 30
    last = ctx.record.attempts[-1]
    assert last.artifact.request.steps == 3 and ctx.denoiser_steps == 29  # 3 a box: the most that fit
    assert "cut to fit the compute budget" in last.note and "asked 15 in all, 10 were left" in last.note
    assert reply.data["budget_left"]["steps"] == 1


def test_n_images_are_counted_before_they_are_made(tmp_path):
    """Before: 30 left, n=2 at 20 steps ran 40."""
    ctx = context(tmp_path, steps=30)
    generate_image(ctx, "a red circle", n=2, steps=20)
    assert ctx.denoiser_steps == 30 and [a.artifact.request.steps for a in ctx.record.attempts] == [15, 15]


def test_a_step_with_less_than_half_its_work_left_is_refused_and_nothing_runs(tmp_path):
    """Before: an edit of 15 steps ran with 5 left (HONEY's 50 of 40)."""
    ctx = context(tmp_path, steps=25)
    generate_image(ctx, "a red circle", steps=20)
    backend = ctx.image_backend()
    made = len(backend.calls)
    with pytest.raises(BudgetSpent, match=r"compute budget spent \(20 of 25 denoising steps; this step needs 15 more\)"):
        edit_image(ctx, 0, "a red circle", box=(0, 0, 16, 16), strength=0.75)
    assert len(backend.calls) == made and ctx.denoiser_steps == 20


def test_an_edit_is_cut_to_the_steps_left(tmp_path):
    ctx = context(tmp_path, steps=30)
    generate_image(ctx, "a red circle", steps=20)
    edit_image(ctx, 0, "a red circle", box=(0, 0, 16, 16), strength=0.75)  # 15 asked, 10 left: 14 x 0.75
    last = ctx.record.attempts[-1]
    assert ctx.denoiser_steps == 30 and last.artifact.request.steps == 14 and "cut to fit" in last.note


def test_a_canvas_with_no_box_runs_no_denoiser_and_the_budget_lets_it_through(tmp_path):
    """The words-only brief's canvas (a layout with no box) takes 0 steps, with none left too."""
    ctx = context(tmp_path, steps=20)
    generate_image(ctx, "a red circle", steps=20)
    generate_image(ctx, "the word ZEN", layout=Layout(width=32, height=32, boxes=[]))
    assert ctx.denoiser_steps == 20 and len(ctx.record.attempts) == 2


def test_the_shapes_model_counts_what_it_will_draw_before_drawing():
    """local:shapes' own estimate (no weights needed): a pass a box at half its steps, an edit its
    steps times its strength, what its artifacts record (the same function writes their count)."""
    from local_models.shapes.backend import DEFAULT_STEPS, PASS_STEPS, ShapesBackend

    backend = ShapesBackend()
    if backend.info.layouts != "regions":
        pytest.skip("no inpainting weights: local:shapes takes layouts in words")
    request = GenerationRequest(prompt="three red circles", model="local:shapes", n=2, layout=three_circles())
    assert planned_steps(backend, request) == 2 * 3 * PASS_STEPS
    assert planned_steps(backend, request.model_copy(update={"layout": None})) == 2 * DEFAULT_STEPS
    masked = request.model_copy(update={"layout": None, "mask": "m.png", "strength": 0.75, "n": 1})
    assert planned_steps(backend, masked, edit=True) == int(DEFAULT_STEPS * 0.75)
