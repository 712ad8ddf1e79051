"""Request signing against the spec's test vectors (HMAC) and an independent EIP-712 hash."""

from urllib.parse import parse_qsl

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from pydantic import SecretStr

from app.exchange.http.auth import HmacSigner, V3Signer, hmac_signature

DOC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"


@pytest.mark.parametrize(
    ("secret", "message", "digest"),
    [
        (  # the V1 doc's worked example (spec §2.3)
            DOC_SECRET,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
            "&recvWindow=5000&timestamp=1591702613943",
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
        ),
        (  # query + body concatenated with no "&" (the doc's mixed example, computed right)
            DOC_SECRET,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000"
            "&recvWindow=5000&timestamp=1591702613943",
            "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4",
        ),
        (  # the spec's own vector
            "test-secret-0123456789",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&recvWindow=5000"
            "&timestamp=1700000000000",
            "6c031d3f4880034db350323957561aaa6d304f486458a733252d8c6708f2fc70",
        ),
    ],
)
def test_hmac_matches_the_published_vectors(secret: str, message: str, digest: str) -> None:
    assert hmac_signature(secret, message) == digest


def test_hmac_signer_signs_exactly_what_it_sends_with_signature_last() -> None:
    signer = HmacSigner(SecretStr("key-1"), SecretStr("test-secret-0123456789"))

    wire = signer.sign(
        [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.010")],
        now_ms=1700000000000,
    )

    body, signature = wire.rsplit("&signature=", 1)
    assert body == (
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&recvWindow=5000"
        "&timestamp=1700000000000"
    )
    assert signature == "6c031d3f4880034db350323957561aaa6d304f486458a733252d8c6708f2fc70"
    assert signer.headers() == {"X-MBX-APIKEY": "key-1"}


def test_hmac_signer_repr_hides_the_secret() -> None:
    signer = HmacSigner(SecretStr("key-1"), SecretStr("very-secret-value"))

    assert "very-secret-value" not in repr(vars(signer))


# A throw-away key (never funded): the signer's address follows from it.
PRIVATE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SIGNER = Account.from_key(PRIVATE_KEY).address
USER = "0x" + "ab" * 20


def eip712_digest(message: str, chain_id: int) -> bytes:
    """EIP-712 hash computed by hand (spec §10), independently of eth-account's encoder."""
    domain_type = keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    domain = keccak(
        domain_type
        + keccak(text="AsterSignTransaction")
        + keccak(text="1")
        + chain_id.to_bytes(32, "big")
        + bytes(32)  # verifyingContract 0x000…000, left-padded
    )
    struct = keccak(keccak(text="Message(string msg)") + keccak(text=message))
    return keccak(b"\x19\x01" + domain + struct)


@pytest.mark.parametrize("chain_id", [1666, 714])
def test_v3_signature_recovers_to_the_api_wallet_over_the_sent_string(chain_id: int) -> None:
    signer = V3Signer(USER, SIGNER, SecretStr(PRIVATE_KEY), chain_id=chain_id)

    wire = signer.sign([("symbol", "BTCUSDT"), ("side", "BUY")], now_ms=1700000000000)

    message, signature = wire.rsplit("&signature=", 1)
    assert message == (
        f"nonce=1700000000000000&user={USER}&signer={SIGNER}&symbol=BTCUSDT&side=BUY"
    )
    assert signature.startswith("0x")
    recovered = Account._recover_hash(eip712_digest(message, chain_id), signature=signature)
    assert recovered == SIGNER
    assert signer.headers() == {}


def test_v3_nonces_are_microseconds_and_strictly_increasing() -> None:
    signer = V3Signer(USER, SIGNER, SecretStr(PRIVATE_KEY))

    nonces = [dict(parse_qsl(signer.sign([], now_ms=1700000000000)))["nonce"] for _ in range(3)]

    assert nonces == ["1700000000000000", "1700000000000001", "1700000000000002"]


def test_v3_values_are_uri_component_encoded() -> None:
    signer = V3Signer(USER, SIGNER, SecretStr(PRIVATE_KEY))

    wire = signer.sign([("batchOrders", '[{"a":"b c"}]')], now_ms=1)

    assert "batchOrders=%5B%7B%22a%22%3A%22b%20c%22%7D%5D" in wire
