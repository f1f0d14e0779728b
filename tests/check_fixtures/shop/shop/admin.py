"""A second app, mounted under /admin, with startup and shutdown handlers given to FastAPI()."""

import sqlite3

from fastapi import FastAPI


async def open_db() -> None:
    sqlite3.connect("/tmp/admin.db")


def close_db() -> None:
    """A `def` shutdown handler still runs on the loop: Starlette calls it directly."""
    sqlite3.connect("/tmp/admin.db").close()


admin = FastAPI(on_startup=[open_db], on_shutdown=[close_db])
