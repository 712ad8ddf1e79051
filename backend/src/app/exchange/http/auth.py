"""Request signing: V1 HMAC-SHA256 and V3 API-wallet EIP-712 (spec §2 and §10).

A signer turns the business parameters into the exact string that goes on the wire, signature
included. The string is built once, signed, and sent as is: the signature covers the bytes the
server sees.
"""

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final, Protocol
from urllib.parse import quote, urlencode

from pydantic import SecretStr

from app.exchange.http.constants import (
    API_KEY_HEADER,
    DEFAULT_RECV_WINDOW_MS,
    V3_CHAIN_ID_MAINNET,
    V3_DOMAIN_NAME,
    V3_DOMAIN_VERSION,
    V3_SORT_PARAMS,
    V3_VERIFYING_CONTRACT,
)

type Params = Sequence[tuple[str, str]]

# What encodeURIComponent leaves alone; V3 values are encoded like that (as ccxt does).
_URI_COMPONENT_SAFE: Final = "-_.!~*'()"


class RequestSigner(Protocol):
    """Signs requests for one account."""

    scheme: str
    """``"hmac"`` or ``"v3"``."""

    validity_window_ms: int
    """How long after signing the server may still accept a request (recvWindow / nonce)."""

    def sign(self, params: Params, now_ms: int) -> str:
        """Return the encoded parameter string, ending with ``signature=...``.

        Args:
            params: Business parameters, values already formatted as strings.
            now_ms: The exchange's current time (local clock plus measured offset), epoch ms.
        """
        ...

    def headers(self) -> dict[str, str]:
        """Headers every authenticated request carries."""
        ...


def hmac_signature(secret: str, message: str) -> str:
    """HMAC-SHA256 of ``message`` keyed by ``secret``, lowercase hex (spec §2.3)."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class HmacSigner:
    """V1: ``timestamp`` and ``recvWindow`` appended, HMAC over the encoded string."""

    scheme = "hmac"

    def __init__(
        self,
        api_key: SecretStr,
        api_secret: SecretStr,
        recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
    ) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self._recv_window_ms = recv_window_ms
        self.validity_window_ms = recv_window_ms

    def sign(self, params: Params, now_ms: int) -> str:
        """Encode ``params`` + recvWindow + timestamp, then append the signature."""
        payload = [*params, ("recvWindow", str(self._recv_window_ms)), ("timestamp", str(now_ms))]
        encoded = urlencode(payload)
        return f"{encoded}&signature={hmac_signature(self._api_secret.get_secret_value(), encoded)}"

    def headers(self) -> dict[str, str]:
        """The API key header."""
        return {API_KEY_HEADER: self._api_key.get_secret_value()}


def v3_typed_data(message: str, chain_id: int) -> dict[str, object]:
    """The EIP-712 document whose signature authenticates a V3 request (spec §10)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Message": [{"name": "msg", "type": "string"}],
        },
        "primaryType": "Message",
        "domain": {
            "name": V3_DOMAIN_NAME,
            "version": V3_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": V3_VERIFYING_CONTRACT,
        },
        "message": {"msg": message},
    }


class V3Signer:
    """V3: ``nonce``/``user``/``signer`` and an EIP-712 signature by the API wallet's key.

    Nonces are microseconds of exchange time, strictly increasing within the process, because
    the server refuses a nonce it has seen.
    """

    scheme = "v3"
    # Nonces are accepted within ±10 s of server time (spec §10).
    validity_window_ms = 10_000

    def __init__(
        self,
        user: str,
        signer: str,
        signer_private_key: SecretStr,
        chain_id: int = V3_CHAIN_ID_MAINNET,
    ) -> None:
        self._user = user
        self._signer = signer
        self._key = signer_private_key
        self._chain_id = chain_id
        self._last_nonce = 0

    def next_nonce(self, now_ms: int) -> int:
        """A fresh nonce: now in microseconds, bumped past the previous one if needed."""
        nonce = max(now_ms * 1000, self._last_nonce + 1)
        self._last_nonce = nonce
        return nonce

    def sign(self, params: Params, now_ms: int) -> str:
        """Encode nonce, user, signer and ``params``; sign that string as the EIP-712 ``msg``."""
        business = sorted(params) if V3_SORT_PARAMS else list(params)
        payload = [
            ("nonce", str(self.next_nonce(now_ms))),
            ("user", self._user),
            ("signer", self._signer),
            *business,
        ]
        message = "&".join(
            f"{key}={quote(value, safe=_URI_COMPONENT_SAFE)}" for key, value in payload
        )
        # Imported here: eth_account's import builds elliptic-curve tables for seconds, and
        # only V3 accounts ever sign (every command and most of the service never do).
        from eth_account import Account
        from eth_account.messages import encode_typed_data

        signable = encode_typed_data(full_message=v3_typed_data(message, self._chain_id))
        signed = Account.sign_message(signable, private_key=self._key.get_secret_value())
        return f"{message}&signature=0x{bytes(signed.signature).hex()}"

    def headers(self) -> dict[str, str]:
        """V3 requests carry no key header."""
        return {}
