"""Waiting in tests: poll a condition with a deadline, never a fixed sleep."""

import asyncio
from collections.abc import Callable


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
