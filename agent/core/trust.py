"""Trust boundaries: which back ends a caller who is not the operator may name, and which key goes
to which server.

The operator is whoever starts Atelier: their CLI arguments, environment and server flags are
trusted. Everyone else is not: MCP clients (a tool's `llm`, `critic`, `model` argument), UI users
(the `/run` API's fields) and brief files (an entry's `llm`, `critic`, `image_model`). Such a caller
may name any registered back end, except that

- a spec that carries a server URL (`openai-compatible:MODEL@URL`, `critic:vlm@openai-compatible:...`,
  anything with `://`) is allowed only when the operator configured that server: listed in
  `ATELIER_ALLOWED_LLM_URLS` (comma-separated) or in the server's flag; a loopback URL (localhost,
  127.0.0.0/8, ::1, 0.0.0.0) only when the operator opted in (`ATELIER_ALLOW_LOOPBACK_LLM=1` or the
  flag); anything else is refused with one line naming the URL;
- `scripted:FILE` (it reads a file on the server) is refused;
- a spec the operator chose as a default is always allowed.

Keys are bound to their services whoever the caller is (`llm_key_for`): OPENAI_API_KEY goes only
to api.openai.com or to OPENAI_BASE_URL when the operator set it (as the SDK does);
OPENAI_COMPATIBLE_API_KEY only to the servers the operator named for it in
OPENAI_COMPATIBLE_BASE_URL (comma-separated; a server matches as in the allowed list); and no key at
all over plain http to a host that is not loopback. Error text a server sends back passes `redact`:
no fragment of a key is shown, stored or stamped into a file.

Files: every file a surface serves or reads for a caller goes through `contained` (its real path,
links followed, inside the folders it belongs to). Callers: MCP clients over HTTP are named by the
bearer tokens the operator hands out (`caller_tokens`); what a caller is told never carries the
server's absolute paths (`scrub_paths`)."""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal
from urllib.parse import SplitResult, urlsplit

from agent.core.errors import ConfigError, InputError

ALLOWED_URLS_VAR = "ATELIER_ALLOWED_LLM_URLS"
LOOPBACK_VAR = "ATELIER_ALLOW_LOOPBACK_LLM"
COMPATIBLE_KEY_VAR = "OPENAI_COMPATIBLE_API_KEY"
COMPATIBLE_URL_VAR = "OPENAI_COMPATIBLE_BASE_URL"  # the server(s) that key is for
OPENAI_HOST = "api.openai.com"
MCP_TOKENS_VAR = "ATELIER_MCP_TOKENS"
MIN_TOKEN_CHARS = 16  # a bearer token is a password: short ones can be guessed

Kind = Literal["llm", "image", "video", "critic"]


@dataclass(frozen=True)
class TrustPolicy:
    """What the operator allows untrusted callers to name.

    allowed_urls: servers a spec may point at (`https://host[:port]/path`; a spec's URL matches when
        scheme, host and port are equal and its path is the same or below).
    allow_loopback: whether a spec may point at this machine (a local Ollama, vLLM...).
    operator_specs: the operator's own defaults, always allowed verbatim."""

    allowed_urls: tuple[str, ...] = ()
    allow_loopback: bool = False
    operator_specs: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_env(cls, operator_specs: Iterable[str | None] = (), allowed_urls: Iterable[str] = (),
                 allow_loopback: bool | None = None) -> "TrustPolicy":
        """The policy from ATELIER_ALLOWED_LLM_URLS and ATELIER_ALLOW_LOOPBACK_LLM, plus what the
        operator passed as flags (`allowed_urls`, `allow_loopback`) and their default specs."""
        urls = [u.strip() for u in os.environ.get(ALLOWED_URLS_VAR, "").split(",") if u.strip()]
        urls += [u.strip() for u in allowed_urls if u and u.strip()]
        for url in urls:
            server_url(url, what=f"allowed LLM server ({ALLOWED_URLS_VAR} / --allow-llm-url)")  # a typo in the operator's list is a setting error
        if allow_loopback is None:
            allow_loopback = os.environ.get(LOOPBACK_VAR, "").strip().lower() in ("1", "true", "yes", "on")
        return cls(tuple(urls), allow_loopback, frozenset(s.strip() for s in operator_specs if s))

    def with_operator(self, *specs: str | None) -> "TrustPolicy":
        return TrustPolicy(self.allowed_urls, self.allow_loopback,
                           self.operator_specs | {s.strip() for s in specs if s})


