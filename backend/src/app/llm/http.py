"""The OpenRouter chat-completions client (httpx), per specs/openrouter-api.md.

One :meth:`OpenRouterClient.complete` call sends one request (retrying the retryable
statuses with backoff honouring ``Retry-After``) and returns the content with usage, cost,
generation id and latency; every failure becomes an :mod:`app.llm.errors` error. An error
inside an HTTP 200 body is an error.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

import httpx
from pydantic import SecretStr

from app.core.backoff import jittered_backoff
from app.llm.errors import (
    LlmAuthError,
    LlmError,
    LlmNoCredits,
    LlmRejected,
    LlmTemporaryError,
    StructuredOutputUnsupported,
)

logger = logging.getLogger(__name__)

RETRYABLE: Final = frozenset({408, 429, 500, 502, 503, 504, 524, 529})
APP_URL: Final = "https://github.com/trading-agent/trading-agent"
APP_TITLE: Final = "trading-agent"


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful completion.

    Attributes:
        content: The message text (None when the model sent none).
        model: The model that served the request.
        finish_reason: Why generation stopped, as OpenRouter reports it.
        prompt_tokens: Tokens billed for the prompt.
        completion_tokens: Tokens billed for the answer (reasoning included).
        cost_usd: What this request cost now: 0 for a reply served from the cache.
        generation_id: OpenRouter's ``gen-...`` id (the original one for a cached reply).
        latency_ms: Time spent waiting for it now (0 for a cached reply).
        cached: Served from the reply cache (:mod:`app.llm.cache`), not by OpenRouter now.
        cached_from: For a cached reply, when the original request was made (ISO 8601 UTC).
    """

    content: str | None
    model: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: Decimal | None
    generation_id: str | None
    latency_ms: int
    cached: bool = False
    cached_from: str | None = None


