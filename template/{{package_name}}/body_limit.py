"""MAX_BODY_BYTES for every route that reads a request body, counted as the body arrives.

A declared Content-Length over the limit is refused before a byte of the body is read; a body
without one (chunked) is refused as soon as what arrived passes the limit. The count starts only
when a route reads the body, so a request that sends none (`GET /health`) pays for one closure.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BodyTooLarge


class BodyLimit:
    """ASGI middleware: a route reading more than `max_bytes` of body gets BodyTooLarge (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.max_bytes
        received = -1  # -1: nothing read yet, the declared length not checked

        async def receive_within_limit() -> Message:
            nonlocal received
            if received < 0:
                if _declared_length(scope) > max_bytes:
                    raise BodyTooLarge(max_bytes)
                received = 0
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        await self.app(scope, receive_within_limit, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length before the app sees it
    return 0
