"""An `async def` dependency that calls sync Redis."""

import redis
from fastapi import Request

client = redis.Redis(host="localhost")


async def current_user(request: Request) -> str:
    user = client.get(request.headers.get("token", ""))
    return str(user)
