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
import json
import sys
from pathlib import Path
from typing import Callable

from pydantic import ConfigDict

from agent.core.defaults import DEFAULT_CRITIC, DEFAULT_IMAGE_MODEL, DEFAULT_LLM
from agent.core.errors import AtelierError, InputError
from agent.surfaces.mcp_callers import DEFAULT, auth_options, caller, identify
from agent.surfaces.mcp_files import ATTEMPT_TYPES

SERVER_NAME = "atelier"
MAX_INLINE_BYTES = 8_000_000  # a clip sent inline in a tool result (the shapes model's are ~10 kB); larger: a link


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
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError
    from mcp.server.mcpserver.tools import Tool

    from agent.core.trust import scrub_paths
    from agent.surfaces.mcp_state import McpState, guarded
    from agent.surfaces.mcp_tools import TOOLS, bind

    state = McpState(runs_dir, llm=llm, image_model=image_model, critic=critic, video_model=video_model,
                     policy=policy, files_dir=files_dir, inline_limit=MAX_INLINE_BYTES)
    own = state.own
    tools = [_strict(Tool.from_function(guarded(bind(fn, state)))) for fn in TOOLS]
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
