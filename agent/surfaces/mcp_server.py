"""`atelier mcp`: Atelier's tools for other agents, over MCP (the official `mcp` SDK, 2.x: `MCPServer`,
the former FastMCP), on stdio or streamable HTTP.

Tools: `run_brief` (the whole agent loop), `generate_image`, `edit_image`, `generate_video` and
`critique_image`. Each returns its images as MCP image content and its clips inline too (a GIF as image
content, an MP4 as an embedded resource: a blob with mimeType video/mp4 and the attempt's resource URI;
a clip over MAX_INLINE_BYTES comes as a resource link instead), then the JSON record as text, and the
same record as structured content. Their arguments are typed, so the SDK derives each input
schema and validates calls against it; unknown arguments are refused too. Failures the caller can
fix come back as tool errors (`isError`) with one clear line.

The image tools work on a run: without `run_id` each call starts a new run (its id comes back,
and later calls can name it, e.g. to edit an attempt); with `run_id` the new attempts join that
run, as the UI's "iterate on this" does. Runs are resources: `atelier://runs` (the index),
`atelier://runs/{run_id}` (its run.json) and `atelier://runs/{run_id}/attempts/{index}.png` (the file,
typed by its suffix: .png, .gif, .mp4, .webm; the untyped `.../attempts/{index}` also reads it).

Callers have identities and see only their own runs (agent/surfaces/mcp_callers.py): over stdio
the operator, over HTTP the name of their bearer token, or one identity for the whole server.
Every failure reaches the client as one line without the server's absolute paths.
"""
import base64
import json
import logging
import secrets
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

from pydantic import ConfigDict, Field, ValidationError

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import AtelierError, InputError, StopRun, one_line
from agent.core import limits
from agent.core.options import RunOptions as O
from agent.core.types import Budget, GenerationRequest, SceneSpec
from agent.surfaces.mcp_callers import DEFAULT, CallerRuns, auth_options, caller, identify
from agent.surfaces.mcp_files import ATTEMPT_TYPES, attempt_uri, decode_upload, mime_of

log = logging.getLogger("atelier")

SERVER_NAME = "atelier"
MAX_ROUNDS = limits.bounds(Budget, "max_iterations")["le"]  # a run that long is full
MAX_INLINE_BYTES = 8_000_000  # a clip sent inline in a tool result (the shapes model's are ~10 kB); larger: a link
# a generation parameter's limits as GenerationRequest defines them (its default left to the parameter)
request_field = partial(limits.field_of, GenerationRequest, default=...)