def check_untrusted_spec(kind: Kind, spec: str | None, policy: TrustPolicy) -> None:
    """Raise ConfigError (one line, naming the spec or URL) unless a caller who is not the operator
    may use back end `spec` of `kind` ("llm", "image", "video" or "critic") under `policy`.
    None or "" (the operator's default) always passes. Call it before resolving the spec, for every
    spec an MCP client, UI user or brief file gives; the operator's own CLI arguments need no check."""
    if spec is None or not spec.strip():
        return
    spec = spec.strip()
    if spec in policy.operator_specs:
        return
    if kind == "critic":
        for part in spec.split("+"):
            base, _, llm = part.strip().removeprefix("critic:").partition("@")
            if llm:
                check_untrusted_spec("llm", llm, policy)
        return
    prefix, _, model = spec.partition(":")
    if kind == "llm" and prefix == "scripted":
        raise ConfigError(f"{spec!r} is not allowed here: scripted LLMs read a file on the server; "
                          f"only the operator can choose one")
    if kind == "llm" and prefix == "openai-compatible" and "@" in model:
        check_url(model.partition("@")[2], policy)
    elif "://" in spec:
        check_url(spec[spec.rindex("@") + 1:] if "@" in spec else spec[spec.index(":") + 1:], policy)


def check_url(url: str, policy: TrustPolicy) -> None:
    """Raise ConfigError unless an untrusted caller may make Atelier contact `url`."""
    parts = server_url(url)
    if any(_same_server(parts, server_url(allowed)) for allowed in policy.allowed_urls):
        return
    if is_loopback(parts.hostname):
        if policy.allow_loopback:
            return
        raise ConfigError(f"server {url} is not allowed: it is on this machine and the operator has not "
                          f"allowed local servers ({LOOPBACK_VAR}=1)")
    raise ConfigError(f"server {url} is not allowed: the operator has not configured it "
                      f"({ALLOWED_URLS_VAR})")


def server_url(url: str, what: str = "server URL") -> SplitResult:
    """`url` split, or ConfigError when it is not an http(s) URL with a host (refused up front,
    never tried)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ConfigError(f"{what} {url!r} is not a URL: give http(s)://HOST[:PORT]/PATH") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} {url!r} is not a URL: give http(s)://HOST[:PORT]/PATH")
    return parts


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def llm_key_for(base_url: str) -> tuple[str | None, str]:
    """(the key to send to an OpenAI-compatible server at `base_url`, the variable it came from);
    (None, why) when no key may go there."""
    parts = server_url(base_url)
    official = os.environ.get("OPENAI_BASE_URL")
    if os.environ.get("OPENAI_API_KEY") and (
            (parts.scheme == "https" and parts.hostname.lower() == OPENAI_HOST) or (official and _same_server(parts, urlsplit(official)))):
        return os.environ["OPENAI_API_KEY"], "OPENAI_API_KEY"
    key = os.environ.get(COMPATIBLE_KEY_VAR)
    if not key:
        return None, f"no {COMPATIBLE_KEY_VAR} is set"
    named = [u.strip() for u in os.environ.get(COMPATIBLE_URL_VAR, "").split(",") if u.strip()]
    if not any(_same_server(parts, server_url(u, what=COMPATIBLE_URL_VAR)) for u in named):
        return None, (f"{COMPATIBLE_KEY_VAR} goes only to the server(s) in {COMPATIBLE_URL_VAR}"
                      + ("" if named else ", which is not set"))
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        return None, f"{COMPATIBLE_KEY_VAR} is never sent over plain http to {parts.hostname}"
    return key, COMPATIBLE_KEY_VAR


def _same_server(a: SplitResult, b: SplitResult) -> bool:
    def port(p: SplitResult) -> int:
        return p.port or (443 if p.scheme == "https" else 80)

    if (a.scheme, (a.hostname or "").lower().rstrip("."), port(a)) != \
            (b.scheme, (b.hostname or "").lower().rstrip("."), port(b)):
        return False
    pa, pb = a.path.rstrip("/"), b.path.rstrip("/")
    return pa == pb or pa.startswith(pb + "/")


# ---- secrets -------------------------------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z0-9_\-+/=.*\u2026]{4,}")  # a key, or what a server echoes of one ("sk-ab...wxyz")
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}")
MIN_FRAGMENT = 4  # characters of a key that are too many to show


def redact(text: str, *secrets: str | None) -> str:
    """`text` with no fragment of any of `secrets`: a word that holds a piece of one (MIN_FRAGMENT
    characters or more, between the dots or stars a server masks the rest with) becomes "***", so
    "Incorrect API key provided: sk-proj-ab*********wxyz" keeps neither end; anything shaped like an
    OpenAI key goes too. Over-redacting a word is cheap; a leaked end of a key is not."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***")
        if len(secret) < 2 * MIN_FRAGMENT:
            continue

        def hide(match: re.Match, secret: str = secret) -> str:
            pieces = re.split(r"[.*\u2026]+", match.group(0))
            return "***" if any(len(p) >= MIN_FRAGMENT and p in secret for p in pieces) else match.group(0)
        text = _WORD.sub(hide, text)
    return _KEYLIKE.sub("sk-***", text)


