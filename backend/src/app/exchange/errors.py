"""Exchange errors, classified by what the caller should do about them.

::

    ExchangeError (AppError)
    ├── ExchangeTemporaryError      network failure, timeout, 5xx: retry later
    │   ├── RateLimited             429 / 418 (banned until ``retry_at``): stop sending until then
    │   └── UnknownOrderOutcome     sent, but the result is unknown and could not be resolved
    ├── ExchangeRejected            the exchange answered with an error code: do not repeat as-is
    │   ├── OrderRejected           an order (or order change) was refused
    │   │   ├── InsufficientFunds   -2018 / -2019: balance or margin too small
    │   │   └── FilterViolation     refused locally: can never pass the symbol's filters
    │   └── ExchangeAuthError       bad key, signature or permissions: fix the configuration
    └── ExchangeProtocolError       the answer does not parse: a bug or an API change

Adapters translate every ``httpx`` and ``websockets`` error into one of these, so callers
never see transport exceptions.
"""

from datetime import datetime

from app.core.errors import AppError


class ExchangeError(AppError):
    """Base of every exchange failure.

    Attributes:
        endpoint: ``"METHOD /path"`` of the request that failed, when there was one.
    """

    status_code = 502
    code = "exchange_error"

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message if endpoint is None else f"{endpoint}: {message}")
        self.endpoint = endpoint


class ExchangeTemporaryError(ExchangeError):
    """The request may succeed later (network failure, timeout, 5xx)."""


class RateLimited(ExchangeTemporaryError):
    """429 (back off) or 418 (banned); nothing may be sent before ``retry_at``.

    Attributes:
        retry_at: When sending may resume (tz-aware UTC).
        banned: True for a 418 IP ban.
    """

    def __init__(
        self, message: str, *, retry_at: datetime, banned: bool, endpoint: str | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.retry_at = retry_at
        self.banned = banned


class UnknownOrderOutcome(ExchangeTemporaryError):
    """An order was sent but neither its result nor a lookup by client id could be had.

    The caller must not place it again under a new id; it can retry the same client id, which
    the adapter resolves by asking the exchange first.

    Attributes:
        client_order_id: The order's client id.
    """

    def __init__(self, message: str, *, client_order_id: str, endpoint: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint)
        self.client_order_id = client_order_id


class ExchangeRejected(ExchangeError):
    """The exchange answered with an error; repeating the same request will not help.

    Attributes:
        exchange_code: The exchange's error code (negative int), or None for a local refusal.
        exchange_message: The exchange's ``msg``.
        http_status: The HTTP status, when the refusal came from the exchange.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        detail = message if code is None else f"{message} (code {code})"
        super().__init__(detail, endpoint=endpoint)
        self.exchange_code = code
        self.exchange_message = message
        self.http_status = http_status


class OrderRejected(ExchangeRejected):
    """An order, cancel or order-related setting was refused."""


class InsufficientFunds(OrderRejected):
    """The balance or margin is too small for the order (-2018, -2019)."""


class FilterViolation(OrderRejected):
    """Refused before sending: the order can never pass the symbol's exchange filters."""


class ExchangeAuthError(ExchangeRejected):
    """Bad API key, signature, signer or permissions (-1002, -1022, -2014, -2015)."""


class ExchangeProtocolError(ExchangeError):
    """The exchange's answer could not be understood (malformed JSON, missing fields)."""
