"""Trust boundaries (issue 14): the operator's OPENAI_API_KEY never reaches a server a caller names,
remote callers (MCP, brief files, the UI API) choose back ends only from what the operator allows,
and MCP tools read only the server's own files or inline images."""
from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest

from agent.core.errors import ConfigError
from agent.core.trust import TrustPolicy, check_untrusted_spec, llm_key_for
from tests import fakes
from tests.llm_wire import loopback_server

KEY = "sk-operator-secret-0123456789"
REPLY = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
         "choices": [{"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": '{"include": []}'}}]}


@pytest.fixture
def listener():
    """A loopback OpenAI-compatible server that records every Authorization header it receives."""
    seen: list[str] = []

    def respond(headers):
        seen.append(headers.get("Authorization", ""))
        return 200, REPLY

    with loopback_server(respond) as server:
        server.seen = seen
        yield server


@pytest.fixture(autouse=True)
def operator_key(monkeypatch):
    from agent.core import registry
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for var in ("ATELIER_ALLOWED_LLM_URLS", "ATELIER_ALLOW_LOOPBACK_LLM", "OPENAI_COMPATIBLE_API_KEY",
                "OPENAI_COMPATIBLE_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    registry.resolve.cache_clear()
    yield
    registry.resolve.cache_clear()


@pytest.fixture
def fake_backends(monkeypatch):
    yield from fakes.installed(monkeypatch)


def _no_key(listener) -> None:
    assert all(KEY not in header for header in listener.seen), listener.seen


# ---- keys bound to their services -------------------------------------------------------------------
def test_the_openai_key_never_goes_to_a_compatible_server(listener, monkeypatch):
    from pydantic import BaseModel

    from agent.llm.openai import OpenAICompatibleLLM

    class Spec(BaseModel):
        include: list = []

    llm = OpenAICompatibleLLM(f"m@{listener.url}", max_retries=0)
    llm.structured("", "hi", Spec)
    assert listener.seen and listener.seen[-1] == "Bearer not-needed"
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "local-key")
    OpenAICompatibleLLM(f"m@{listener.url}", max_retries=0).structured("", "hi", Spec)
    assert listener.seen[-1] == "Bearer not-needed"  # a key goes only to the server the operator named for it
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", listener.url)
    OpenAICompatibleLLM(f"m@{listener.url}", max_retries=0).structured("", "hi", Spec)
    assert listener.seen[-1] == "Bearer local-key"
    _no_key(listener)


