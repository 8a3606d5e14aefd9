"""Who calls the MCP server, and which runs that caller may see (issue 27).

Over stdio (and in-process clients) the caller is the operator: `mcp:operator`. Over streamable
HTTP the operator either hands out bearer tokens (`--tokens` / ATELIER_MCP_TOKENS, see
`agent.core.trust.caller_tokens`), each naming a caller `mcp:NAME`, checked by the SDK's own
`TokenVerifier` (a request without a known token gets 401), or names one identity for the whole
server (`mcp:default`). Every run a caller makes is owned by it (the run folder's `.owner` file,
as the UI's runs are), and `CallerRuns` shows a caller its own runs and nothing else: another
owner's run, a missing one and one whose files lead outside its folder all read "no run".
"""
from __future__ import annotations

import hmac
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from agent.core.errors import InputError
from agent.core.records import _OWNER_FILE, RunStore
from agent.core.trust import contained

OPERATOR = "mcp:operator"  # stdio and in-process clients: whoever started the server
DEFAULT = "mcp:default"  # streamable HTTP without tokens: one caller for the whole server

_CALLER: ContextVar[str | None] = ContextVar("atelier_mcp_caller", default=None)


def caller() -> str:
    """The identity of the MCP caller this request comes from (set by `identify`); a direct call
    in the server's own process (tests, scripts) is the operator's."""
    return _CALLER.get() or OPERATOR


class TokenVerifier:
    """The SDK's TokenVerifier over the operator's token -> identity table."""

    def __init__(self, tokens: dict[str, str]):
        self._tokens = [(t.encode(), who) for t, who in tokens.items()]

    async def verify_token(self, token: str):
        from mcp.server.auth.provider import AccessToken
        given = token.encode()
        found = None
        for secret, who in self._tokens:  # every entry compared, in constant time: no timing oracle
            if hmac.compare_digest(secret, given):
                found = who
        return AccessToken(token="", client_id=found, scopes=[]) if found else None


def auth_options(tokens: dict[str, str]) -> dict[str, Any]:
    """MCPServer's auth arguments for these tokens (none: no auth)."""
    if not tokens:
        return {}
    from mcp.server.auth.settings import AuthSettings
    # a resource server only: no OAuth routes are made, so the issuer is never contacted or shown
    return {"token_verifier": TokenVerifier(tokens),
            "auth": AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None)}


def identify(http_identity: str, tokens_on: bool):
    """Server middleware: the caller of each request, for the tools and resources it reaches."""
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    from mcp.shared.exceptions import MCPError
    from mcp.types import INVALID_REQUEST

    async def middleware(ctx, call_next):
        request = ctx.request
        if request is None:
            who = OPERATOR
        else:
            user = getattr(request, "scope", {}).get("user")
            if isinstance(user, AuthenticatedUser) and user.access_token.client_id:
                who = user.access_token.client_id
            elif tokens_on:  # the SDK answers 401 before this; fail closed all the same
                raise MCPError(code=INVALID_REQUEST, message="unauthenticated: send a bearer token")
            else:
                who = http_identity
        mark = _CALLER.set(who)
        try:
            return await call_next(ctx)
        finally:
            _CALLER.reset(mark)
    return middleware


class CallerRuns:
    """The runs folder as one caller sees it. Every path is resolved (links followed) and kept in
    its own folder: a run folder that is a link, a run.json or attempt that leads elsewhere, and a
    run of another owner are all "no run", the same as a missing one."""

    def __init__(self, store: RunStore, files_dir: Path | None = None):
        self.store, self.files_dir = store, files_dir

    def folder(self, run_id: str, who: str, *, new: bool = False) -> Path:
        """The run's folder when it is `who`'s (or, `new`, a folder just made for it) and is a real
        folder of the runs folder, not a link to one elsewhere."""
        path = self.store.run_dir(run_id)  # refuses ids with '/' or reserved names
        try:
            real = contained(path, [self.store.root], kind="dir")
            if real != path:
                raise InputError("")
            if not new:
                owner = contained(path / _OWNER_FILE, [real]).read_text(errors="replace").strip()
                if not hmac.compare_digest(owner.encode(), who.encode()):
                    raise InputError("")
        except (InputError, OSError):
            raise InputError(f"no run {run_id!r}") from None
        return real

    def load(self, run_id: str, who: str):
        """`who`'s run `run_id`, every file it names inside its folder (its attempts) or the
        caller's folders (its references)."""
        folder = self.folder(run_id, who)
        try:
            contained(folder / "run.json", [folder])
        except InputError:
            raise InputError(f"no run {run_id!r}") from None
        try:
            record = self.store.load(run_id)
        except InputError:  # the caller's own run: saying it is damaged tells nothing of others'
            raise InputError(f"run {run_id!r} cannot be read: its run.json is damaged") from None
        try:
            for attempt in record.attempts:
                contained(attempt.artifact.path, [folder], kind=None)
            for ref in [*record.brief.reference_images, record.brief.mask]:
                if ref:  # one deleted since may stay missing (the run still loads), not lead out
                    self.image(ref, who, what="reference", present=False)
        except InputError:
            raise InputError(f"no run {run_id!r}") from None
        return record

    def attempt_file(self, run_id: str, index: str, who: str) -> Path:
        record = self.load(run_id, who)
        attempt = record.attempts[int(index)]  # ValueError / IndexError: the caller's "not found"
        return contained(attempt.artifact.path, [self.folder(run_id, who)])

    def listing(self, who: str, limit: int = 200) -> list[dict]:
        """`who`'s latest runs, newest first, without their owner."""
        rows = []
        for row in self.store.history(limit, owner=who):
            try:
                self.folder(row["run_id"], who)  # the index is a cache: the folder has the truth
            except InputError:
                continue
            row.pop("owner", None)
            rows.append(row)
        return rows

    def image(self, name: str | Path, who: str, what: str = "image", present: bool = True) -> Path:
        """A file a caller names: inside the operator's files folder, or inside one of the caller's
        own run folders. Anything else (another owner's run, the runs folder's own files, a link
        out) is "`what` not found", the same as a missing file."""
        real = Path(name).expanduser()
        if self.files_dir is not None:
            try:
                return contained(real, [self.files_dir], what=what, kind="file" if present else None)
            except InputError:
                pass
        try:
            real = contained(real, [self.store.root], what=what, kind="file" if present else None)
            parts = real.relative_to(self.store.root).parts
            if len(parts) < 2:
                raise InputError("")
            self.folder(parts[0], who)
            return real
        except InputError:
            raise InputError(f"{what} not found") from None
