"""Waiting in tests: poll a condition with a deadline, never a fixed sleep."""

import asyncio
from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Poll ``condition`` every 10 ms until it holds.

    Raises:
        AssertionError: ``within`` seconds (event-loop time) passed first; names ``what``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def until_checked(
    check: Callable[[], Awaitable[bool]], what: str, within: float = 10.0, every: float = 0.05
) -> None:
    """:func:`until` for a check that has to wait itself (a request over HTTP, a page).

    Raises:
        AssertionError: ``within`` seconds passed first; names ``what``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)
