"""A fake OpenRouter API that speaks the real wire protocol, for the LLM client's tests.

It follows ``shared/specs/openrouter-api.md`` (§ numbers below refer to it): ``POST
/chat/completions`` (non-streaming), ``GET /models``, ``GET /key`` (and the older
``/auth/key``), ``GET /credits`` and ``GET /generation`` under ``<base_url>`` =
``http://127.0.0.1:<port>/api/v1``. What the model says is scripted per request::

    async with FakeOpenRouter(credits_usd=Decimal("5")) as fake:
        fake.script(
            Reply.fenced({"action": "hold"}),
            Reply.error(429, "Rate limit exceeded", retry_after_s=2),
        )
        ...  # a client posts to f"{fake.base_url}/chat/completions"
        assert fake.requests[0].response_format["type"] == "json_schema"

Replies are used first in, first out by requests that reach a model; when the script is empty
``default_reply(request)`` answers (initially ``Reply.content("{}")``; None turns that into a
500 envelope). See ``Reply`` for the answers on offer, including the usual LLM misbehaviour
(Markdown fences, ``<think>`` blocks, trailing prose, truncation, empty content).

Choices where the spec is silent or ambiguous (details in each module's docstring):

- Order of checks (``_http``): bearer key (401: "Missing Authentication header", or
  "User not found." for a wrong key, with ``user_id: null``), JSON object body (400),
  validation (400, ``_request``), model routing (``_routing``), credits (402, ``_ledger``).
  A rejected request is recorded but does not consume a scripted reply.
- ``stream: true`` is refused with 400 "streaming not supported by this fake".
- Validation refuses unknown keys inside ``provider`` (schema ``additionalProperties:
  false``), ``response_format`` types other than ``text``/``json_object``/``json_schema``
  (``grammar``/``python`` included), and a ``json_schema`` without a valid ``name`` (1-64 of
  ``[A-Za-z0-9_-]``) or an object ``schema``. Other unknown top-level keys are ignored.
- Routing (``_routing``): ``model`` then ``models`` are tried in order; with neither, the
  first catalogue model is the account default. Unknown id: 400 "<id> is not a valid model
  ID". A model whose ``expiration_date`` is today or earlier: 404 "... was retired on ...".
  ``tools`` on a model without ``tools``: 404 "No endpoints found that support tool use."
  (always, §2.5). With ``provider.require_parameters: true``, any request parameter missing
  from ``supported_parameters`` (``json_schema`` needs ``structured_outputs``, ``json_object``
  needs ``response_format``, ``max_completion_tokens`` counts as ``max_tokens``,
  ``reasoning_effort`` as ``reasoning``): 404 "No endpoints found that can handle the
  requested parameters."; without it the parameter is silently dropped
  (``ChatRequest.dropped_parameters``). These routing errors put ``error.availability``
  (§5.4: ``model_not_found``, ``model_deprecated``, ``no_endpoints``,
  ``constraint_filtered``) next to the usual ``code``/``message``, and fall through to the
  next fallback model; the last candidate's error is returned if none can serve. Scripted
  replies never trigger a fallback: they are what the routed model answered.
- Models may be named with a routing suffix (``:nitro``...) or their canonical slug.
  ``x-ai/grok-4`` is served as a live model (the upstream retirement of §7 is not modelled);
  it has mandatory reasoning, so ``reasoning.effort: "none"`` is a 400.
- A prompt estimate (message text / 4, plus 3 per message) plus ``max_tokens`` above the
  model's context length is a 400 with ``metadata.error_type: context_length_exceeded``.
- Tokens: prompt tokens default to that estimate; completion tokens to content / 4 plus the
  reasoning tokens (content tokens and ``max_tokens`` are not capped against each other).
  ``usage.cost`` = tokens x the model's prices, as a JSON number; ``cost_details`` split it.
- Completions carry ``id: "gen-<unix>-<20 random>"``, ``X-Generation-Id``, ``provider``,
  ``system_fingerprint: null``, ``native_finish_reason`` (Anthropic models say ``end_turn``
  and ``max_tokens``), and ``message.reasoning``/``refusal`` (null unless scripted).
- A 429 from ``Reply.error`` carries ``X-RateLimit-Limit: 20``, ``X-RateLimit-Remaining: 0``
  and ``X-RateLimit-Reset`` in epoch **milliseconds** (now + Retry-After, else + 60 s).
- Credits (``_ledger``): one balance for all keys; 402 "Insufficient credits..." when it is
  used up, 402 "This request requires more credits, or fewer max_tokens..." when the prompt
  plus the maximum output (``max_tokens``, else the model's max output) costs more than
  is left; ``metadata: {"provider_name": null}``. ``content`` replies are billed;
  ``no_choices`` bills the prompt; ``choice_error`` is recorded, not billed.
- ``GET /models``: no key needed; filtered by ``supported_parameters`` (comma list, all
  required); ``offset``/``limit`` paginate with ``links.next``; retired models stay listed
  with their past ``expiration_date`` so a client can notice them. ``GET /key``: ``limit`` =
  ``credits_usd``, ``limit_remaining`` = the balance, the label is the masked key.
  ``GET /credits``: 403 "Only management keys can perform this operation" (2026 spec; the
  fake has no management keys). ``GET /generation``: stats of content/no-choices/choice-error
  answers; 404 for unknown ids and for the first ``generation_not_ready_polls`` polls.
- Unknown paths answer a 404 envelope, a known path with the wrong method 405.

Not modelled: streaming (SSE), tool-call answers (``message.tool_calls``), provider
preferences other than ``require_parameters`` (``order``/``only``/``ignore``/``sort``/
``max_price``... are accepted and ignored), moderation, rate limiting by itself (scripted
429s only), ``X-OpenRouter-Metadata``, the response-healing plugin, ``/models/.../endpoints``,
``/generation/content``, per-provider ``max_completion_tokens`` routing.
"""

from ._catalogue import DEFAULT_MODELS, FakeModel
from ._http import RecordedCall
from ._ledger import Generation
from ._replies import ContentOptions, Reply
from ._request import ChatRequest
from ._routing import NO_ENDPOINTS, NO_TOOL_ENDPOINTS
from ._server import DEFAULT_API_KEY, FakeOpenRouter

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_MODELS",
    "NO_ENDPOINTS",
    "NO_TOOL_ENDPOINTS",
    "ChatRequest",
    "ContentOptions",
    "FakeModel",
    "FakeOpenRouter",
    "Generation",
    "RecordedCall",
    "Reply",
]
