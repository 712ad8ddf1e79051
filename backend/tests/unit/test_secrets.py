"""The secret registry: what the log filter, the journal and the stream all mask."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.secrets import (
    _SHAPE_HINT,
    SecretRedactor,
    _may_hold_shape,
    redact,
    redact_json,
    register_secrets,
)

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


_hint_pieces = st.sampled_from(
    [
        "bearer",
        "sk-or-",
        "signature=",
        "api_key",
        "api-key",
        "apikey",
        "api key",
        "secret=",
        "token=",
        "password=",
        "x-mbx-apikey",
        "\u212a",  # the Kelvin sign, which case-insensitive matching takes for "k"
        "\u017f",  # the long s, taken for "s"
        "\u0130",
        "=",
        "-",
        " ",
        "word",
    ]
)


def _random_case(text: str, flips: list[bool]) -> str:
    return "".join(c.upper() if i < len(flips) and flips[i] else c for i, c in enumerate(text))


@settings(max_examples=500)
@given(
    pieces=st.lists(st.one_of(_hint_pieces, st.text(max_size=4)), max_size=6),
    flips=st.lists(st.booleans(), max_size=60),
)
def test_the_shape_hint_is_found_exactly_where_its_expression_finds_it(
    pieces: list[str], flips: list[bool]
) -> None:
    text = _random_case("".join(pieces), flips)

    assert _may_hold_shape(text) == (_SHAPE_HINT.search(text) is not None)