# ---- files ---------------------------------------------------------------------------------------
def contained(path: str | Path, roots: Iterable[str | Path], *, what: str = "file",
              kind: Literal["file", "dir"] | None = "file") -> Path:
    """The real path of `path` (every symbolic link followed) when it lies inside one of `roots`
    (resolved the same way) and, unless `kind` is None, is a file or a folder; else InputError
    "`what` not found". Missing and outside get the same line, which names neither the path nor
    the roots: a caller learns nothing of other files and nothing of the server's folders."""
    real = Path(os.path.realpath(Path(path).expanduser()))
    inside = any(real.is_relative_to(os.path.realpath(Path(root).expanduser())) for root in roots)
    present = kind is None or (real.is_file() if kind == "file" else real.is_dir())
    if not (inside and present):
        raise InputError(f"{what} not found")
    return real


# an absolute POSIX path, not one inside a URL ("http://host/v1": its slashes follow ':' or a word)
_ABSOLUTE = re.compile(r"(?<![\w/.~:@-])/(?:[^\s'\"/,;:()\[\]<>]+/)*([^\s'\"/,;:()\[\]<>]+)")


def scrub_paths(text: str) -> str:
    """`text` with every absolute path cut to its last part ("/srv/runs/x/a.png" -> "a.png"), for
    what a remote caller is told: the server's folders are not theirs to know."""
    return _ABSOLUTE.sub(lambda m: m.group(1), text)


# ---- callers -------------------------------------------------------------------------------------
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def caller_tokens(setting: str | None) -> dict[str, str]:
    """The operator's MCP bearer tokens, token -> caller identity ("mcp:NAME"), from `setting`
    (the `--tokens` flag, else ATELIER_MCP_TOKENS): a file with one `NAME:TOKEN` per line (blank
    lines and `#` comments skipped), or the same pairs inline, comma-separated. A name may have
    several tokens (to rotate them); a token names one caller. ConfigError (one line, never the
    token) for anything else."""
    if setting is None or not setting.strip():
        return {}
    source = Path(setting.strip()).expanduser()
    if source.is_file():
        try:
            entries = [(f"{source.name} line {n}", line.strip()) for n, line in
                       enumerate(source.read_text().splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"MCP tokens file {source.name} cannot be read ({e.__class__.__name__})") from None
    elif ":" in setting:
        entries = [(f"entry {n}", part.strip()) for n, part in enumerate(setting.split(","), 1) if part.strip()]
    else:
        raise ConfigError(f"MCP tokens ({MCP_TOKENS_VAR} / --tokens): not a file, nor NAME:TOKEN pairs")
    tokens: dict[str, str] = {}
    for where, entry in entries:
        name, _, token = entry.partition(":")
        name, token = name.strip(), token.strip()
        if not _NAME.fullmatch(name):
            raise ConfigError(f"MCP tokens, {where}: give NAME:TOKEN, NAME made of letters, digits, '_', '.' or '-'")
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
            raise ConfigError(f"MCP tokens, {where} ({name}): the token must be {MIN_TOKEN_CHARS} or more "
                              f"characters without spaces")
        if tokens.get(token, f"mcp:{name}") != f"mcp:{name}":
            raise ConfigError(f"MCP tokens, {where} ({name}): this token is already {tokens[token]}'s")
        tokens[token] = f"mcp:{name}"
    if not tokens:
        raise ConfigError(f"MCP tokens ({MCP_TOKENS_VAR} / --tokens): no NAME:TOKEN entries found")
    return tokens
