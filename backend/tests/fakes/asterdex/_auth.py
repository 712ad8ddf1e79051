"""Request authentication: V1 API key + HMAC-SHA256 (spec §2) and V3 EIP-712 wallets (§10).

V1: the signature covers ``totalParams`` = raw query string immediately followed by the raw body
(no ``&`` between), minus the trailing ``signature`` parameter, which must be the last
parameter of whichever part carries it. Checks run in this order: API key present and
well-formed (-2014), known (-2015), mandatory ``signature``/``timestamp`` (-1102), signature
(-1022), then the timestamp rule (-1021), so a request is proven authentic before its freshness
is judged.

V3: ``user``, ``signer``, ``nonce`` and ``signature`` are mandatory (-1102). The signed ``msg``
is the same ``totalParams`` without the signature (in practice: the query for GET, the form
body otherwise). The recovered address must equal ``signer`` (-1022), and ``user``/``signer``
must be a registered pair (-2015). Then the nonce (microseconds) must lie within ±10 s of
server time and be unused among the user's last 100 nonces, and not older than all of them
when 100 are kept (-4225 for all three; the message tells them apart). Nonces are only
recorded for requests that pass authentication.
"""

import hmac
import re
from bisect import insort
from collections.abc import Callable, Mapping
from hashlib import sha256
from urllib.parse import unquote_plus

from eth_account import Account
from eth_account.messages import encode_typed_data

from ._accounts import FakeAccount
from ._errors import (
    BAD_API_KEY_FMT,
    INVALID_SIGNATURE,
    NONCE_DUPLICATE,
    NONCE_EXPIRED,
    REJECTED_KEY,
    TIMESTAMP_AHEAD,
    TIMESTAMP_OUTSIDE,
    error,
    invalid_param,
    mandatory,
)
from ._params import Params, parse_pairs

_API_KEY_RE = re.compile(r"^[\x21-\x7e]{1,256}$")
MAX_RECV_WINDOW = 60_000
NONCE_WINDOW_MS = 10_000
NONCES_KEPT = 100
_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _strip_trailing_signature(raw: str) -> tuple[str, str] | None:
    """``(rest, signature)`` when the last parameter of ``raw`` is ``signature``."""
    head, _, last = raw.rpartition("&")
    name, _, value = last.partition("=")
    if name != "signature":
        return None
    return head, unquote_plus(value)


def _names(raw: str) -> set[str]:
    return {pair.partition("=")[0] for pair in raw.split("&") if pair}


def signed_payload(query: str, body: str) -> tuple[str, str]:
    """Split a request into the signed ``totalParams`` and the signature sent with it."""
    from_body = _strip_trailing_signature(body) if body else None
    if from_body is not None:
        if "signature" in _names(query) or "signature" in _names(from_body[0]):
            raise error(INVALID_SIGNATURE)
        return query + from_body[0], from_body[1]
    from_query = _strip_trailing_signature(query) if query else None
    if from_query is not None:
        if "signature" in _names(body) or "signature" in _names(from_query[0]):
            raise error(INVALID_SIGNATURE)
        return from_query[0] + body, from_query[1]
    if "signature" in _names(query) | _names(body):
        raise error(INVALID_SIGNATURE)  # present, but not the last parameter
    raise mandatory("signature")


def check_hmac(secret: str, payload: str, signature: str) -> None:
    """-1022 unless ``signature`` is HMAC-SHA256(secret, payload) in hex (any letter case)."""
    raw = payload.encode("utf-8", errors="surrogateescape")
    expected = hmac.new(secret.encode(), raw, sha256).hexdigest()
    if not signature.isascii() or not hmac.compare_digest(expected, signature.lower()):
        raise error(INVALID_SIGNATURE)


def check_timestamp(params: Params, server_ms: int) -> None:
    """Spec §2.4: ``timestamp < server + 1000`` and ``server - timestamp <= recvWindow``."""
    if params.optional("timestamp") is None:
        raise mandatory("timestamp")
    timestamp = params.require_int("timestamp")
    recv_window = params.int_or("recvWindow", 5000)
    if not 0 < recv_window <= MAX_RECV_WINDOW:
        raise invalid_param("recvWindow")
    if timestamp >= server_ms + 1000:
        raise error(TIMESTAMP_AHEAD)
    if server_ms - timestamp > recv_window:
        raise error(TIMESTAMP_OUTSIDE)


