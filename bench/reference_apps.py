"""Hand-written FastAPI apps the generated projects are measured against.

Each is a module attribute served as `uvicorn bench.reference_apps:<name>`, configured like the
generated projects by UPSTREAM_URL, UPSTREAM_TIMEOUT_S and THREAD_POOL_SIZE. Every app has
`GET /health`; the client apps have `GET /upstream/{item_id}`, which GETs
`{UPSTREAM_URL}/items/{item_id}` and returns its JSON object.
"""

import math
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

import aiohttp
import anyio.to_thread
import httpx
import httpx2
import requests
from fastapi import APIRouter, FastAPI, HTTPException
from httpx_aiohttp import AiohttpTransport

C = TypeVar("C")


def _upstream_url() -> str:
    return os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001").rstrip("/")


def _timeout_s() -> float:
    return float(os.environ.get("UPSTREAM_TIMEOUT_S", "5"))


def _thread_pool_size() -> int:
    return int(os.environ.get("THREAD_POOL_SIZE", "40"))


def _json_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HTTPException(502, "upstream answered no JSON object")
    return body


class Holder(Generic[C]):
    """The client an app opens in lifespan, reached by its handlers."""

    def __init__(self) -> None:
        self._client: C | None = None

    def set(self, client: C | None) -> None:
        self._client = client

    def get(self) -> C:
        if self._client is None:
            raise RuntimeError("the app's client is not open: lifespan did not run")
        return self._client


def _app_with_health(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


# async clients in `async def` handlers


def aiohttp_app(connection_limit: int) -> FastAPI:
    """One aiohttp.ClientSession for the app; `connection_limit` 0 means no cap (aiohttp's
    default is 100)."""
    holder: Holder[aiohttp.ClientSession] = Holder()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=connection_limit)
        timeout = aiohttp.ClientTimeout(total=_timeout_s())
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            holder.set(session)
            yield
            holder.set(None)

    app = _app_with_health(lifespan)
    base = _upstream_url()

    @app.get("/upstream/{item_id}")
    async def upstream(item_id: int) -> dict[str, Any]:
        async with holder.get().get(f"{base}/items/{item_id}") as response:
            response.raise_for_status()
            return _json_object(await response.json())

    return app


# httpx and httpx2 (its fork) share one API: one app serves either.
AsyncHttpxClient = httpx.AsyncClient | httpx2.AsyncClient


def httpx_app(make_client: Callable[[], AsyncHttpxClient]) -> FastAPI:
    """One httpx (or httpx2) AsyncClient for the app, built in a worker thread (it loads
    certificates)."""
    holder: Holder[AsyncHttpxClient] = Holder()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with await anyio.to_thread.run_sync(make_client) as client:
            holder.set(client)
            yield
            holder.set(None)

    app = _app_with_health(lifespan)

    @app.get("/upstream/{item_id}")
    async def upstream(item_id: int) -> dict[str, Any]:
        response = await holder.get().get(f"items/{item_id}")
        response.raise_for_status()
        return _json_object(response.json())

    return app


def _plain_httpx() -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=_upstream_url(), timeout=_timeout_s())


def _httpx_over_aiohttp() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=_upstream_url(), timeout=_timeout_s(), transport=AiohttpTransport()
    )


def _plain_httpx2() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=_upstream_url(), timeout=_timeout_s())


# requests, a blocking client


class SessionPerThread:
    """requests.Session is not documented thread-safe: each worker thread gets its own."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []

    def get(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def requests_in_def_app() -> FastAPI:
    """requests in a `def` handler: FastAPI runs it in anyio's THREAD_POOL_SIZE threads."""
    sessions = SessionPerThread()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = _thread_pool_size()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(sessions.close)

    app = _app_with_health(lifespan)
    base, timeout_s = _upstream_url(), _timeout_s()

    @app.get("/upstream/{item_id}")
    def upstream(item_id: int) -> dict[str, Any]:
        response = sessions.get().get(f"{base}/items/{item_id}", timeout=timeout_s)
        response.raise_for_status()
        return _json_object(response.json())

    return app


def requests_in_async_app() -> FastAPI:
    """The anti-pattern: a blocking call inside `async def` stalls the event loop, so the
    requests run one at a time."""
    app = _app_with_health()
    base, timeout_s = _upstream_url(), _timeout_s()

    @app.get("/upstream/{item_id}")
    async def upstream(item_id: int) -> dict[str, Any]:
        response = requests.get(f"{base}/items/{item_id}", timeout=timeout_s)  # blocks the loop
        response.raise_for_status()
        return _json_object(response.json())

    return app


# no I/O at all


def bare_async_app() -> FastAPI:
    return _app_with_health()


def bare_included_app() -> FastAPI:
    """The bare app with its route in an APIRouter passed to include_router, the way the
    generated projects (one router per module) register theirs."""
    router = APIRouter(tags=["health"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app = FastAPI()
    app.include_router(router)
    return app


def five_routers_app() -> FastAPI:
    """The generated full-featured app's shape without its resources: one APIRouter per module
    (compute, health, items, metrics, upstream), each passed to include_router in the
    generated order, with simple handlers on the same paths."""
    names = ("compute", "health", "items", "metrics", "upstream")
    routers = {name: APIRouter(tags=[name]) for name in names}

    @routers["compute"].get("/compute")
    async def compute_sum(n: int) -> dict[str, int]:
        return {"n": n, "result": n}

    @routers["health"].get("/health")
    async def health_status() -> dict[str, str]:
        return {"status": "ok"}

    @routers["items"].post("/items", status_code=201)
    async def create_item(name: str) -> dict[str, str]:
        return {"name": name}

    @routers["items"].get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @routers["items"].get("/items")
    async def list_items(limit: int = 50, offset: int = 0) -> list[dict[str, int]]:
        return []

    @routers["metrics"].get("/metrics")
    async def loop_metrics() -> dict[str, float]:
        return {"event_loop_lag_max_ms": 0.0}

    @routers["upstream"].get("/upstream/{item_id}")
    async def upstream_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app = FastAPI()
    for router in routers.values():
        app.include_router(router)
    return app


def bare_def_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def isqrt_sum(n: int) -> int:
    """The generated projects' CPU job: the sum of the integer square roots below n."""
    return sum(math.isqrt(i) for i in range(n))


def cpu_inline_app() -> FastAPI:
    """CPU work computed inline in `async def`: it holds the event loop for the whole job."""
    app = _app_with_health()

    @app.get("/compute")
    async def compute(n: int) -> dict[str, int]:
        return {"n": n, "result": isqrt_sum(n)}

    return app


aiohttp_default = aiohttp_app(connection_limit=100)
aiohttp_uncapped = aiohttp_app(connection_limit=0)
httpx_plain = httpx_app(_plain_httpx)
httpx_over_aiohttp = httpx_app(_httpx_over_aiohttp)
httpx2_plain = httpx_app(_plain_httpx2)
requests_in_def = requests_in_def_app()
requests_in_async = requests_in_async_app()
bare_async = bare_async_app()
bare_included = bare_included_app()
five_routers = five_routers_app()
bare_def = bare_def_app()
cpu_inline = cpu_inline_app()
