"""Which model serves a chat request: the ``model``/``models`` fallback walk (spec §2.6, §2.7).

Candidates are ``model`` then each ``models`` entry, duplicates removed; with neither, the
first catalogue model stands in for the account default. A candidate fails when it is
unknown (400 ``model_not_found``), retired (404 ``model_deprecated``), cannot take the
``tools`` (404, whatever ``require_parameters`` says, spec §2.5), lacks a requested parameter
while ``provider.require_parameters`` is true (404 ``constraint_filtered``), refuses to turn
off mandatory reasoning (400) or cannot fit prompt plus ``max_tokens`` in its context (400).
The first candidate that passes serves; if none does, the last candidate's error is returned.
Parameters the serving model lacks are dropped silently otherwise.
"""

from dataclasses import dataclass
from datetime import date

from ._catalogue import Catalogue, FakeModel, required_parameters
from ._request import reasoning_disabled
from ._wire import DOCS_ROUTING, ApiError, Json, availability, estimate_prompt_tokens

NO_ENDPOINTS = "No endpoints found that can handle the requested parameters."
NO_TOOL_ENDPOINTS = (
    f"No endpoints found that support tool use. To learn more about provider routing, "
    f"visit: {DOCS_ROUTING}"
)


@dataclass(frozen=True, slots=True)
class Route:
    """The serving model and the parameters it silently ignores."""

    model: FakeModel
    dropped: tuple[str, ...]


def candidates(body: Json, catalogue: Catalogue) -> list[str]:
    """The model ids to try, in order."""
    slugs: list[str] = []
    model = body.get("model")
    if isinstance(model, str):
        slugs.append(model)
    fallbacks = body.get("models")
    if isinstance(fallbacks, list):
        slugs.extend(s for s in fallbacks if isinstance(s, str) and s not in slugs)
    return slugs or [catalogue.models[0].id]


def route(body: Json, catalogue: Catalogue, today: date) -> Route:
    """The first candidate able to serve ``body``, else the last candidate's ``ApiError``."""
    slugs = candidates(body, catalogue)
    failure: ApiError | None = None
    for slug in slugs:
        try:
            return _check(slug, body, catalogue, today, slugs)
        except ApiError as exc:
            failure = exc
    assert failure is not None
    raise failure


def _check(slug: str, body: Json, catalogue: Catalogue, today: date, slugs: list[str]) -> Route:
    model = catalogue.find(slug)
    if model is None:
        unknown = availability("model_not_found", slugs)
        raise ApiError(400, f"{slug} is not a valid model ID", availability=unknown)
    if model.retired(today):
        message = f"{model.id} was retired on {model.expiration_date} and is no longer available"
        raise ApiError(404, message, availability=availability("model_deprecated", slugs))
    missing = [p for p in required_parameters(body) if not model.supports(p)]
    if "tools" in missing:
        raise ApiError(404, NO_TOOL_ENDPOINTS, availability=availability("no_endpoints", slugs))
    if missing and (body.get("provider") or {}).get("require_parameters") is True:
        constraint = {
            "field": "provider.require_parameters",
            "detail": f"no endpoint supports: {', '.join(missing)}",
        }
        found = availability("constraint_filtered", slugs, constraint=constraint)
        raise ApiError(404, NO_ENDPOINTS, availability=found)
    if model.reasoning_mandatory and reasoning_disabled(body):
        raise ApiError(400, "Reasoning is mandatory for this endpoint and cannot be disabled.")
    _check_context(model, body)
    return Route(model, tuple(missing))


def _check_context(model: FakeModel, body: Json) -> None:
    prompt = estimate_prompt_tokens(body)
    output = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    if prompt + output <= model.context_length:
        return
    message = (
        f"This endpoint's maximum context length is {model.context_length} tokens. However, you "
        f"requested about {prompt + output} tokens ({prompt} of text input, {output} in the "
        "output). Please reduce the length of either one."
    )
    raise ApiError(400, message, metadata={"error_type": "context_length_exceeded"})
