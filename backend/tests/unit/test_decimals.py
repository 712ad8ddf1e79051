"""The one text form of decimals in API answers: plain, unpadded, exact."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from app.core.decimals import NonFiniteDecimal, PlainDecimal, plain_decimal

finite = st.decimals(allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E+4"), "10000"),
        (Decimal(10000).quantize(Decimal("0.00000001")).normalize(), "10000"),
        (Decimal("67190.300000000000000000"), "67190.3"),
        (Decimal("1E-5"), "0.00001"),
        (Decimal("0E-18"), "0"),
        (Decimal("-0.00"), "0"),
        (Decimal("-12.50"), "-12.5"),
        (Decimal("100"), "100"),
    ],
)
def test_known_forms(value: Decimal, text: str) -> None:
    assert plain_decimal(value) == text


@given(finite)
def test_the_text_reads_back_as_the_same_value(value: Decimal) -> None:
    assert Decimal(plain_decimal(value)) == value


@given(finite)
def test_the_text_is_plain_and_unpadded(value: Decimal) -> None:
    text = plain_decimal(value)

    assert "E" not in text.upper()
    assert not text.endswith(".")
    if "." in text:
        assert not text.endswith("0")


@given(finite, st.integers(min_value=0, max_value=30))
def test_equal_values_read_the_same_whatever_their_scale(value: Decimal, zeros: int) -> None:
    # A NUMERIC column pads to its scale; the quick start's SQLite returns what it stored.
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    padded = Decimal((sign, (*digits, *[0] * zeros), exponent - zeros))

    assert padded == value
    assert plain_decimal(padded) == plain_decimal(value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_non_finite_values_are_refused(value: Decimal) -> None:
    with pytest.raises(NonFiniteDecimal):
        plain_decimal(value)


def test_a_plain_decimal_field_is_plain_in_json_and_a_decimal_in_python() -> None:
    class Amount(BaseModel):
        value: PlainDecimal

    amount = Amount(value=Decimal("1E+4"))

    assert amount.model_dump_json() == '{"value":"10000"}'
    assert amount.model_dump(mode="json") == {"value": "10000"}
    assert amount.model_dump()["value"] == Decimal("1E+4")
