"""All routers of the service, mounted by :func:`app.main.create_app`."""

from fastapi import APIRouter

from app.agent.router import router as agent_router
from app.api import health
from app.market_data.router import router as market_router

router = APIRouter()
router.include_router(health.router)
router.include_router(market_router)
router.include_router(agent_router)