def build_server(runs_dir: str | Path = "runs", *, llm: str = DEFAULT_LLM, image_model: str = DEFAULT_IMAGE_MODEL,
                 critic: str = DEFAULT_CRITIC, video_model: str | None = None,
                 policy=None, files_dir: str | Path | None = None, tokens: dict[str, str] | None = None,
                 http_identity: str = DEFAULT):
    """The MCP server over the runs in `runs_dir`, with these back ends as defaults.

    Clients are not the operator: the back ends they name pass `check_untrusted_spec` under `policy`
    (default: TrustPolicy.from_env with these defaults allowed), and the image files they name must
    lie in their own run folders or `files_dir` (else the same "image not found" as for a missing
    file). Over HTTP a caller is the identity its bearer token has in `tokens` (token -> "mcp:NAME";
    a request without one is refused), or `http_identity` when there are no tokens."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
    from mcp.server.mcpserver.tools import Tool
    from mcp.types import (BlobResourceContents, CallToolResult, EmbeddedResource, ImageContent, ResourceLink,
                           TextContent)

    from agent.surfaces.api import Studio, spec_for
    from agent.run.context import RunContext
    from agent.core.records import RunStore
    from agent.core.types import Brief, RunRecord

    from agent.core.trust import TrustPolicy, check_untrusted_spec, scrub_paths

    store = RunStore(runs_dir)
    policy = (policy or TrustPolicy.from_env()).with_operator(llm, image_model, critic, video_model)
    files_root = Path(files_dir).expanduser().resolve() if files_dir else None
    own = CallerRuns(store, files_root)
    locks: dict[str, threading.Lock] = {}
    locks_guard = threading.Lock()

    def lock_for(run_id: str) -> threading.Lock:
        with locks_guard:
            return locks.setdefault(run_id, threading.Lock())

    def result(text: str, images: list[Path], data: dict[str, Any],
               clips: list[tuple[Path, str]] = ()) -> CallToolResult:
        """Text, then the images, then the clips ((path, resource URI): a GIF as image content, any
        other clip as an embedded blob, or a link when it is over MAX_INLINE_BYTES), then the record."""
        content: list[Any] = [TextContent(type="text", text=text)]
        for path in images:
            content.append(ImageContent(type="image", data=base64.b64encode(Path(path).read_bytes()).decode(),
                                        mime_type=mime_of(path)))
        for path, uri in clips:
            content.append(clip_content(Path(path), uri))
        content.append(TextContent(type="text", text=json.dumps(data)))
        return CallToolResult(content=content, structured_content=data)

    def clip_content(path: Path, uri: str):
        mime, size = mime_of(path), path.stat().st_size
        if size > MAX_INLINE_BYTES:
            return ResourceLink(type="resource_link", uri=uri, name=path.name, mime_type=mime, size=size,
                                description=f"a clip of {size:,} bytes: read this resource to get it")
        blob = base64.b64encode(path.read_bytes()).decode()
        if mime.startswith("image/"):  # a GIF: clients show it as an (animated) image
            return ImageContent(type="image", data=blob, mime_type=mime)
        return EmbeddedResource(type="resource", resource=BlobResourceContents(uri=uri, mime_type=mime, blob=blob))

    def clips_of(record: RunRecord, indexes) -> list[tuple[Path, str]]:
        """The clips among these attempts of `record`, with their resource URIs."""
        wanted = set(indexes)
        return [(a.artifact.path, attempt_uri(record.run_id, a.index, a.artifact.path))
                for a in record.attempts if a.index in wanted and a.artifact.kind == "video"]

    def media_data(clips: list[tuple[Path, str]]) -> list[dict[str, Any]]:
        """What the structured result says of each clip sent: where it is, its type and size, inline or not."""
        return [{"path": str(Path(p).resolve()), "uri": uri, "mime_type": mime_of(p), "bytes": Path(p).stat().st_size,
                 "inline": Path(p).stat().st_size <= MAX_INLINE_BYTES} for p, uri in clips]

    def guarded(fn: Callable[..., CallToolResult]) -> Callable[..., CallToolResult]:
        """Every error becomes a tool error with one line and no server paths: what the caller can
        fix as it is, anything else as "internal error" with its kind and first line (the SDK would
        send only "Error executing tool"), its traceback in the server's log."""
        import functools

        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (ToolError, AtelierError, StopRun) as e:
                raise ToolError(_one_line(scrub_paths(str(e)))) from None
            except ValidationError as e:  # a field over its limit (agent.core.limits), a bad value
                raise ToolError(_one_line(scrub_paths(one_line(e, "input")))) from None
            except Exception as e:
                log.exception("MCP tool %s failed", fn.__name__)
                raise ToolError(f"internal error ({type(e).__name__}: {_one_line(scrub_paths(str(e)))}); "
                                f"the server's log has the details") from None
        return call

    def allowed(**specs: str | None) -> None:
        """Back ends a client names: only what the operator allows (agent/core/trust.py)."""
        for kind, spec in specs.items():
            check_untrusted_spec(kind, spec, policy)

    def server_image(name: str) -> Path:
        """A file the client names: an image under the server's folders. Missing, outside them or not
        an image all get the same answer, so a client learns nothing about other files."""
        from agent.core.artifacts import check_image_header
        try:
            path = own.image(name, caller())
            check_image_header(path)
        except (InputError, OSError, ValueError):
            raise InputError(f"image not found: {Path(name).name} (a PNG or JPEG file in one of your runs"
                             + (" or in the server's files folder" if files_dir else "")
                             + ", or give image_base64)") from None
        return path

    def on_run(run_id: str | None, prompt: str, model: str | None, critic_: str | None, seed: int | None,
               work: Callable[[RunContext], Any]) -> tuple[RunRecord, Any]:
        """Do `work` in the run `run_id` (loaded, one call at a time) or in a new run for `prompt`.
        A new run that fails before it recorded an attempt leaves no folder behind."""
        allowed(image=model, critic=critic_)
        who = caller()
        if run_id is not None:
            own.folder(run_id, who)  # before a lock is made for it: another's run is "no run" at once
        if run_id is None:
            brief = Brief(text=prompt, seed=secrets.randbelow(2**31) if seed is None else seed)
            record = RunRecord(run_id="mcp-" + store.new_id(), brief=brief, spec=spec_for(prompt), options=O.parse(
                llm="mcp", image_model=model or image_model, critic=critic_ or critic, video_model=video_model,
                seed=brief.seed))
        else:
            record = None
        with lock_for(run_id or record.run_id):
            if record is None:
                record = own.load(run_id, who)
                if record.iterations >= MAX_ROUNDS:
                    raise InputError(f"run {run_id!r} has {record.iterations} rounds, the most a run holds; "
                                     f"start a new run (omit run_id)")
            budget = record.brief.budget
            budget.max_iterations = max(budget.max_iterations, record.iterations + 1)
            budget.max_generations = budget.max_seconds = budget.max_cost_usd = None  # a direct call is its own budget
            from agent.core.registry import resolve
            new = run_id is None
            try:
                resolve("critic", record.critic)
                ctx = RunContext(record, store, video_model=video_model, owner=who)
                own.folder(record.run_id, who, new=new)  # never write through a link out of the runs folder
                out = work(ctx)
            except BaseException:
                if new and not record.attempts:
                    import shutil
                    shutil.rmtree(store.run_dir(record.run_id), ignore_errors=True)
                raise
            if record.approved:
                record.status, record.stop_reason = "approved", f"attempt {record.best.index} approved"
            elif record.status == "running":
                record.status, record.stop_reason = "ended", "made by a direct tool call"
            ctx.save()
            return record, out

    def reply_result(record: RunRecord, reply) -> CallToolResult:
        clips = clips_of(record, [a["index"] for a in reply.data.get("attempts", [])])
        data = {"run_id": record.run_id, **reply.data, "approved": record.approved,
                "run": f"atelier://runs/{record.run_id}"}
        if clips:
            data["clips"] = media_data(clips)
        return result(f"run {record.run_id}: {reply.text}", list(reply.images), data, clips)

    # ---- tools ----------------------------------------------------------------------------------
    def run_brief(
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
        image_model: Annotated[str | None, Field(description=f"image back end; default {image_model}")] = None,
        video_model: Annotated[str | None, Field(description="video back end, e.g. local:shapes-video: a brief "
                                                 "that asks for motion then gets a clip"
                                                 + (f"; default {video_model}" if video_model else ""))] = None,
        critic: Annotated[str | None, Field(description=f"critic; default {critic}")] = None,
        llm: Annotated[str | None, Field(description=f"director; default {llm}")] = None,
        mode: Annotated[Literal["agent", "loop"], O.limits("mode")] = O.default("mode"),
        edits: Annotated[bool, O.limits("edits")] = O.default("edits"),
        rewrite: Annotated[Literal["auto", "off"], O.limits("rewrite")] = O.default("rewrite"),
    ) -> CallToolResult:
        """Run the whole agent loop on a brief: refine the prompt, generate, critique, edit or regenerate
        until the critic approves or the budget is spent. Returns the best image (or clip, when a video
        model is set and the brief asks for motion) and the run's record (every attempt with its prompt,
        seed and verdict)."""
        allowed(llm=llm, image=image_model, video=video_model, critic=critic)
        options = O.parse(llm=llm or _llm, image_model=image_model or _image_model, critic=critic or _critic,
                          video_model=video_model or _video_model, mode=mode, edits=edits, rewrite=rewrite,
                          max_iterations=max_iterations, max_seconds=max_seconds, max_cost_usd=max_cost_usd,
                          candidates=variants, seed=seed)
        reference_images = [str(server_image(p)) for p in reference_images]
        studio = Studio(**options.studio_fields(), runs_dir=store.root)
        res = studio.run(brief, spec=spec, reference_images=reference_images, owner=caller(),
                         **options.brief_fields())
        summary = res.summary()
        if res.status == "failed":
            raise ToolError(f"run {res.run_id} failed: {res.error}")
        state = "approved" if res.approved else f"not checked: {res.error}" if res.status == "unverified" \
            else f"not approved ({res.record.stop_reason})"
        best = res.best
        images = [best.artifact.path] if best and best.artifact.kind == "image" else []
        clips = clips_of(res.record, [best.index] if best else [])
        data = {**summary, "run": f"atelier://runs/{res.run_id}"}
        if clips:
            data["clips"] = media_data(clips)
            data["best"] = {**data["best"], "kind": "video", "frames": best.artifact.meta.get("frames"),
                            "fps": best.artifact.meta.get("fps")}
            if checks := (best.verdict.frames if best.verdict else []):
                data["best"]["verdict"] = {**(data["best"]["verdict"] or {}),
                                           "frames": [c.model_dump(mode="json") for c in checks]}
        text = (f"run {res.run_id}: {state} after {res.record.iterations} round(s), {len(res.attempts)} attempt(s)"
                + (f"; best is attempt {best.index}{' (a clip)' if clips else ''}, prompt {best.prompt!r}"
                   if best else ""))
        return result(text, images, data, clips)

    def generate_image(
        prompt: Annotated[str, Field(min_length=1, description="the generation prompt")],
        run_id: Annotated[str | None, Field(description="add the images to this run; omit for a new run")] = None,
        negative_prompt: Annotated[str, Field(description="what to avoid")] = "",
        seed: Annotated[int | None, request_field("seed", description="first seed; omit for the run's next")] = None,
        n: Annotated[int, O.limits("candidates", description="how many images")] = 1,
        guidance: Annotated[float | None, request_field("guidance", description="guidance scale")] = None,
        steps: Annotated[int | None, request_field("steps", description="denoising steps")] = None,
        width: Annotated[int | None, request_field("width", description="from the model's size menu")] = None,
        height: Annotated[int | None, request_field("height", description="from the model's size menu")] = None,
        model: Annotated[str | None, Field(description=f"image back end; default {image_model}")] = None,
        critic: Annotated[str | None, Field(description=f"critic for a new run; default {critic}")] = None,
    ) -> CallToolResult:
        """Generate n images from a prompt; each is judged by the critic at once. Returns the images
        and, per attempt, its number, seed, path and verdict."""
        from tools.generate_image import generate_image as tool
        record, reply = on_run(run_id, prompt, model, critic, seed, lambda ctx: tool(
            ctx, prompt, negative_prompt=negative_prompt, seed=seed, n=n, guidance=guidance, steps=steps,
            width=width, height=height, model=model))
        return reply_result(record, reply)

    def edit_image(
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
        record, reply = on_run(run_id, prompt, model, None, seed, lambda ctx: tool(
            ctx, attempt, prompt, box=box, instruction=instruction, strength=strength, seed=seed,
            guidance=guidance, n=n, model=model))
        return reply_result(record, reply)

    def typeset_text(
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
        record, reply = on_run(run_id, text, None, None, None, lambda ctx: tool(
            ctx, attempt, text, box=box, placement=placement, font=font, weight=weight, size=size, color=color,
            outline=outline, shadow=shadow, plate=plate))
        return reply_result(record, reply)

    def generate_video(
        prompt: Annotated[str, Field(min_length=1, description="what happens in the clip")],
        run_id: Annotated[str | None, Field(description="add the clip to this run; omit for a new run")] = None,
        attempt: Annotated[int | None, Field(ge=0, description="an image attempt of the run to animate")] = None,
        num_frames: Annotated[int | None, request_field("num_frames")] = None,
        fps: Annotated[int | None, request_field("fps")] = None,
        seed: Annotated[int | None, request_field("seed")] = None,
        model: Annotated[str | None, Field(description="video back end, e.g. local:svd or runway:gen4_turbo"
                                           + (f"; default {video_model}" if video_model else ""))] = None,
    ) -> CallToolResult:
        """Make a short clip from a prompt, or animate an image attempt of a run; the critic judges it.
        Returns the clip itself (an MP4 as an embedded video/mp4 resource, a GIF as an image), its
        path and the record (also readable later as the run's resources)."""
        from tools.generate_video import generate_video as tool
        allowed(video=model)
        if attempt is not None and run_id is None:
            raise ToolError("attempt needs run_id: the run that holds the image to animate")
        record, reply = on_run(run_id, prompt, None, None, seed, lambda ctx: tool(
            ctx, prompt, attempt=attempt, num_frames=num_frames, fps=fps, seed=seed, model=model))
        return reply_result(record, reply)

    def critique_image(
        run_id: Annotated[str | None, Field(description="judge an attempt of this run")] = None,
        attempt: Annotated[int | None, Field(ge=0, description="the attempt's number (with run_id)")] = None,
        image_path: Annotated[str | None, Field(description="or: a PNG/JPEG file on the server")] = None,
        image_base64: Annotated[str | None, Field(description="or: the image itself, base64")] = None,
        brief: Annotated[str | None, Field(description="what the image should show (for a file or base64)")] = None,
        spec: Annotated[SceneSpec | None, Field(description="checkable constraints, GenEval format; "
                                                 "omit to derive them from the brief")] = None,
        critic: Annotated[str | None, Field(description=f"critic; default {critic} or the run's")] = None,
    ) -> CallToolResult:
        """Judge an image: an attempt of a run (the verdict replaces its old one), or any image given by
        path or as base64 against a brief. Returns the verdict: approved, scores, issues."""
        from agent.core.registry import resolve
        from agent.core.types import Artifact, GenerationRequest
        from tools.critique import critique as tool

        allowed(critic=critic)
        sources = [x is not None for x in (run_id, image_path, image_base64)]
        if sum(sources) != 1:
            raise ToolError("give exactly one image: run_id with attempt, image_path, or image_base64")
        if run_id is not None:
            if attempt is None:
                raise ToolError("attempt is required with run_id: the number of the attempt to judge")
            record, reply = on_run(run_id, "", None, None, None, lambda ctx: tool(ctx, attempt, critic))
            return reply_result(record, reply)
        if attempt is not None:
            raise ToolError("attempt goes with run_id; for a file or base64 image leave it out")
        if not (brief and brief.strip()) and spec is None:
            raise ToolError("brief is required to judge a file or base64 image: say what it should show")
        text = (brief or "").strip() or SceneSpec.model_validate(spec).model_dump_json()
        spec = spec if spec is not None else spec_for(text)
        judge = resolve("critic", critic or _critic)
        import tempfile
        with tempfile.TemporaryDirectory(prefix="atelier-mcp-upload-") as upload:
            if image_base64 is not None:  # checked in memory, written only once it is a sane image
                image = decode_upload(image_base64)
                path = Path(upload) / "image.png"
                image.save(path)
            else:
                path = server_image(image_path)
            artifact = Artifact(path=path, sha256=Artifact.digest(path),
                                request=GenerationRequest(prompt=text, model="external"))
            verdict = judge.critique(artifact, text, spec)
        data = {"verdict": verdict.model_dump(mode="json"),
                "path": str(path) if image_base64 is None else None,
                "spec": spec.to_geneval() if spec else None}
        state = "approved" if verdict.approved else "not approved"
        issues = f": {'; '.join(verdict.issues)}" if verdict.issues else ""
        return result(f"{state}{issues}", [], data)

    _llm, _image_model, _critic, _video_model = llm, image_model, critic, video_model
    tools = [_strict(Tool.from_function(guarded(fn)))
             for fn in (run_brief, generate_image, edit_image, typeset_text, generate_video, critique_image)]
    server = MCPServer(SERVER_NAME, log_level="WARNING", middleware=[identify(http_identity, bool(tokens))],
                       **auth_options(tokens or {}), instructions=(
        "Atelier turns a brief into an approved image: run_brief runs the whole loop (generate, critique, "
        "revise); generate_image / edit_image / generate_video / critique_image are single steps on a run. "
        "Runs are resources: atelier://runs and atelier://runs/{run_id}."), tools=tools)

    # ---- resources ---------------------------------------------------------------------------------
    @server.resource("atelier://runs", name="runs", mime_type="application/json",
                     description="your latest runs, newest first: id, brief, status, best image")
    def runs() -> str:
        return json.dumps(own.listing(caller()), default=str)

    @server.resource("atelier://runs/{run_id}", name="run", mime_type="application/json",
                     description="one of your runs' whole record: brief, spec, options, every attempt and verdict")
    def run(run_id: str) -> str:
        try:  # the record as read (records.read_record): run.json's options leave out what it says elsewhere
            return own.load(run_id, caller()).model_dump_json(indent=1)  # every file it names checked, as for a tool
        except (InputError, OSError) as e:
            raise ResourceNotFoundError(scrub_paths(str(e)) if isinstance(e, InputError) else f"no run {run_id!r}") from None

    def attempt_bytes(run_id: str, index: str, suffix: str | None = None) -> bytes:
        try:
            path = own.attempt_file(run_id, index, caller())
            if suffix is not None and path.suffix.lower() != f".{suffix}":
                raise ValueError(f"attempt {index} is a {path.suffix} file")
            return path.read_bytes()
        except (InputError, ValueError, IndexError, OSError):
            raise ResourceNotFoundError(f"no {suffix.upper() + ' ' if suffix else ''}attempt {index!r} in run "
                                        f"{run_id!r}") from None

    # One template per file type, so a reader gets the file's mime type (a template's is fixed);
    # registered before the untyped one, which would match their URIs too.
    def typed(suffix: str) -> Callable[[str, str], bytes]:
        return lambda run_id, index: attempt_bytes(run_id, index, suffix)

    for suffix, mime in ATTEMPT_TYPES.items():
        server.resource(f"atelier://runs/{{run_id}}/attempts/{{index}}.{suffix}", name=f"attempt {suffix}",
                        mime_type=mime, description=f"a {suffix.upper()} an attempt of one of your runs made")(typed(suffix))

    @server.resource("atelier://runs/{run_id}/attempts/{index}", name="attempt file",
                     mime_type="application/octet-stream",
                     description="the file an attempt of one of your runs made, untyped; the typed URIs "
                                 "(.../attempts/{index}.png, .gif, .mp4) say what it is")
    def attempt_file(run_id: str, index: str) -> bytes:
        return attempt_bytes(run_id, index)

    return server


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _strict(tool):
    """Refuse unknown arguments (the SDK's argument model ignores them) and say so in the schema."""
    base = tool.fn_metadata.arg_model
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, hide_input_in_errors=True,
                        title=f"{tool.name} arguments")
    strict = type(base.__name__, (base,), {"model_config": config, "__module__": base.__module__})
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return tool


def serve(transport: str = "stdio", port: int = 8765, runs_dir: str | Path = "runs", host: str = "127.0.0.1",
          tokens: str | None = None, **defaults) -> None:
    """Serve until the client goes away (stdio) or the process is stopped (streamable-http). Bad
    settings end the process with one line on stderr (stdout belongs to the protocol). `tokens`
    (else ATELIER_MCP_TOKENS): the HTTP callers' bearer tokens, a file or NAME:TOKEN pairs."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        raise SystemExit("error: the MCP server needs the mcp SDK 2.x: pip install 'atelier[mcp]'") from None
    if transport not in ("stdio", "streamable-http", "http"):
        raise SystemExit(f"error: --transport must be stdio or streamable-http, not {transport!r}")
    if not 0 < port < 65536:
        raise SystemExit(f"error: --port must be between 1 and 65535, not {port}")
    import os
    os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")  # argument errors: the field and the problem only
    try:
        from agent.core.trust import MCP_TOKENS_VAR, caller_tokens
        tokens = caller_tokens(tokens if tokens is not None else os.environ.get(MCP_TOKENS_VAR)) \
            if transport != "stdio" else {}  # over stdio the caller is the operator
        server = build_server(runs_dir, tokens=tokens, **defaults)
    except AtelierError as e:
        raise SystemExit(f"error: {e}") from None
    if transport == "stdio":
        server.run("stdio")
    else:
        shown = f"[{host}]" if ":" in host else host
        print(f"atelier mcp: serving MCP over streamable HTTP at http://{shown}:{port}/mcp "
              f"({'bearer tokens for ' + str(len(tokens)) + ' caller(s)' if tokens else 'one caller, mcp:default'}); "
              f"Ctrl-C stops it", file=sys.stderr, flush=True)
        server.run("streamable-http", host=host, port=port)
