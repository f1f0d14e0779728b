"""Liveness: answers from the event loop alone, so it stays fast whatever else is busy."""

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