def test_which_key_goes_where(monkeypatch):
    assert llm_key_for("https://api.openai.com/v1") == (KEY, "OPENAI_API_KEY")
    assert llm_key_for("http://api.openai.com/v1")[0] is None  # never over plain http
    assert llm_key_for("https://evil.example/v1")[0] is None
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.corp/v1")  # the operator bound it, as the SDK does
    assert llm_key_for("https://gateway.corp/v1/") == (KEY, "OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "compat")
    assert llm_key_for("https://evil.example/v1")[0] is None  # not named for it
    monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", "https://models.corp/v1,http://localhost:11434/v1,http://10.0.0.5:8000/v1")
    assert llm_key_for("https://models.corp/v1") == ("compat", "OPENAI_COMPATIBLE_API_KEY")
    assert llm_key_for("https://evil.example/v1")[0] is None
    assert llm_key_for("http://10.0.0.5:8000/v1")[0] is None  # plain http to another host: no key
    assert llm_key_for("http://localhost:11434/v1")[0] == "compat"
    assert llm_key_for("http://localhost:9999/v1")[0] is None  # another local port: not the one named


# ---- the policy -------------------------------------------------------------------------------------
def test_untrusted_specs_only_from_what_the_operator_allows(monkeypatch):
    closed = TrustPolicy.from_env(["openai-compatible:q@http://127.0.0.1:1/v1"])
    for kind, spec in [("llm", "openai-compatible:m@http://127.0.0.1:9/v1"),
                       ("llm", "openai-compatible:m@http://localhost:9/v1"),
                       ("llm", "openai-compatible:m@https://evil.example/v1"),
                       ("critic", "critic:vlm@openai-compatible:m@https://evil.example/v1"),
                       ("critic", "critic:detector+vlm@openai-compatible:m@http://[::1]:9/v1"),
                       ("llm", "scripted:/etc/passwd")]:
        with pytest.raises(ConfigError) as e:
            check_untrusted_spec(kind, spec, closed)
        assert "\n" not in str(e.value) and ("not allowed" in str(e.value))
    with pytest.raises(ConfigError, match="evil.example"):
        check_untrusted_spec("llm", "openai-compatible:m@https://evil.example/v1", closed)
    with pytest.raises(ConfigError, match="not a URL"):
        check_untrusted_spec("llm", "openai-compatible:m@notaurl", closed)
    for spec in (None, "", "offline", "anthropic:claude-sonnet-4-6", "openai:gpt-4o", "critic:vlm",
                 "openai-compatible:q@http://127.0.0.1:1/v1"):  # the last is the operator's own default
        check_untrusted_spec("llm" if spec != "critic:vlm" else "critic", spec, closed)

    monkeypatch.setenv("ATELIER_ALLOWED_LLM_URLS", "https://llm.corp:8443/v1, http://gpu-box:8000/v1")
    monkeypatch.setenv("ATELIER_ALLOW_LOOPBACK_LLM", "1")
    open_ = TrustPolicy.from_env()
    check_untrusted_spec("llm", "openai-compatible:m@https://LLM.corp:8443/v1/", open_)
    check_untrusted_spec("critic", "critic:vlm@openai-compatible:m@http://gpu-box:8000/v1", open_)
    check_untrusted_spec("llm", "openai-compatible:m@http://127.0.0.1:9/v1", open_)
    with pytest.raises(ConfigError, match="https://llm.corp:9999/v1"):
        check_untrusted_spec("llm", "openai-compatible:m@https://llm.corp:9999/v1", open_)
    with pytest.raises(ConfigError, match="not allowed"):  # the same host over another scheme is another server
        check_untrusted_spec("llm", "openai-compatible:m@http://llm.corp:8443/v1", open_)


def test_a_bad_server_url_is_refused_up_front_without_a_request():
    from agent.core import registry
    with pytest.raises(ConfigError, match="not a URL"):
        registry.resolve("llm", "openai-compatible:m@notaurl")


# ---- the routes a remote caller has -----------------------------------------------------------------
def call(server, tool: str, args: dict):
    async def main():
        return await server.call_tool(tool, args)
    try:
        return False, anyio.run(main)
    except Exception as e:  # the SDK raises ToolError for a tool's error
        return True, str(e)


def test_mcp_clients_cannot_send_the_key_anywhere(listener, tmp_path, fake_backends, monkeypatch):
    from agent.surfaces.mcp_server import build_server
    server = build_server(tmp_path / "runs", image_model="test:flat", critic="critic:seed")
    img = base64.b64encode(_png()).decode()
    for tool, args in [
        ("run_brief", {"brief": "a red circle", "llm": f"openai-compatible:m@{listener.url}", "max_iterations": 1}),
        ("run_brief", {"brief": "a red circle", "critic": f"critic:vlm@openai-compatible:m@{listener.url}"}),
        ("critique_image", {"image_base64": img, "brief": "a red circle",
                            "critic": f"critic:vlm@openai-compatible:m@{listener.url}"}),
        ("generate_image", {"prompt": "x", "critic": f"critic:vlm@openai-compatible:m@{listener.url}"}),
    ]:
        failed, out = call(server, tool, args)
        assert failed and "not allowed" in out and listener.url in out, (tool, out)
    assert listener.seen == []
    assert not [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]  # no empty mcp-* folders

    # the operator opted in to local servers: the call goes there, without the operator's key
    monkeypatch.setenv("ATELIER_ALLOW_LOOPBACK_LLM", "1")
    server = build_server(tmp_path / "runs", image_model="test:flat", critic="critic:seed")
    call(server, "run_brief", {"brief": "a red circle", "llm": f"openai-compatible:m@{listener.url}",
                               "max_iterations": 1})
    assert listener.seen
    _no_key(listener)


def test_brief_files_cannot_name_servers(listener, tmp_path):
    from agent.surfaces.batch import BriefFileError, load_briefs
    f = tmp_path / "briefs.jsonl"
    f.write_text(json.dumps({"id": "a", "brief": "a red circle", "llm": f"openai-compatible:m@{listener.url}"}) + "\n"
                 + json.dumps({"id": "b", "brief": "x", "critic": "critic:vlm@openai-compatible:m@https://e.x/v1"})
                 + "\n")
    with pytest.raises(BriefFileError) as e:
        load_briefs(f)
    assert "entry 1 (id 'a'), field 'llm'" in str(e.value) and "entry 2 (id 'b'), field 'critic'" in str(e.value)
    # the operator's own default (a CLI argument) is theirs to choose
    f.write_text(json.dumps({"id": "a", "brief": "a red circle"}) + "\n")
    load_briefs(f, {"llm": f"openai-compatible:m@{listener.url}"})
    assert listener.seen == []


# ---- MCP files ----------------------------------------------------------------------------------------
def _png(size=(16, 16)) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, "PNG")
    return out.getvalue()


