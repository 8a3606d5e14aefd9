"""DiffusersBackend says what a request will denoise before any weights load (`EstimatesSteps`), so a
run's step budget is never passed on it either: checked against the denoiser's own forward calls on
tiny seeded pipelines (one call a step: the tiny families batch their guidance), and its artifacts
record the same count. An edit runs what diffusers' get_timesteps keeps of its steps at its strength:
the UNet pipelines round steps x strength down, the flow pipelines up (10 x 0.75: 7 and 8)."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

pytest.importorskip("diffusers")
import torch  # noqa: E402
from diffusers import FluxTransformer2DModel, SD3Transformer2DModel, UNet2DConditionModel  # noqa: E402
from PIL import Image  # noqa: E402

from agent.core.layout import Layout, LayoutBox  # noqa: E402
from agent.core.protocols import EstimatesSteps, planned_steps  # noqa: E402
from agent.core.types import GenerationRequest  # noqa: E402
from local_models import tiny_pipelines as tiny  # noqa: E402

DENOISERS = (UNet2DConditionModel, SD3Transformer2DModel, FluxTransformer2DModel)
LAYOUT = Layout(width=64, height=64, boxes=[
    LayoutBox(object=0, kind="square", color="blue", box=(36, 8, 60, 32)),
    LayoutBox(object=1, kind="circle", color="red", box=(4, 8, 24, 28)),
    LayoutBox(object=1, kind="circle", color="red", box=(4, 36, 24, 56))])


@contextmanager
def denoiser_calls():
    """Every forward call of a denoiser (a UNet or a diffusion transformer) while inside."""
    calls: list[str] = []

    def hook(module, args):
        if isinstance(module, DENOISERS):
            calls.append(type(module).__name__)

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


@pytest.fixture
def source(tmp_path):
    path, mask = tmp_path / "source.png", tmp_path / "mask.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    m = Image.new("L", (32, 32), 0)
    m.paste(255, (8, 8, 24, 24))
    m.save(mask)
    return path, mask


def ran(backend, request, out, edit=False):
    """(the estimate, the denoiser's forward calls, the artifact's recorded count) of one request."""
    estimate = planned_steps(backend, request, edit)
    with denoiser_calls() as calls:
        (art,) = (backend.edit if edit else backend.generate)(request, out)
    return estimate, len(calls), art.denoiser_steps()


@pytest.mark.parametrize("family, edits", [("sd", (7, 5, 1)), ("sd3", (8, 6, 2))])  # rounded down, up
def test_the_estimate_is_what_the_pipeline_denoises(family, edits, source, tmp_path):
    backend = tiny.backend(family)
    assert isinstance(backend, EstimatesSteps)
    image, mask = source
    one = GenerationRequest(prompt="two red circles", model=f"local:tiny-{family}", seed=1, width=32, height=32)
    assert ran(backend, one, tmp_path) == (2, 2, 2)  # the family's default steps
    assert ran(backend, one.model_copy(update={"steps": 3}), tmp_path) == (3, 3, 3)
    img2img = one.model_copy(update={"source_image": image, "steps": 10, "strength": 0.75})
    assert ran(backend, img2img, tmp_path, edit=True) == (edits[0],) * 3  # 10 x 0.75
    inpaint = img2img.model_copy(update={"mask": mask, "strength": 0.55})
    assert ran(backend, inpaint, tmp_path, edit=True) == (edits[1],) * 3  # 10 x 0.55
    # no steps asked: the default (2), raised until the strength leaves a step (4 x 0.3)
    default = one.model_copy(update={"source_image": image, "strength": 0.3})
    assert ran(backend, default, tmp_path, edit=True) == (edits[2],) * 3
    assert planned_steps(backend, one.model_copy(update={"n": 3, "steps": 4})) == 12  # n images


def test_a_layout_is_a_picture_and_a_pass_a_group(tmp_path):
    backend = tiny.backend("sd")
    assert backend.info.layouts == "regions"
    request = GenerationRequest(prompt="two red circles left of a blue square", model="local:tiny-sd", seed=3,
                                width=32, height=32, layout=LAYOUT, steps=2)
    assert ran(backend, request, tmp_path) == (2 * 3,) * 3  # the picture, then the squares and the circles



@pytest.fixture
def fake_critic(monkeypatch):
    from tests import fakes
    yield from fakes.installed(monkeypatch)


def test_a_run_on_it_never_passes_its_step_budget(fake_critic, monkeypatch, tmp_path):
    """Through the tools, counted at the denoiser: an edit asking more than is left is cut to fit
    (10 steps at 0.75 ask 7, 6 are left: 9 steps, 6 denoised), then one with nothing left is refused."""
    from agent.core.errors import BudgetSpent
    from agent.core.options import RunOptions
    from agent.core.records import RunStore
    from agent.core.types import Brief, Budget, RunRecord
    from agent.run.context import RunContext
    from tools.edit_image import edit_image
    from tools.generate_image import generate_image

    backend = tiny.backend("sd")
    brief = Brief(text="a red circle", budget=Budget(max_iterations=8, max_denoiser_steps=10))
    options = RunOptions(image_model="local:tiny-sd", critic="critic:seed")
    ctx = RunContext(RunRecord(run_id="r1", brief=brief, options=options), RunStore(tmp_path))
    monkeypatch.setattr(ctx, "image_backend", lambda model=None: backend)
    with denoiser_calls() as calls:
        generate_image(ctx, "a red circle", steps=4, width=32, height=32)
        edit_image(ctx, 0, "a red circle", strength=0.75, steps=10)
        assert len(calls) == ctx.denoiser_steps == 10 and ctx.record.attempts[-1].artifact.request.steps == 9
        with pytest.raises(BudgetSpent, match="compute budget spent"):
            edit_image(ctx, 1, "a red circle", strength=0.75, steps=4)
    assert len(calls) == 10
