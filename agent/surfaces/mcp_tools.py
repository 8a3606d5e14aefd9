"""The MCP server's tools, one module-level function each: its signature is its input schema (the
SDK derives it and validates calls against it), its docstring what the client reads. Each takes the
server's `McpState` first; `bind` hands the SDK the function without it, the operator's defaults
written into the descriptions that name them ({image_model}, {critic}, {llm}, {video_default})."""
import inspect
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, get_args, get_origin

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field
from pydantic.fields import FieldInfo

from agent.core import limits
from agent.core.options import RunOptions as O
from agent.core.types import GenerationRequest, SceneSpec
from agent.surfaces.api import Studio, spec_for
from agent.surfaces.mcp_callers import caller
from agent.surfaces.mcp_files import decode_upload
from agent.surfaces.mcp_state import McpState, clips_of, media_data, result

# a generation parameter's limits as GenerationRequest defines them (its default left to the parameter)
request_field = partial(limits.field_of, GenerationRequest, default=...)


def run_brief(
    state: McpState,
    brief: Annotated[str, Field(description="what to make, in words")],
    spec: Annotated[SceneSpec | None, Field(description="what the image must contain, GenEval format: "
                                             '{"include": [{"class": "circle", "count": 2, "color": "red"}]}; '
                                             "omit to derive it from the brief")] = None,
    max_iterations: Annotated[int, O.limits("max_iterations")] = O.default("max_iterations"),
    seed: Annotated[int | None, O.limits("seed")] = None,
    variants: Annotated[int, O.limits("candidates")] = O.default("candidates"),
    max_seconds: Annotated[float | None, O.limits("max_seconds")] = None,
    max_cost_usd: Annotated[float | None, O.limits("max_cost_usd")] = None,
    reference_images: Annotated[list[str], Field(description="paths of reference images on the server")] = [],
    image_model: Annotated[str | None, Field(description="image back end; default {image_model}")] = None,
    video_model: Annotated[str | None, Field(description="video back end, e.g. local:shapes-animate: a brief "
                                             "that asks for motion then gets a clip{video_default}")] = None,
    critic: Annotated[str | None, Field(description="critic; default {critic}")] = None,
    llm: Annotated[str | None, Field(description="director; default {llm}")] = None,
    mode: Annotated[Literal["agent", "loop"], O.limits("mode")] = O.default("mode"),
    edits: Annotated[bool, O.limits("edits")] = O.default("edits"),
    rewrite: Annotated[Literal["auto", "off"], O.limits("rewrite")] = O.default("rewrite"),
    # the image settings, as `atelier run --steps/--guidance/--size/--sampler` (agent.core.image_settings);
    # one the image model does not take is refused in the CLI's words before anything is made
    steps: Annotated[int | None, O.limits("steps")] = None,
    guidance: Annotated[float | None, O.limits("guidance")] = None,
    size: Annotated[str | None, O.limits("size")] = None,
    sampler: Annotated[str | None, O.limits("sampler")] = None,
) -> CallToolResult:
    """Run the whole agent loop on a brief: refine the prompt, generate, critique, edit or regenerate
    until the critic approves or the budget is spent. Returns the best image (or clip, when a video
    model is set and the brief asks for motion) and the run's record (every attempt with its prompt,
    seed and verdict)."""
    state.allowed(llm=llm, image=image_model, video=video_model, critic=critic)
    options = O.parse(llm=llm or state.llm, image_model=image_model or state.image_model, critic=critic or state.critic,
                      video_model=video_model or state.video_model, mode=mode, edits=edits, rewrite=rewrite,
                      max_iterations=max_iterations, max_seconds=max_seconds, max_cost_usd=max_cost_usd,
                      candidates=variants, seed=seed, steps=steps, guidance=guidance, size=size, sampler=sampler)
    reference_images = [str(state.server_image(p)) for p in reference_images]
    studio = Studio(**options.studio_fields(), runs_dir=state.store.root)
    res = studio.run(brief, spec=spec, reference_images=reference_images, owner=caller(),
                     **options.brief_fields())
    summary = res.summary()
    if res.status == "failed":
        raise ToolError(f"run {res.run_id} failed: {res.error}")
    outcome = "approved" if res.approved else f"not checked: {res.error}" if res.status == "unverified" \
        else f"not approved ({res.record.stop_reason})"
    best = res.best
    images = [best.artifact.path] if best and best.artifact.kind == "image" else []
    clips = clips_of(res.record, [best.index] if best else [])
    data = {**summary, "run": f"atelier://runs/{res.run_id}"}
    if clips:
        data["clips"] = media_data(clips, state.inline_limit)
        data["best"] = {**data["best"], "kind": "video", "frames": best.artifact.meta.get("frames"),
                        "fps": best.artifact.meta.get("fps")}
        if checks := (best.verdict.frames if best.verdict else []):
            data["best"]["verdict"] = {**(data["best"]["verdict"] or {}),
                                       "frames": [c.model_dump(mode="json") for c in checks]}
    text = (f"run {res.run_id}: {outcome} after {res.record.iterations} round(s), {len(res.attempts)} attempt(s)"
            + (f"; best is attempt {best.index}{' (a clip)' if clips else ''}, prompt {best.prompt!r}"
               if best else ""))
    return result(text, images, data, clips, state.inline_limit)


