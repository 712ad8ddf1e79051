"""All routers of the service, mounted by :func:`app.main.create_app`."""

from fastapi import APIRouter

from app.agent.router import router as agent_router
from app.api import accounts, config_routes, health, overview
from app.backtest.router import router as backtest_router
from app.market_data.router import router as market_router
from app.records.performance_router import router as performance_router
from app.records.router import router as records_router
from app.streaming.router import router as stream_router

router = APIRouter()
router.include_router(health.router)
router.include_router(accounts.router)
router.include_router(overview.router)
router.include_router(records_router)
router.include_router(performance_router)
router.include_router(agent_router)
router.include_router(config_routes.router)
router.include_router(market_router)
router.include_router(backtest_router)
router.include_router(stream_router)
