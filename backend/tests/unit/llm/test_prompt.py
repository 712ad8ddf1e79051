"""The prompt: deterministic, versioned, within its token budget; a snapshot guards changes."""

from pathlib import Path

from app.llm.prompt import PROMPT_VERSION, build_prompt

from .factories import context

SNAPSHOT = Path(__file__).parent / "snapshots" / "prompt_3_assets.txt"


def test_the_prompt_is_deterministic_and_versioned() -> None:
    first, second = build_prompt(context()), build_prompt(context())

    assert first.text == second.text
    assert first.sha256 == second.sha256
    assert first.version == PROMPT_VERSION
    assert len(PROMPT_VERSION) == 16


def test_the_prompt_matches_its_snapshot() -> None:
    text = build_prompt(context()).text
    if not SNAPSHOT.exists():  # first run writes it; review and commit the file
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text()


def test_the_default_prompt_for_three_assets_stays_under_4000_tokens() -> None:
    prompt = build_prompt(context())

    assert prompt.token_estimate < 4000
    assert "## BTC (BTCUSDT)" in prompt.user
    assert "ETHUSDT long qty 1.5 entry 1800" in prompt.user
    assert "thesis: 4h trend up, RSI reset" in prompt.user
    assert "at most 10000 per position" in prompt.system
    assert "filled 1.5 @ 1800" in prompt.user


def test_a_halt_is_stated() -> None:
    from dataclasses import replace

    prompt = build_prompt(replace(context(), halted_reason="daily loss 5.2% reached"))

    assert "Entries are HALTED today: daily loss 5.2% reached" in prompt.user