def generate_image(
    state: McpState,
    prompt: Annotated[str, Field(min_length=1, description="the generation prompt")],
    run_id: Annotated[str | None, Field(description="add the images to this run; omit for a new run")] = None,
    negative_prompt: Annotated[str, Field(description="what to avoid")] = "",
    seed: Annotated[int | None, request_field("seed", description="first seed; omit for the run's next")] = None,
    n: Annotated[int, O.limits("candidates", description="how many images")] = 1,
    guidance: Annotated[float | None, request_field("guidance", description="guidance scale")] = None,
    steps: Annotated[int | None, request_field("steps", description="denoising steps")] = None,
    width: Annotated[int | None, request_field("width", description="from the model's size menu")] = None,
    height: Annotated[int | None, request_field("height", description="from the model's size menu")] = None,
    model: Annotated[str | None, Field(description="image back end; default {image_model}")] = None,
    critic: Annotated[str | None, Field(description="critic for a new run; default {critic}")] = None,
) -> CallToolResult:
    """Generate n images from a prompt; each is judged by the critic at once. Returns the images
    and, per attempt, its number, seed, path and verdict."""
    from tools.generate_image import generate_image as tool
    record, reply = state.on_run(run_id, prompt, model, critic, seed, lambda ctx: tool(
        ctx, prompt, negative_prompt=negative_prompt, seed=seed, n=n, guidance=guidance, steps=steps,
        width=width, height=height, model=model))
    return state.reply_result(record, reply)


def edit_image(
    state: McpState,
    run_id: Annotated[str, Field(description="the run that holds the attempt")],
    attempt: Annotated[int, Field(ge=0, description="the number of the attempt to edit")],
    prompt: Annotated[str, Field(min_length=1, description="what the edited image (or region) should show")],
    box: Annotated[tuple[int, int, int, int] | None, Field(description="region to repaint, [x0, y0, x1, y1] "
                                                           "in pixels; omit to redo the whole image")] = None,
    instruction: Annotated[str, Field(description="an edit instruction, for models that take one")] = "",
    strength: Annotated[float, request_field("strength", description="how much may change")] = 0.75,
    seed: Annotated[int | None, request_field("seed")] = None,
    guidance: Annotated[float | None, request_field("guidance")] = None,
    n: Annotated[int, O.limits("candidates", description="how many images")] = 1,
    model: Annotated[str | None, Field(description="image back end; default the run's")] = None,
) -> CallToolResult:
    """Edit an attempt of a run: repaint the region `box` (inpainting) or redo the whole image from
    it (image-to-image). The edits join the run and are judged like any attempt."""
    from tools.edit_image import edit_image as tool
    record, reply = state.on_run(run_id, prompt, model, None, seed, lambda ctx: tool(
        ctx, attempt, prompt, box=box, instruction=instruction, strength=strength, seed=seed,
        guidance=guidance, n=n, model=model))
    return state.reply_result(record, reply)