def test_mcp_reads_only_its_own_files_and_keeps_no_uploads(tmp_path, fake_backends):
    from agent.surfaces.mcp_server import build_server
    runs, files = tmp_path / "runs", tmp_path / "files"
    files.mkdir()
    server = build_server(runs, image_model="test:flat", critic="critic:seed", files_dir=files)
    outside = tmp_path / "secret.png"
    outside.write_bytes(_png())
    not_image = runs / "notes.txt"
    not_image.write_text("hello")
    loose = runs / "loose.png"  # in the runs folder but in no run of the caller's
    loose.write_bytes(_png())
    answers = set()
    for path in (outside, tmp_path / "missing.png", not_image, runs / "index.sqlite", loose):
        failed, out = call(server, "critique_image", {"image_path": str(path), "brief": "a red circle"})
        assert failed
        assert str(path.parent) not in out  # the server's folders are not the caller's to know
        answers.add(out.replace(path.name, "NAME"))
    assert len(answers) == 1, answers  # no oracle: the same answer whatever the reason
    failed, out = call(server, "run_brief", {"brief": "a red circle", "reference_images": [str(outside)]})
    assert failed and "image not found" in out

    (files / "mine.png").write_bytes(_png())
    failed, made = call(server, "generate_image", {"prompt": "a red circle", "seed": 1})
    assert not failed, made
    for inside in (files / "mine.png", made.structured_content["attempts"][0]["path"]):
        failed, out = call(server, "critique_image", {"image_path": str(inside), "brief": "a red circle"})
        assert not failed, out

    before = set(runs.iterdir())
    failed, out = call(server, "critique_image", {"image_base64": base64.b64encode(_png()).decode(),
                                                  "brief": "a red circle"})
    assert not failed, out
    assert set(runs.iterdir()) == before  # nothing of the upload stays
    bomb = base64.b64encode(_bomb()).decode()
    failed, out = call(server, "critique_image", {"image_base64": bomb, "brief": "x"})
    assert failed and "too large" in out
    assert set(runs.iterdir()) == before


def _bomb() -> bytes:
    """A PNG whose header says 12000×12000 (144 Mpx), a few KB on disk."""
    from PIL import Image
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG")
    return out.getvalue()


def test_a_reference_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    from PIL import Image

    from agent.core.artifacts import check_image_header, load_image
    from agent.core.errors import InputError
    from agent.core.types import Brief
    big = tmp_path / "big.png"
    Image.new("1", (11000, 11000)).save(big)  # 121 Mpx: under Pillow's own 2x bomb limit, over ours
    with pytest.raises(InputError, match="too large"):
        check_image_header(big)
    with pytest.raises(InputError, match="too large"):
        load_image(big)
    with pytest.raises(ValueError, match="too large"):
        Brief(text="x", reference_images=[big])


