"""The live exchange port against the fake AsterDEX: REST fill polling pages through
everything, and leverage is only set when it differs."""

from datetime import timedelta
from decimal import Decimal

import pytest

from app.exchange.types import OrderRequest, OrderType, Side
from tests.db import Database

from .live import live_rig

pytestmark = pytest.mark.postgres


async def test_the_rest_fallback_pages_through_more_than_one_page_of_fills(
    pg: Database,
) -> None:
    async with live_rig(pg.sessions) as rig:
        _, live = await rig.loop()  # no user-data stream: fills come from REST
        since = rig.clock.now()
        for n in range(520):
            side = Side.BUY if n % 2 == 0 else Side.SELL
            await live.place_order(
                OrderRequest(
                    "ETHUSDT", side, OrderType.MARKET, f"page-{n}", quantity=Decimal("0.01")
                )
            )
            if n % 50 == 49:  # stay under the fake's 300 orders per 10 s
                rig.clock.advance(timedelta(seconds=11))

        fills = await live.executions(since)

        assert len(fills) == 520
        assert len({f.trade_id for f in fills}) == 520
        assert {f.client_order_id for f in fills} == {f"page-{n}" for n in range(520)}
        assert [f.time for f in fills] == sorted(f.time for f in fills)


async def test_leverage_and_margin_type_are_only_set_when_they_differ(pg: Database) -> None:
    async with live_rig(pg.sessions) as rig:
        _, live = await rig.loop()

        def settings_calls() -> int:
            return sum(
                1
                for r in rig.exchange.requests
                if r.method == "POST" and r.path.endswith(("/leverage", "/marginType"))
            )

        await live.set_leverage("BTCUSDT", 3)
        first = settings_calls()
        await live.set_leverage("BTCUSDT", 3)
        again = settings_calls()
        await live.set_leverage("BTCUSDT", 2)

        assert first == 2  # margin type once, leverage once
        assert again == first  # nothing differs: nothing sent
        assert settings_calls() == first + 1  # only the leverage changed
        assert rig.account.leverage["BTCUSDT"] == 2
