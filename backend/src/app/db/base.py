"""Declarative base, naming convention and the column types every model shares.

The column types keep the domain's guarantees on both databases the service runs on:
prices and quantities stay exact decimals (SQLite has no exact numeric type, so they are
stored as text there) and datetimes stay timezone-aware UTC (SQLite drops the zone).
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, override

from sqlalchemy import JSON, DateTime, Dialect, MetaData, Numeric, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Enough for any crypto price or quantity: 18 decimal places, 20 integer digits.
_PRECISION: Final = 38
_SCALE: Final = 18


class ExactDecimal(TypeDecorator[Decimal]):
    """``NUMERIC(38, 18)`` on PostgreSQL; canonical text on SQLite, so no float ever appears."""

    impl = Numeric(_PRECISION, _SCALE, asdecimal=True)
    cache_ok = True

    @override
    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(_PRECISION, _SCALE, asdecimal=True))

    @override
    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"expected Decimal, got {type(value).__name__}: floats lose money")
        if not value.is_finite():
            raise ValueError(f"cannot store non-finite decimal {value}")
        return format(value, "f") if dialect.name == "sqlite" else value

    @override
    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMPTZ``; refuses naive datetimes and always returns aware UTC ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @override
    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} is ambiguous; use UTC")
        return value.astimezone(UTC)

    @override
    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonDocument: Final = JSON().with_variant(JSONB(), "postgresql")
"""JSON column: ``JSONB`` on PostgreSQL, ``JSON`` text on SQLite."""


class Base(DeclarativeBase):
    """Base of every ORM model; owns the shared metadata and its naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        Decimal: ExactDecimal(),
        datetime: UtcDateTime(),
        dict[str, Any]: JsonDocument,
        list[Any]: JsonDocument,
    }
