"""Middleware: a BaseHTTPMiddleware subclass."""

from pathlib import Path

from starlette.middleware.base import BaseHTTPMiddleware


class Timing(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        Path("/tmp/timing.log").write_text(request.url.path)
        return response
