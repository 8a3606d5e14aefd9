"""Who calls the HTTP API: the same identities as MCP over HTTP (agent/surfaces/mcp_callers.py), so
one caller's runs are the same over both. With tokens (--tokens / ATELIER_MCP_TOKENS) a request
names its caller by `Authorization: Bearer TOKEN` (the OpenAI SDK's api_key) and anything else gets
401; without tokens every HTTP caller is the server's one identity (mcp:default)."""
from __future__ import annotations

from fastapi import Request

from agent.surfaces.mcp_callers import TokenVerifier
from agent.surfaces.server.errors import APIError


class Callers:
    def __init__(self, tokens: dict[str, str], default_identity: str):
        self.tokens_on = bool(tokens)
        self._verifier = TokenVerifier(tokens)
        self.default_identity = default_identity

    async def identify(self, request: Request) -> str:
        """The caller's identity, or 401 in OpenAI's shape (never saying which part was wrong)."""
        if not self.tokens_on:
            return self.default_identity
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise APIError(401, "You didn't provide an API key: send Authorization: Bearer TOKEN "
                           "(one of the server's --tokens)", code="missing_api_key")
        access = await self._verifier.verify_token(token.strip())
        if access is None:
            raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
        return access.client_id
