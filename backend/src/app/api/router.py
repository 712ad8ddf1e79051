"""All routers of the service, mounted by :func:`app.main.create_app`."""

from fastapi import APIRouter

from app.api import health

router = APIRouter()
router.include_router(health.router)
