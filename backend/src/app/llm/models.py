"""Every call to a decision provider, kept whole for audit; and the reply cache."""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.columns import created_at, run_column, stamped_at, uuid_pk


class LlmCall(Base):
    """One request to OpenRouter (or the rules provider): prompt, raw reply, usage, outcome."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index(None, "run_id", "account_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    run_id: Mapped[str] = run_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    decision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("decisions.id", use_alter=True), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    prompt: Mapped[str] = mapped_column(Text)
    prompt_hash: Mapped[str] = mapped_column(String(64))
    raw_reply: Mapped[str | None] = mapped_column(Text)
    generation_id: Mapped[str | None] = mapped_column(String(128))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None]
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cached_from: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = stamped_at()


class LlmReplyRow(Base):
    """A completion kept for replay, keyed by the SHA-256 of its exact request body.

    Holds no request: the hash stands for it, so neither the prompt nor anything the body
    might carry is stored twice (the API key never is: it travels in a header).
    """

    __tablename__ = "llm_reply_cache"

    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    served_model: Mapped[str] = mapped_column(String(128))
    content: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None]
    generation_id: Mapped[str | None] = mapped_column(String(128))
    original_call_at: Mapped[datetime] = stamped_at()
    created_at: Mapped[datetime] = created_at()
