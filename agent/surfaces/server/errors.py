"""Errors as OpenAI sends them, for every route of the server: `{"error": {"message", "type", "param",
"code"}}` with the status OpenAI uses (400 a bad request, 401 no or a wrong token, 404 nothing
there, 422 the run could not deliver an approved image, 500 an internal error named by its kind,
503 shutting down). The messages never carry the server's absolute paths."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.core.errors import AtelierError
from agent.core.trust import scrub_paths

log = logging.getLogger("atelier")

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
         404: "invalid_request_error", 405: "invalid_request_error", 409: "invalid_request_error",
         413: "invalid_request_error", 422: "invalid_request_error", 503: "server_error"}


class APIError(Exception):
    """An answer other than success, in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 extra: dict | None = None, scrub: bool = False):
        super().__init__(message)
        message = scrub_paths(message) if scrub else message  # what came from inside: no server paths
        self.status, self.message, self.param, self.code, self.extra = status, message, param, code, extra or {}

    def response(self) -> JSONResponse:
        body = {"message": _line(self.message), "type": TYPES.get(self.status, "server_error"),
                "param": self.param, "code": self.code, **self.extra}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse({"error": body}, status_code=self.status, headers=headers)


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def from_validation(errors: list[dict], what: str = "request") -> APIError:
    """A pydantic / FastAPI validation failure as one 400 naming the first field and its problem."""
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    kind = first.get("type", "")
    if kind in ("extra_forbidden",):
        return bad_request(f"Unrecognized request argument supplied: {param}", param, "unknown_parameter")
    if kind == "missing":
        return bad_request(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return bad_request(f"Invalid value for '{param}': {message}" if param else f"invalid {what}: {message}", param)


def install(app: FastAPI) -> None:
    """Every error of every route in OpenAI's shape: ours, FastAPI's, the library's and the unexpected."""

    @app.exception_handler(APIError)
    async def api_error(_: Request, e: APIError):
        return e.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError):
        return from_validation(list(e.errors())).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException):
        message = e.detail if isinstance(e.detail, str) else "request refused"
        if e.status_code == 404:
            message = "Not found: no such route or resource"
        return APIError(e.status_code, message, code="not_found" if e.status_code == 404 else None).response()

    @app.exception_handler(AtelierError)
    async def atelier_error(_: Request, e: AtelierError):  # refused before anything ran: the caller can fix it
        return APIError(400, str(e), code="invalid_request", scrub=True).response()

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return internal_error(e).response()


def internal_error(e: BaseException) -> APIError:
    return APIError(500, f"internal error ({type(e).__name__}: {_line(str(e), 300)}); the server's log has the details",
                    code="internal_error", scrub=True)


def _line(text: str, limit: int = 600) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