class Completions(Protocol):
    """Anything that answers a chat-completions request body (the client, or a cache)."""

    async def complete(self, body: dict[str, Any]) -> Completion:
        """Answer one request body.

        Raises:
            LlmError: Classified failure (see :mod:`app.llm.errors`).
        """
        ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ``GET /models`` says about one model.

    Attributes:
        id: The model id.
        supported_parameters: Request parameters some route of the model honours.
        context_length: Prompt plus output tokens the model accepts.
        expiration_date: ``YYYY-MM-DD`` retirement date, if one is announced.
        prompt_price: USD per prompt token; None when not listed or not a number.
        completion_price: USD per completion token; None when not listed or not a number.
        created: When OpenRouter added the model (UTC): a proxy for its release date.
    """

    id: str
    supported_parameters: frozenset[str]
    context_length: int | None
    expiration_date: str | None
    prompt_price: Decimal | None = None
    completion_price: Decimal | None = None
    created: datetime | None = None


class OpenRouterClient:
    """Async client for ``POST /chat/completions`` and ``GET /models``.

    Args:
        base_url: API root, e.g. ``https://openrouter.ai/api/v1``.
        api_key: The account's OpenRouter key.
        timeout_s: Read timeout; reasoning models can think for minutes.
        attempts: Tries for retryable failures, the first included.
        backoff_s: First backoff (doubles, jittered, capped by ``max_backoff_s``).
        transport: An httpx transport (tests only).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        timeout_s: float = 120.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
            headers={
                "Authorization": f"Bearer {api_key.get_secret_value()}",
                "HTTP-Referer": APP_URL,
                "X-OpenRouter-Title": APP_TITLE,
                "X-Title": APP_TITLE,
            },
        )
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def complete(self, body: dict[str, Any]) -> Completion:
        """Send one chat completion (retrying what is retryable).

        Raises:
            LlmError: Classified failure (see :mod:`app.llm.errors`).
        """
        attempt = 1
        while True:
            try:
                return await self._complete_once(body)
            except LlmTemporaryError as exc:
                if attempt >= self._attempts:
                    raise
                delay = self._delay(attempt, exc.retry_after_s)
                logger.info("openrouter: %s; retry %d in %.1f s", exc, attempt, delay)
                await asyncio.sleep(delay)
                attempt += 1

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self._max_backoff_s)
        return jittered_backoff(attempt, self._backoff_s, self._max_backoff_s)

    async def _complete_once(self, body: dict[str, Any]) -> Completion:
        started = time.monotonic()
        try:
            response = await self._http.post("chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise LlmTemporaryError("timed out waiting for the model") from exc
        except httpx.TransportError as exc:
            raise LlmTemporaryError(f"network error: {exc!r}") from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        data = _json(response)
        if response.status_code != 200:
            raise _classify(response.status_code, data, response.headers.get("Retry-After"))
        if isinstance(data.get("error"), dict):  # an error inside a 200 (spec §5.3)
            error = data["error"]
            raise _classify(_int(error.get("code"), 502), data, None)
        return _completion(data, response, latency_ms)

    async def models(self) -> dict[str, ModelInfo]:
        """Every model OpenRouter lists, by id.

        Raises:
            LlmError: The list could not be had.
        """
        try:
            response = await self._http.get("models")
        except httpx.HTTPError as exc:
            raise LlmTemporaryError(f"network error: {exc!r}") from exc
        data = _json(response)
        if response.status_code != 200:
            raise _classify(response.status_code, data, response.headers.get("Retry-After"))
        return {
            item["id"]: model_info(item)
            for item in data.get("data", [])
            if isinstance(item, dict) and "id" in item
        }


def model_info(item: dict[str, Any]) -> ModelInfo:
    """One entry of ``GET /models`` (spec §1.4) as a :class:`ModelInfo`.

    Prices are decimal strings in USD per token; ``created`` is unix seconds. A value that
    is missing or malformed becomes None rather than failing the whole list.
    """
    pricing = item.get("pricing") if isinstance(item.get("pricing"), dict) else {}
    assert isinstance(pricing, dict)
    created = item.get("created")
    return ModelInfo(
        id=item["id"],
        supported_parameters=frozenset(item.get("supported_parameters") or ()),
        context_length=item.get("context_length"),
        expiration_date=item.get("expiration_date"),
        prompt_price=_price(pricing.get("prompt")),
        completion_price=_price(pricing.get("completion")),
        created=(
            datetime.fromtimestamp(created, UTC)
            if isinstance(created, int | float) and not isinstance(created, bool)
            else None
        ),
    )


def _price(value: Any) -> Decimal | None:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    # OpenRouter lists "-1" for routers whose price depends on the model picked: unknown.
    return price if price.is_finite() and price >= 0 else None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        if response.status_code >= 500 or response.status_code in RETRYABLE:
            raise LlmTemporaryError("reply is not JSON", status=response.status_code) from None
        if response.status_code == 200:
            raise LlmTemporaryError("reply is not JSON (truncated?)", status=200) from None
        raise LlmRejected("reply is not JSON", status=response.status_code) from None
    if not isinstance(data, dict):
        raise LlmTemporaryError("reply is not a JSON object", status=response.status_code)
    return data


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _classify(status: int, data: dict[str, Any], retry_after: str | None) -> LlmError:
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    assert isinstance(error, dict)
    message = str(error.get("message") or f"HTTP {status}")
    availability = error.get("availability") if isinstance(error.get("availability"), dict) else {}
    assert isinstance(availability, dict)
    seconds = _retry_after(retry_after, availability.get("retry_after"))
    if status == 402:
        return LlmNoCredits(message, status=status)
    if status == 401:
        return LlmAuthError(message, status=status)
    if status in RETRYABLE or availability.get("retryable") is True:
        return LlmTemporaryError(message, status=status, retry_after_s=seconds)
    if status == 404 and "requested parameters" in message.lower():
        return StructuredOutputUnsupported(message, status=status)
    return LlmRejected(message, status=status)


def _retry_after(header: str | None, body_value: Any) -> float | None:
    for value in (header, body_value):
        try:
            if value is not None:
                return max(float(value), 0.0)
        except (TypeError, ValueError):
            continue
    return None


def _completion(data: dict[str, Any], response: httpx.Response, latency_ms: int) -> Completion:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LlmTemporaryError("no choices in the reply (no content generated)", status=200)
    choice = choices[0]
    if choice.get("finish_reason") == "error":
        error = choice.get("error") if isinstance(choice.get("error"), dict) else {}
        assert isinstance(error, dict)
        raise LlmTemporaryError(f"generation failed: {error.get('message', 'unknown')}", status=200)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    assert isinstance(message, dict)
    content = message.get("content")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    cost = usage.get("cost")
    return Completion(
        content=content if isinstance(content, str) else None,
        model=str(data.get("model", "")),
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        cost_usd=Decimal(str(cost)) if isinstance(cost, int | float) else None,
        generation_id=str(data.get("id") or response.headers.get("X-Generation-Id") or "") or None,
        latency_ms=latency_ms,
    )


__all__ = [
    "Completion",
    "Completions",
    "LlmError",
    "ModelInfo",
    "OpenRouterClient",
    "model_info",
]
