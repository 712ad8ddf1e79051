"""``/api/v1/config``: the resolved configuration (secrets redacted) and live changes to it.

``PATCH`` takes the same variables as the ``.env`` file, limited to those that are safe to
change while the agents run, with their exact names. The whole resulting configuration is
checked before anything is kept: like the environment, against the environment's risk
limits (ceilings: a limit may be tightened, not loosened past them), and the way the agents
would take it (assets the exchange lists). A refused change answers 422 with each variable's
reason and leaves nothing behind; an accepted one reaches the agents at their next cycle.
Patched values win over the file until the next restart (they are not written to it).
"""

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.api.auth import FullAccess, ReadAccess
from app.api.deps import ContainerDep
from app.api.errors import API_ERRORS
from app.config import ACCOUNT_VARIABLES, LIVE_SAFE_VARIABLES, Settings
from app.core.decimals import plain_decimal
from app.core.errors import AppError, ConfigError
from app.core.secrets import redact
from app.runtime.reload import patch_config as change_config

router = APIRouter(prefix="/api/v1", tags=["config"])
_HIDDEN = "********"


class InvalidConfigChange(AppError):
    """The change names a variable that cannot change live, or is invalid."""

    status_code = 422
    code = "config_invalid"


class AccountConfigRead(BaseModel):
    """One account's resolved variables."""

    id: str
    variables: dict[str, str | None]


class ConfigRead(BaseModel):
    """The configuration the service runs with; secrets show as ``********`` when set."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "variables": {"ASSETS": "BTC,ETH,SOL", "OPENROUTER_API_KEY": _HIDDEN},
                    "accounts": [{"id": "default", "variables": {"LEVERAGE": "2.0"}}],
                    "live_safe": ["ASSETS", "LEVERAGE"],
                    "overrides": ["LEVERAGE"],
                }
            ]
        }
    }

    variables: dict[str, str | None]
    accounts: list[AccountConfigRead]
    live_safe: list[str] = Field(description="Variables PATCH may change without a restart")
    overrides: list[str] = Field(description="Variables set over the API (win over the file)")


class ConfigRefusedRead(BaseModel):
    """A refused change: the one error shape plus each refused variable and why."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "error": "config_invalid",
                    "detail": "configuration change refused, nothing changed: LEVERAGE: ...",
                    "problems": {
                        "LEVERAGE": "10 is looser than the environment allows (at most 2, its "
                        "value there); loosening further needs an environment change"
                    },
                }
            ]
        }
    }

    error: str
    detail: str
    # Optional: a body that is not a JSON object of strings is refused before any variable
    # is looked at, as a plain validation_error without this map.
    problems: dict[str, str] = Field(
        default_factory=dict, description="Each refused variable and why"
    )


class ConfigPatchRead(BaseModel):
    """What a PATCH changed."""

    applied: list[str] = Field(description="Variables that changed; agents use them next cycle")
    config: ConfigRead


def _show(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return _HIDDEN
    if name == "database_url":
        try:
            return make_url(str(value)).render_as_string(hide_password=True)
        except ArgumentError:
            return _HIDDEN
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, int | float | str):
        return str(value)
    return None


def config_read(settings: Settings, overrides: Mapping[str, str]) -> ConfigRead:
    """The resolved configuration with every secret redacted."""
    variables = {
        name.upper(): _show(name, getattr(settings, name)) for name in Settings.model_fields
    }
    accounts = [
        AccountConfigRead(
            id=account.id,
            variables={
                env: _show(field, getattr(account, field))
                for field, env in ACCOUNT_VARIABLES.items()
            },
        )
        for account in settings.accounts
    ]
    return ConfigRead(
        variables=variables,
        accounts=accounts,
        live_safe=sorted(LIVE_SAFE_VARIABLES),
        overrides=sorted(overrides),
    )


@router.get("/config", summary="Resolved configuration (secrets redacted)", responses=API_ERRORS)
async def get_config(container: ContainerDep, _: ReadAccess) -> ConfigRead:
    """Every variable as the service resolved it, per account too."""
    watcher = container.watcher
    return config_read(container.in_force, watcher.overrides if watcher is not None else {})


def _refused(exc: ConfigError) -> JSONResponse:
    problems: dict[str, str] = {}
    for line in exc.problems:
        name, sep, reason = line.partition(": ")
        if sep and " " not in name:
            reason = redact(reason)  # a value may repeat what was sent, secrets included
            problems[name] = f"{problems[name]}; {reason}" if name in problems else reason
    body = ConfigRefusedRead(
        error=InvalidConfigChange.code,
        detail="configuration change refused, nothing changed: " + "; ".join(exc.problems),
        problems=problems,
    )
    return JSONResponse(status_code=InvalidConfigChange.status_code, content=body.model_dump())


@router.patch(
    "/config",
    summary="Change live-safe variables",
    response_model=ConfigPatchRead,
    responses={
        **API_ERRORS,
        422: {
            "model": ConfigRefusedRead,
            "description": "Refused (unknown name, bad value, looser than the environment, "
            "an asset the exchange does not list); nothing changed",
        },
    },
)
async def patch_config(
    container: ContainerDep,
    _: FullAccess,
    values: Annotated[
        dict[str, Annotated[str, Field(max_length=500)]],
        Body(
            examples=[{"LEVERAGE": "1.5", "ASSETS": "BTC,ETH"}],
            description="Variables as in the .env file, names exact (per account: NAME_<ID>)",
        ),
    ],
) -> ConfigPatchRead | JSONResponse:
    """Check the whole resulting configuration; apply it from each agent's next cycle."""
    watcher, runtime = container.watcher, container.runtime
    if watcher is None or runtime is None:
        raise InvalidConfigChange("the agents are not running: nothing can change live")
    try:
        change = await change_config(watcher, runtime, values)
    except ConfigError as exc:
        return _refused(exc)
    return ConfigPatchRead(
        applied=list(change.applied), config=config_read(watcher.current, watcher.overrides)
    )
