"""Cursors: what the service hands out comes back intact; anything else is a clear 422."""

import base64
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db.paging import InvalidCursor, decode_cursor, encode_cursor

moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(moments, st.uuids())
def test_a_cursor_round_trips(at: datetime, key: uuid.UUID) -> None:
    moment, text = decode_cursor(encode_cursor(at, key))
    assert moment == at
    assert uuid.UUID(text) == key


@given(st.text(max_size=200))
def test_any_other_text_decodes_or_is_refused_as_invalid_cursor(text: str) -> None:
    failure: InvalidCursor | None = None
    try:
        moment, _ = decode_cursor(text)
    except InvalidCursor as exc:  # never any other exception
        failure = exc
    if failure is not None:
        assert (failure.status_code, failure.code) == (422, "invalid_cursor")
    else:  # it happened to decode: then it is a well-formed, timezone-aware position
        assert moment.utcoffset() is not None


def test_a_naive_time_inside_a_cursor_is_refused() -> None:
    naive = base64.urlsafe_b64encode(b"2026-01-01T01:00:00|k").decode().rstrip("=")
    with pytest.raises(InvalidCursor):
        decode_cursor(naive)
