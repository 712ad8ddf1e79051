"""An account's client: V3 signing when its API-wallet trio is set, else HMAC, else public."""

import pytest

from app.config import load_settings
from app.exchange.http.factory import client_for, signer_for

WALLET_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


@pytest.mark.parametrize(
    ("env", "scheme", "base_url"),
    [
        ({}, None, "https://fapi.asterdex.com"),
        (
            {"ASTERDEX_API_KEY": "k" * 16, "ASTERDEX_API_SECRET": "s" * 16},
            "hmac",
            "https://fapi.asterdex.com",
        ),
        (
            {
                "ASTERDEX_USER": "0x" + "1" * 40,
                "ASTERDEX_SIGNER": "0x" + "2" * 40,
                "ASTERDEX_SIGNER_PRIVATE_KEY": WALLET_KEY,
            },
            "v3",
            "https://fapi3.asterdex.com",
        ),
    ],
)
async def test_the_signing_scheme_follows_the_configured_keys(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], scheme: str | None, base_url: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(use_default_env_file=False)
    account = settings.accounts[0]

    signer = signer_for(account, settings.exchange)
    client = client_for(account, settings.exchange)

    assert (signer.scheme if signer else None) == scheme
    assert client.transport.base_url == base_url
    await client.aclose()