def typeset_text(
    state: McpState,
    run_id: Annotated[str, Field(description="the run that holds the attempt")],
    attempt: Annotated[int, Field(ge=0, description="the number of the attempt to write on")],
    text: Annotated[str, Field(min_length=1, max_length=limits.CHARS["typeset"], description="the words")],
    box: Annotated[tuple[int, int, int, int] | None, Field(description="[x0, y0, x1, y1] in pixels; or placement")] = None,
    placement: Annotated[Literal["top", "bottom", "left", "right", "center"] | None, Field()] = None,
    font: Annotated[Literal["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"], Field()] = "DejaVu Sans",
    weight: Annotated[Literal["regular", "bold"], Field()] = "bold",
    size: Annotated[int | None, Field(ge=6, le=1000, description="pixels; omit to fit the box")] = None,
    color: Annotated[tuple[int, int, int] | None, Field(description="[r, g, b]; omit for contrast")] = None,
    outline: Annotated[int, Field(ge=0, le=50)] = 0,
    shadow: bool = False,
    plate: Annotated[bool, Field(description="paint the box over first with the colour round it "
                                 "(covers words the model misspelt)")] = False,
) -> CallToolResult:
    """Set exact words onto an attempt's image with a shipped font (fitted to the box; every pixel
    outside it unchanged). The result joins the run as a new attempt, judged by the critic."""
    from tools.typeset_text import typeset_text as tool
    record, reply = state.on_run(run_id, text, None, None, None, lambda ctx: tool(
        ctx, attempt, text, box=box, placement=placement, font=font, weight=weight, size=size, color=color,
        outline=outline, shadow=shadow, plate=plate))
    return state.reply_result(record, reply)


def generate_video(
    state: McpState,
    prompt: Annotated[str, Field(min_length=1, description="what happens in the clip")],
    run_id: Annotated[str | None, Field(description="add the clip to this run; omit for a new run")] = None,
    attempt: Annotated[int | None, Field(ge=0, description="an image attempt of the run to animate")] = None,
    num_frames: Annotated[int | None, request_field("num_frames")] = None,
    fps: Annotated[int | None, request_field("fps")] = None,
    seed: Annotated[int | None, request_field("seed")] = None,
    model: Annotated[str | None, Field(description="video back end, e.g. local:svd or runway:gen4_turbo{video_default}")] = None,
) -> CallToolResult:
    """Make a short clip from a prompt, or animate an image attempt of a run; the critic judges it.
    Returns the clip itself (an MP4 as an embedded video/mp4 resource, a GIF as an image), its
    path and the record (also readable later as the run's resources)."""
    from tools.generate_video import generate_video as tool
    state.allowed(video=model)
    if attempt is not None and run_id is None:
        raise ToolError("attempt needs run_id: the run that holds the image to animate")
    record, reply = state.on_run(run_id, prompt, None, None, seed, lambda ctx: tool(
        ctx, prompt, attempt=attempt, num_frames=num_frames, fps=fps, seed=seed, model=model))
    return state.reply_result(record, reply)


