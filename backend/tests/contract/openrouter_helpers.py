"""Shared request builders for the fake OpenRouter self-tests (``test_fake_openrouter_*.py``).

Requests go out through raw httpx, so those tests pin the protocol itself, not the project's
client. The ``router`` and ``http`` fixtures they use live in ``conftest.py``.
"""

from typing import Any

import httpx

JsonObject = dict[str, Any]
GROK = "x-ai/grok-4"
LLAMA = "meta-llama/llama-3.1-8b-instruct"
MINI = "openai/gpt-4o-mini"
RETIRED = "x-ai/grok-3-old"
DECISION = {"action": "hold", "confidence": 0.4}
SCHEMA_FORMAT: JsonObject = {
    "type": "json_schema",
    "json_schema": {
        "name": "trade_decision",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"action": {"type": "string"}},
            "required": ["action"],
            "additionalProperties": False,
        },
    },
}
MESSAGES = [
    {"role": "system", "content": "You are a trader. Answer JSON only."},
    {"role": "user", "content": "BTC is at 100000. Decide."},
]


def chat_body(**overrides: Any) -> JsonObject:
    return {"model": GROK, "messages": MESSAGES, **overrides}


async def chat(http: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    return await http.post("/chat/completions", json=chat_body(**overrides))


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]
