"""What every MCP tool of one server shares (`McpState`: the runs, the operator's defaults and trust
policy, the callers' own runs, a lock per run), and how a tool's answer is built (`result`) and its
failures told (`guarded`). The tools themselves are module-level functions in mcp_tools.py, each
taking this state first; agent/surfaces/mcp_server.py binds them to one server. Imported only once
the mcp SDK is known to be there (build_server)."""
import base64
import functools
import json
import logging
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import BlobResourceContents, CallToolResult, EmbeddedResource, ImageContent, ResourceLink, TextContent
from pydantic import ValidationError

from agent.core import limits
from agent.core.errors import AtelierError, InputError, StopRun, one_line
from agent.core.options import RunOptions as O
from agent.core.records import RunStore
from agent.core.trust import TrustPolicy, check_untrusted_spec, scrub_paths
from agent.core.types import Brief, Budget, RunRecord
from agent.run.context import RunContext
from agent.surfaces.mcp_callers import CallerRuns, caller
from agent.surfaces.mcp_files import attempt_uri, mime_of

log = logging.getLogger("atelier")

MAX_ROUNDS = limits.bounds(Budget, "max_iterations")["le"]  # a run that long is full


class McpState:
    """One server's shared state. `llm`, `image_model`, `critic`, `video_model`: the operator's
    defaults (allowed whatever the policy); `files_dir`: a folder of images any caller may name;
    `inline_limit`: the largest clip sent inline in a tool result (larger: a resource link)."""

    def __init__(self, runs_dir: str | Path, *, llm: str, image_model: str, critic: str, video_model: str | None,
                 policy: TrustPolicy | None, files_dir: str | Path | None, inline_limit: int):
        self.inline_limit = inline_limit
        self.llm, self.image_model, self.critic, self.video_model = llm, image_model, critic, video_model
        self.store = RunStore(runs_dir)
        self.policy = (policy or TrustPolicy.from_env()).with_operator(llm, image_model, critic, video_model)
        self.files_dir = Path(files_dir).expanduser().resolve() if files_dir else None
        self.own = CallerRuns(self.store, self.files_dir)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock_for(self, run_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(run_id, threading.Lock())

    def allowed(self, **specs: str | None) -> None:
        """Back ends a client names: only what the operator allows (agent/core/trust.py)."""
        for kind, spec in specs.items():
            check_untrusted_spec(kind, spec, self.policy)

    def server_image(self, name: str) -> Path:
        """A file the client names: an image under the server's folders. Missing, outside them or not
        an image all get the same answer, so a client learns nothing about other files."""
        from agent.core.artifacts import check_image_header
        try:
            path = self.own.image(name, caller())
            check_image_header(path)
        except (InputError, OSError, ValueError):
            raise InputError(f"image not found: {Path(name).name} (a PNG or JPEG file in one of your runs"
                             + (" or in the server's files folder" if self.files_dir else "")
                             + ", or give image_base64)") from None
        return path

    def on_run(self, run_id: str | None, prompt: str, model: str | None, critic: str | None, seed: int | None,
               work: Callable[[RunContext], Any]) -> tuple[RunRecord, Any]:
        """Do `work` in the run `run_id` (loaded, one call at a time) or in a new run for `prompt`.
        A new run that fails before it recorded an attempt leaves no folder behind."""
        from agent.core.registry import resolve
        from agent.surfaces.api import spec_for

        self.allowed(image=model, critic=critic)
        who, store = caller(), self.store
        if run_id is not None:
            self.own.folder(run_id, who)  # before a lock is made for it: another's run is "no run" at once
            record = None
        else:
            brief = Brief(text=prompt, seed=secrets.randbelow(2**31) if seed is None else seed)
            record = RunRecord(run_id="mcp-" + store.new_id(), brief=brief, spec=spec_for(prompt), options=O.parse(
                llm="mcp", image_model=model or self.image_model, critic=critic or self.critic,
                video_model=self.video_model, seed=brief.seed))
        with self.lock_for(run_id or record.run_id):
            if record is None:
                record = self.own.load(run_id, who)
                if record.iterations >= MAX_ROUNDS:
                    raise InputError(f"run {run_id!r} has {record.iterations} rounds, the most a run holds; "
                                     f"start a new run (omit run_id)")
            budget = record.brief.budget
            budget.max_iterations = max(budget.max_iterations, record.iterations + 1)
            budget.max_generations = budget.max_seconds = budget.max_cost_usd = None  # a direct call is its own budget
            new = run_id is None
            try:
                resolve("critic", record.critic)
                ctx = RunContext(record, store, video_model=self.video_model, owner=who)
                self.own.folder(record.run_id, who, new=new)  # never write through a link out of the runs folder
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

    def reply_result(self, record: RunRecord, reply) -> CallToolResult:
        """A tool's reply on a run: its words, images and clips, and the record."""
        clips = clips_of(record, [a["index"] for a in reply.data.get("attempts", [])])
        data = {"run_id": record.run_id, **reply.data, "approved": record.approved,
                "run": f"atelier://runs/{record.run_id}"}
        if clips:
            data["clips"] = media_data(clips, self.inline_limit)
        return result(f"run {record.run_id}: {reply.text}", list(reply.images), data, clips, self.inline_limit)


def result(text: str, images: list[Path], data: dict[str, Any], clips: list[tuple[Path, str]] = (),
           inline_limit: int = 0) -> CallToolResult:
    """Text, then the images, then the clips ((path, resource URI): a GIF as image content, any
    other clip as an embedded blob, or a link when it is over `inline_limit` bytes), then the record."""
    content: list[Any] = [TextContent(type="text", text=text)]
    for path in images:
        content.append(ImageContent(type="image", data=base64.b64encode(Path(path).read_bytes()).decode(),
                                    mime_type=mime_of(path)))
    for path, uri in clips:
        content.append(clip_content(Path(path), uri, inline_limit))
    content.append(TextContent(type="text", text=json.dumps(data)))
    return CallToolResult(content=content, structured_content=data)


def clip_content(path: Path, uri: str, inline_limit: int):
    mime, size = mime_of(path), path.stat().st_size
    if size > inline_limit:
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


def media_data(clips: list[tuple[Path, str]], inline_limit: int) -> list[dict[str, Any]]:
    """What the structured result says of each clip sent: where it is, its type and size, inline or not."""
    return [{"path": str(Path(p).resolve()), "uri": uri, "mime_type": mime_of(p), "bytes": Path(p).stat().st_size,
             "inline": Path(p).stat().st_size <= inline_limit} for p, uri in clips]


def guarded(fn: Callable[..., CallToolResult]) -> Callable[..., CallToolResult]:
    """Every error becomes a tool error with one line and no server paths: what the caller can
    fix as it is, anything else as "internal error" with its kind and first line (the SDK would
    send only "Error executing tool"), its traceback in the server's log."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ToolError, AtelierError, StopRun) as e:
            raise ToolError(one_line_text(scrub_paths(str(e)))) from None
        except ValidationError as e:  # a field over its limit (agent.core.limits), a bad value
            raise ToolError(one_line_text(scrub_paths(one_line(e, "input")))) from None
        except Exception as e:
            log.exception("MCP tool %s failed", fn.__name__)
            raise ToolError(f"internal error ({type(e).__name__}: {one_line_text(scrub_paths(str(e)))}); "
                            f"the server's log has the details") from None
    return call


def one_line_text(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
