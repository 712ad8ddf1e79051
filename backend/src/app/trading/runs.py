"""Runs: which stream of trading records a record belongs to.

Every record the journal writes (decisions, orders, fills, events, snapshots, LLM calls,
risk and paper state) carries a run id beside its account id. An account's own live or paper
trading is the run :data:`ACCOUNT_RUN`; a backtest or a model arena that drives the same loop
through the same journal writes under its own run id (``backtest-<uuid>``, ``arena-<uuid>``),
so its records never mix with the account's even when it reuses the account's id, and the
account's views (which read :data:`ACCOUNT_RUN` only) never see them.
"""

import uuid
from typing import Final

ACCOUNT_RUN: Final = "account"
"""The run of an account's own live or paper trading (rows written before runs existed too)."""

RUN_ID_LENGTH: Final = 64
"""Longest run id the database stores."""


def new_run_id(kind: str) -> str:
    """A fresh run id ``<kind>-<uuid>`` (e.g. ``backtest-0f1e…``).

    Raises:
        ValueError: ``kind`` is empty, is the account run, or makes the id too long.
    """
    if not kind or kind == ACCOUNT_RUN:
        raise ValueError(f"a run kind must be non-empty and not {ACCOUNT_RUN!r}: {kind!r}")
    run_id = f"{kind}-{uuid.uuid4()}"
    if len(run_id) > RUN_ID_LENGTH:
        raise ValueError(f"run kind {kind!r} makes ids longer than {RUN_ID_LENGTH} characters")
    return run_id
