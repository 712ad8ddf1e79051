"""The secret registry: what the log filter, the journal and the stream all mask."""

from decimal import Decimal

from app.core.secrets import SecretRedactor, redact, redact_json, register_secrets

SECRET = "exchange-secret-for-registry-test-42"


def test_a_registered_secret_is_masked_in_text_and_inside_json() -> None:
    register_secrets([SECRET])
    document = {
        "message": f"refused {SECRET}",
        "notes": [f"a {SECRET} b", ("tuple", SECRET)],
        SECRET: Decimal("1.5"),
        "count": 3,
        "missing": None,
    }

    masked = redact_json(document)

    assert redact(f"key={SECRET}&x") == "key=***&x"
    assert masked == {
        "message": "refused ***",
        "notes": ["a *** b", ("tuple", "***")],
        "***": Decimal("1.5"),
        "count": 3,
        "missing": None,
    }
    assert document["message"] == f"refused {SECRET}"  # the input is left as it was


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    redactor = SecretRedactor(["abcdef", "abcdef-longer"])

    assert redactor.redact("x abcdef-longer y") == "x *** y"


def test_a_secret_added_later_is_masked_in_a_text_redacted_before() -> None:
    redactor = SecretRedactor()
    text = "the exchange said: key sekrit-value-123 is not allowed"
    assert redactor.redact(text) == text  # remembered as needing nothing
    redactor.add(["sekrit-value-123"])
    assert redactor.redact(text) == "the exchange said: key *** is not allowed"
    assert redactor.redact_json({"detail": [text]}) == {
        "detail": ["the exchange said: key *** is not allowed"]
    }