# ---- bounded time, one line ---------------------------------------------------------------------------
@pytest.fixture
def hostile():
    """A loopback server whose behaviour a test sets: `hang` seconds of silence, or a status,
    headers and raw body."""
    state = {"hang": 0.0, "status": 200, "headers": {}, "body": b"not json at all", "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            import time
            state["requests"] += 1
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if state["hang"]:
                time.sleep(state["hang"])
            self.send_response(state["status"])
            for k, v in {"Content-Type": "application/json", **state["headers"]}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(state["body"])))
            self.end_headers()
            self.wfile.write(state["body"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def _ask(url):
    from pydantic import BaseModel

    from agent.llm.openai import OpenAICompatibleLLM

    class Spec(BaseModel):
        include: list = []
    return OpenAICompatibleLLM(f"m@{url}").structured("", "hi", Spec)


def test_a_hung_server_fails_within_the_deadline_the_user_set(hostile, monkeypatch):
    import time

    from agent.core.errors import ServiceError
    monkeypatch.setenv("ATELIER_LLM_TIMEOUT", "2")
    hostile["hang"] = 30
    t0 = time.monotonic()
    with pytest.raises(ServiceError) as e:
        _ask(hostile["url"])
    assert time.monotonic() - t0 < 2 + 6  # the deadline, plus the SDK's short backoffs
    message = str(e.value)
    assert message.startswith("openai-compatible:") and "no reply" in message and "ATELIER_LLM_TIMEOUT" in message
    assert "\n" not in message


def test_a_bad_deadline_setting_is_one_line(monkeypatch):
    monkeypatch.setenv("ATELIER_LLM_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="ATELIER_LLM_TIMEOUT"):
        _ask("http://127.0.0.1:9/v1")


def test_retry_after_longer_than_the_deadline_fails_at_once(hostile):
    from agent.core.errors import ServiceError
    hostile.update(status=429, headers={"Retry-After": "3600"},
                   body=b'{"error": {"message": "slow down", "type": "rate_limit"}}')
    with pytest.raises(ServiceError) as e:
        _ask(hostile["url"])
    assert hostile["requests"] == 1
    assert "asked to wait 3600 s" in str(e.value) and "tried" not in str(e.value)


def test_a_malformed_reply_names_the_service(hostile):
    from agent.core.errors import MalformedOutput
    with pytest.raises(MalformedOutput) as e:
        _ask(hostile["url"])
    assert str(e.value).startswith("openai-compatible:") and "JSONDecodeError" not in str(e.value)[:40]


def test_seeds_near_the_top_wrap_around():
    from agent.core.types import GenerationRequest
    assert GenerationRequest(prompt="x", seed=2**32 - 1).seed == 2**32 - 1
    assert GenerationRequest(prompt="x", seed=2**32 + 3).seed == 3
    with pytest.raises(ValueError):
        GenerationRequest(prompt="x", seed=-1)


def test_the_operator_flags_add_to_the_environment(monkeypatch):
    policy = TrustPolicy.from_env(allowed_urls=["https://llm.corp/v1"], allow_loopback=True)
    check_untrusted_spec("llm", "openai-compatible:m@https://llm.corp/v1", policy)
    check_untrusted_spec("llm", "openai-compatible:m@http://localhost:11434/v1", policy)
    with pytest.raises(ConfigError, match="--allow-llm-url"):
        TrustPolicy.from_env(allowed_urls=["notaurl"])


# ---- containment, caller tokens, what a caller is told (issue 27) --------------------------------------
def test_contained_follows_links_and_says_the_same_for_missing_and_outside(tmp_path):
    from agent.core.errors import InputError
    from agent.core.trust import contained
    root, out = tmp_path / "root", tmp_path / "out"
    (root / "run").mkdir(parents=True)
    out.mkdir()
    (root / "run" / "a.png").write_bytes(b"x")
    (out / "secret").write_text("s")
    (root / "run" / "link.png").symlink_to(out / "secret")
    (root / "dirlink").symlink_to(out, target_is_directory=True)
    assert contained(root / "run" / "a.png", [root]) == (root / "run" / "a.png").resolve()
    assert contained(root / "run", [root], kind="dir").name == "run"
    assert contained(root / "run" / "gone.png", [root], kind=None).name == "gone.png"  # inside, not there yet
    answers = set()
    for path in (root / "run" / "link.png", root / "dirlink" / "secret", root / "run" / ".." / ".." / "out" / "secret",
                 root / "run" / "missing.png", Path("/etc/passwd"), root / "run"):
        with pytest.raises(InputError) as e:
            contained(path, [root], what="attempt")
        answers.add(str(e.value))
    assert answers == {"attempt not found"}
    with pytest.raises(InputError):
        contained(root / "dirlink", [root], kind="dir")


def test_caller_tokens_from_a_file_or_inline(tmp_path, monkeypatch):
    from agent.core.trust import caller_tokens, scrub_paths
    f = tmp_path / "tokens"
    f.write_text("# the callers\nalice:" + "a" * 16 + "\n\nbob:" + "b" * 20 + "\nalice:" + "c" * 16 + "\n")
    assert caller_tokens(str(f)) == {"a" * 16: "mcp:alice", "b" * 20: "mcp:bob", "c" * 16: "mcp:alice"}
    assert caller_tokens(f"alice:{'a' * 16}, bob:{'b' * 16}") == {"a" * 16: "mcp:alice", "b" * 16: "mcp:bob"}
    assert caller_tokens(None) == {} and caller_tokens(" ") == {}
    for bad, needle in ((f"alice:{'a' * 15}", "16 or more"), (f"al ice:{'a' * 16}", "NAME"),
                        (f"a:{'x' * 16},b:{'x' * 16}", "already mcp:a's"), ("no-such-file", "not a file")):
        with pytest.raises(ConfigError, match=needle) as e:
            caller_tokens(bad)
        assert "x" * 16 not in str(e.value)  # a token is never repeated in an error
    assert scrub_paths(f"cannot open {tmp_path}/w.bin ('/etc/passwd') at http://127.0.0.1:8/v1") == \
        "cannot open w.bin ('passwd') at http://127.0.0.1:8/v1"
