"""HTTP routes, one module per resource, and the dependency that gives a handler the app's
settings (here, not in settings.py, which is read without the web framework)."""

from typing import Annotated

from fastapi import Depends, Request

from ..settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_settings)]
