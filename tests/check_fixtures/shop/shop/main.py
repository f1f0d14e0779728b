"""The app: every root kind FastAPI runs on the event loop."""

import smtplib
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import boto3
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse

from . import admin
from .db import engine
from .helpers import notify
from .middleware import Timing
from .routes import items


def _warm_up() -> None:
    with engine.connect() as conn:
        conn.execute("SELECT 1")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    _warm_up()
    yield


async def on_lookup_error(request: Request, exc: LookupError) -> JSONResponse:
    await notify("ops.example")
    return JSONResponse({"detail": "not found"}, 404)


app = FastAPI(lifespan=lifespan, exception_handlers={LookupError: on_lookup_error})
app.add_middleware(Timing)
app.include_router(items.router, prefix="/v1")
app.mount("/admin", admin.admin)


@app.middleware("http")
async def add_version(request: Request, call_next):  # type: ignore[no-untyped-def]
    subprocess.run(["git", "rev-parse", "HEAD"], check=False)
    return await call_next(request)


@app.exception_handler(ValueError)
async def on_value_error(request: Request, exc: ValueError) -> JSONResponse:
    with smtplib.SMTP("mail.example") as smtp:
        smtp.sendmail("shop@example", ["ops@example"], str(exc))
    return JSONResponse({"detail": str(exc)}, 400)


async def on_key_error(request: Request, exc: KeyError) -> JSONResponse:
    boto3.client("s3").put_object(Bucket="errors", Key="last", Body=str(exc))
    return JSONResponse({"detail": "missing"}, 400)


app.add_exception_handler(KeyError, on_key_error)


@app.on_event("startup")
async def check_stock() -> None:
    items.Repo().load(0)


@app.websocket("/ws")
async def feed(websocket: WebSocket) -> None:
    await websocket.accept()
    with open("/tmp/feed.txt") as feed:
        await websocket.send_text(feed.read())
