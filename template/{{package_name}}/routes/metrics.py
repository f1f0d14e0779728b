"""What operators watch: the event loop's recent lag, and whether asyncio's debug mode is on."""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from ..loop_monitor import LoopLagMonitor
from ..settings import AppSettings

router = APIRouter(tags=["metrics"])


class Metrics(BaseModel):
    event_loop_lag_max_ms: float
    event_loop_lag_window_s: float
    asyncio_debug: bool


@router.get("/metrics")
async def metrics(request: Request, settings: AppSettings) -> Metrics:
    monitor: LoopLagMonitor = request.app.state.loop_monitor
    return Metrics(
        event_loop_lag_max_ms=round(monitor.recent_max_s * 1000, 1),
        event_loop_lag_window_s=monitor.window_s,
        asyncio_debug=settings.asyncio_debug,
    )