def critique_image(
    state: McpState,
    run_id: Annotated[str | None, Field(description="judge an attempt of this run")] = None,
    attempt: Annotated[int | None, Field(ge=0, description="the attempt's number (with run_id)")] = None,
    image_path: Annotated[str | None, Field(description="or: a PNG/JPEG file on the server")] = None,
    image_base64: Annotated[str | None, Field(description="or: the image itself, base64")] = None,
    brief: Annotated[str | None, Field(description="what the image should show (for a file or base64)")] = None,
    spec: Annotated[SceneSpec | None, Field(description="checkable constraints, GenEval format; "
                                             "omit to derive them from the brief")] = None,
    critic: Annotated[str | None, Field(description="critic; default {critic} or the run's")] = None,
) -> CallToolResult:
    """Judge an image: an attempt of a run (the verdict replaces its old one), or any image given by
    path or as base64 against a brief. Returns the verdict: approved, scores, issues."""
    from agent.core.registry import resolve
    from agent.core.types import Artifact, GenerationRequest
    from tools.critique import critique as tool

    state.allowed(critic=critic)
    sources = [x is not None for x in (run_id, image_path, image_base64)]
    if sum(sources) != 1:
        raise ToolError("give exactly one image: run_id with attempt, image_path, or image_base64")
    if run_id is not None:
        if attempt is None:
            raise ToolError("attempt is required with run_id: the number of the attempt to judge")
        record, reply = state.on_run(run_id, "", None, None, None, lambda ctx: tool(ctx, attempt, critic))
        return state.reply_result(record, reply)
    if attempt is not None:
        raise ToolError("attempt goes with run_id; for a file or base64 image leave it out")
    if not (brief and brief.strip()) and spec is None:
        raise ToolError("brief is required to judge a file or base64 image: say what it should show")
    text = (brief or "").strip() or SceneSpec.model_validate(spec).model_dump_json()
    spec = spec if spec is not None else spec_for(text)
    judge = resolve("critic", critic or state.critic)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="atelier-mcp-upload-") as upload:
        if image_base64 is not None:  # checked in memory, written only once it is a sane image
            image = decode_upload(image_base64)
            path = Path(upload) / "image.png"
            image.save(path)
        else:
            path = state.server_image(image_path)
        artifact = Artifact(path=path, sha256=Artifact.digest(path),
                            request=GenerationRequest(prompt=text, model="external"))
        verdict = judge.critique(artifact, text, spec)
    data = {"verdict": verdict.model_dump(mode="json"),
            "path": str(path) if image_base64 is None else None,
            "spec": spec.to_geneval() if spec else None}
    outcome = "approved" if verdict.approved else "not approved"
    issues = f": {'; '.join(verdict.issues)}" if verdict.issues else ""
    return result(f"{outcome}{issues}", [], data)


TOOLS = (run_brief, generate_image, edit_image, typeset_text, generate_video, critique_image)


def bind(fn: Callable[..., CallToolResult], state: McpState) -> Callable[..., CallToolResult]:
    """`fn` for one server: called without its state, its descriptions naming that server's defaults."""
    defaults = {"{image_model}": state.image_model, "{critic}": state.critic, "{llm}": state.llm,
                "{video_default}": f"; default {state.video_model}" if state.video_model else ""}
    signature = inspect.signature(fn, eval_str=True)
    params = [p.replace(annotation=described(p.annotation, defaults)) for p in list(signature.parameters.values())[1:]]

    def tool(*args, **kwargs):
        return fn(state, *args, **kwargs)

    tool.__name__, tool.__qualname__, tool.__doc__, tool.__module__ = fn.__name__, fn.__name__, fn.__doc__, fn.__module__
    tool.__signature__ = signature.replace(parameters=params)
    tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": signature.return_annotation}
    return tool


def described(annotation: Any, defaults: dict[str, str]) -> Any:
    """An `Annotated[T, Field(...)]` whose description has a default's placeholder, with it filled in."""
    if get_origin(annotation) is not Annotated:
        return annotation
    base, *meta = get_args(annotation)
    for m in list(meta):
        if isinstance(m, FieldInfo) and m.description and any(k in m.description for k in defaults):
            text = m.description
            for key, value in defaults.items():
                text = text.replace(key, value)
            meta.append(Field(description=text))  # pydantic merges the fields: the last description wins
    return Annotated[(base, *meta)]