def api_key_account(
    headers: Mapping[str, str], lookup: Callable[[str], FakeAccount | None]
) -> FakeAccount:
    """The HMAC account named by ``X-MBX-APIKEY`` (401 -2014/-2015 otherwise)."""
    key = headers.get("x-mbx-apikey", "")
    if not _API_KEY_RE.match(key):
        raise error(BAD_API_KEY_FMT, status=401)
    account = lookup(key)
    if account is None or account.auth != "hmac":
        raise error(REJECTED_KEY, status=401)
    return account


def hmac_account(
    headers: Mapping[str, str],
    query: str,
    body: str,
    params: Params,
    lookup: Callable[[str], FakeAccount | None],
    server_ms: int,
) -> FakeAccount:
    """Authenticate a signed V1 request (USER_DATA / TRADE)."""
    account = api_key_account(headers, lookup)
    payload, signature = signed_payload(query, body)
    if params.optional("timestamp") is None:
        raise mandatory("timestamp")
    check_hmac(account.secret, payload, signature)
    check_timestamp(params, server_ms)
    return account


class NonceBook:
    """The last :data:`NONCES_KEPT` nonces of every V3 user."""

    def __init__(self) -> None:
        self._seen: dict[str, list[int]] = {}

    def use(self, user: str, nonce_us: int, server_ms: int) -> None:
        """Accept ``nonce_us`` once, or raise -4225."""
        if abs(nonce_us // 1000 - server_ms) > NONCE_WINDOW_MS:
            raise error(NONCE_EXPIRED)
        seen = self._seen.setdefault(user.lower(), [])
        if nonce_us in seen:
            raise error(NONCE_DUPLICATE)
        if len(seen) >= NONCES_KEPT and nonce_us < seen[0]:
            raise error(NONCE_EXPIRED)
        insort(seen, nonce_us)
        if len(seen) > NONCES_KEPT:
            del seen[0]


class V3Verifier:
    """Recovers the API wallet that signed a V3 ``msg`` with EIP-712."""

    def __init__(self, chain_id: int) -> None:
        self._domain = {
            "name": "AsterSignTransaction",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": _ZERO_ADDRESS,
        }

    def recover(self, msg: str, signature: str) -> str:
        """The lower-case address that signed ``msg``; -1022 for anything unusable."""
        digits = signature[2:] if signature[:2].lower() == "0x" else signature
        try:
            raw = bytes.fromhex(digits)
        except ValueError as exc:
            raise error(INVALID_SIGNATURE) from exc
        if len(raw) != 65:
            raise error(INVALID_SIGNATURE)
        typed = {
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
            "domain": self._domain,
            "message": {"msg": msg},
        }
        try:
            signable = encode_typed_data(full_message=typed)
            address = Account.recover_message(signable, signature=raw)
        except Exception as exc:  # eth-account/eth-keys raise several types for bad input
            raise error(INVALID_SIGNATURE) from exc
        return str(address).lower()


def v3_account(
    query: str,
    body: str,
    params: Params,
    lookup: Callable[[str], FakeAccount | None],
    verifier: V3Verifier,
    nonces: NonceBook,
    server_ms: int,
) -> FakeAccount:
    """Authenticate a signed V3 request."""
    for name in ("user", "signer", "nonce"):
        params.require(name)
    msg, signature = signed_payload(query, body)
    nonce = params.require_int("nonce", low=0)
    signer = params.require("signer").lower()
    user = params.require("user").lower()
    if verifier.recover(msg, signature) != signer:
        raise error(INVALID_SIGNATURE)
    account = lookup(user)
    if account is None or account.auth != "v3" or account.secret != signer:
        raise error(REJECTED_KEY, status=401)
    nonces.use(user, nonce, server_ms)
    return account


def split_params(query: str, body: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Decode both parts of a request."""
    return parse_pairs(query), parse_pairs(body)
