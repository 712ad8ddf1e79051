"""Logs: readable or JSON, and never a secret, however it gets into a record."""

import json
import logging
from collections.abc import Iterator

import pytest

from app.core.logging import SecretRedactor, configure_logging

SECRET = "hmac-secret-0123456789"
TOKEN = "api-token-abcdefghijkl"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_secrets_are_redacted_from_messages_arguments_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG", json_lines=False, secrets=[SECRET, TOKEN])
    log = logging.getLogger("test.redaction")

    log.info("signing with %s", SECRET)
    log.warning(f"token is {TOKEN}")
    try:
        raise RuntimeError(f"exchange refused key {SECRET}")
    except RuntimeError:
        log.exception("order failed")

    err = capsys.readouterr().err
    assert SECRET not in err
    assert TOKEN not in err
    assert err.count("***") >= 3
    assert "RuntimeError: exchange refused key ***" in err


def test_secret_shapes_are_redacted_even_when_not_configured() -> None:
    redactor = SecretRedactor()

    text = redactor.redact(
        "Authorization: Bearer abc.def-123 url=/fapi/v1/order?symbol=BTC&signature=deadbeef42 "
        "key sk-or-v1-0123456789abcdef X-MBX-APIKEY: AbCdEf123"
    )

    assert "abc.def-123" not in text
    assert "deadbeef42" not in text
    assert "sk-or-v1-0123456789abcdef" not in text
    assert "AbCdEf123" not in text
    assert "symbol=BTC" in text


def test_short_values_are_not_treated_as_secrets() -> None:
    # A 3-character "secret" would otherwise blank out ordinary words everywhere.
    assert SecretRedactor(["abc"]).redact("abc order") == "abc order"


def test_production_logs_are_json_lines_with_extras(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, secrets=[SECRET])

    logging.getLogger("test.json").info("placed %s", SECRET, extra={"account_id": "alice"})
    logging.getLogger("test.json").debug("below the level")

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "placed ***"
    assert record["level"] == "INFO"
    assert record["logger"] == "test.json"
    assert record["account_id"] == "alice"
    assert record["time"].endswith("+00:00")
