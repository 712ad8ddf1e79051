"""LLM provider errors, classified by what the caller should do.

::

    LlmError (AppError)
    ├── LlmTemporaryError           network, timeout, 408/429/5xx/524/529: retried, then hold
    ├── LlmRejected                 400/401/403/404/413/422: not retried
    │   ├── LlmAuthError            401: the key is wrong or disabled (alert)
    │   └── StructuredOutputUnsupported   404 for require_parameters + json_schema: fall back
    └── LlmNoCredits                402: pause LLM calls for the account (alert)
"""

from app.core.errors import AppError


class LlmError(AppError):
    """Base of every provider failure.

    Attributes:
        status: The HTTP (or in-body) status, when there was one.
    """

    status_code = 502
    code = "llm_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message if status is None else f"{message} (HTTP {status})")
        self.status = status


class LlmTemporaryError(LlmError):
    """May succeed later; ``retry_after_s`` when the server said how long to wait."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class LlmRejected(LlmError):
    """The request was refused; repeating it will not help."""


class LlmAuthError(LlmRejected):
    """The API key is missing, wrong or disabled."""


class StructuredOutputUnsupported(LlmRejected):
    """No endpoint of the model supports the requested ``response_format``."""


class LlmNoCredits(LlmError):
    """The OpenRouter account or key is out of credits (402)."""
