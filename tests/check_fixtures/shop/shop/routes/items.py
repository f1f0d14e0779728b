"""Handlers: one planted blocking call per route, then the forms that must not be reported."""

import asyncio
import time
import urllib.request
from typing import Annotated

import anyio.to_thread
import asyncpg
import docker
import h5py
import httpx
import psycopg2
import requests
from celery.result import AsyncResult
from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

import shop.legacy as legacy

from .. import helpers
from ..cache import current_user
from ..db import SessionDep, get_session, save_order
from ..helpers import fetch_rates as rates
from ..helpers import run_sync
from ..repo import Repo, RepoDep
from ..tasks import reindex


async def audit() -> None:
    urllib.request.urlopen("https://audit.example/hit")


router = APIRouter(prefix="/items", dependencies=[Depends(audit)])


def _slow_total() -> int:
    time.sleep(0.5)
    return 1


@router.get("/direct")
async def direct() -> None:
    time.sleep(1)


@router.get("/helper")
async def helper() -> int:
    return _slow_total()


@router.get("/report")
async def report() -> None:
    helpers.write_report("daily")


@router.get("/rates")
async def get_rates() -> dict[str, int]:
    return rates()


@router.get("/notify")
async def notify() -> None:
    await helpers.notify("mail.example")


@router.get("/{item_id}/stock")
async def stock(item_id: int) -> dict[str, int]:
    repo = Repo()
    return repo.load(item_id)


@router.api_route("/{item_id}/stock-dep", methods=["GET", "HEAD"])
async def stock_dep(item_id: int, repo: RepoDep) -> dict[str, int]:
    return repo.load(item_id)


@router.get("/orders")
async def orders(session: SessionDep) -> None:
    session.execute("SELECT * FROM orders")


@router.post("/orders")
async def create_order(item_id: int, db: Session = Depends(get_session)) -> None:
    db.commit()


@router.get("/me")
async def me(user: Annotated[str, Depends(current_user)]) -> str:
    return user


@router.post("/{item_id}/reindex")
async def start_reindex(item_id: int) -> int:
    job = reindex.delay(item_id)
    return int(AsyncResult(job.id).get())


@router.get("/export")
async def export() -> None:
    h5py.File("/tmp/items.h5", "w")


@router.get("/pg")
async def pg() -> None:
    psycopg2.connect("dbname=shop")


@router.get("/containers")
async def containers() -> int:
    return len(docker.from_env().containers.list())


async def legacy_ping() -> None:
    legacy.ping()


router.add_api_route("/ping", legacy_ping, methods=["POST"])


# --- Not on the loop, or not blocking: none of these may be reported. ---


def _blocking_work() -> None:
    time.sleep(1)
    requests.get("https://example.com", timeout=5)


@router.get("/ok/threadpool")
async def ok_threadpool() -> None:
    await run_in_threadpool(_blocking_work)


@router.get("/ok/anyio")
async def ok_anyio() -> None:
    await anyio.to_thread.run_sync(_blocking_work)


@router.get("/ok/to-thread")
async def ok_to_thread() -> None:
    await asyncio.to_thread(time.sleep, 1)


@router.get("/ok/executor")
async def ok_executor() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, _blocking_work)


@router.get("/ok/wrapper")
async def ok_wrapper() -> None:
    await run_sync(helpers.write_report, "daily")


@router.post("/ok/offloaded-session")
async def ok_offloaded_session(item_id: int, session: SessionDep) -> None:
    await run_in_threadpool(save_order, session, item_id)


@router.get("/ok/sync")
def ok_sync(session: SessionDep) -> None:
    requests.get("https://example.com", timeout=5)
    session.commit()


@router.post("/ok/background")
async def ok_background(tasks: BackgroundTasks) -> None:
    tasks.add_task(_blocking_work)


@router.get("/ok/async-libraries")
async def ok_async_libraries() -> int:
    async with httpx.AsyncClient() as client:
        await client.get("https://example.com")
    conn = await asyncpg.connect("postgresql://localhost/shop")
    rows = await conn.fetch("SELECT 1")
    await asyncio.sleep(0.1)
    return len(rows)
