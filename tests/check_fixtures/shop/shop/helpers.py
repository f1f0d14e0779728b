"""Helpers in another module than the handlers that call them."""

import functools
import socket
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import requests


def write_report(name: str) -> None:
    with open(f"/tmp/{name}.txt", "w") as report:
        report.write(name)


def fetch_rates() -> dict[str, Any]:
    return requests.get("https://rates.example/today", timeout=5).json()


async def notify(address: str) -> None:
    _deliver(address)


def _deliver(address: str) -> None:
    socket.create_connection((address, 25))


async def run_sync(func: Callable[..., Any], *args: Any) -> Any:
    """The project's own wrapper over anyio's worker threads."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args))
