"""The project's own class, whose methods block."""

from typing import Annotated

import httpx
from fastapi import Depends


class Repo:
    def __init__(self) -> None:
        self._client = httpx.Client(base_url="https://stock.example")

    def load(self, item_id: int) -> dict[str, int]:
        return self._fetch(f"/items/{item_id}")

    def _fetch(self, url: str) -> dict[str, int]:
        return self._client.get(url).json()


RepoDep = Annotated[Repo, Depends(Repo)]
