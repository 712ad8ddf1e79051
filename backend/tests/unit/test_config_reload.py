"""Hot reload: what applies live, rejected files, the cache TTL, no leaked secrets."""

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from app.config import (
    ConfigChange,
    EntryOrderType,
    Settings,
    SettingsWatcher,
    UnmanagedPositionPolicy,
    diff_settings,
    load_settings,
)
from app.core.errors import ConfigError
from app.core.types import AccountId

RELOAD_LOGGER = "app.config.reload"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, env_file: Path | None, overrides: Mapping[str, str]) -> Settings:
        self.calls += 1
        return load_settings(env_file, use_default_env_file=False, overrides=overrides)


def write_env(path: Path, **values: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    # Two writes within the filesystem's timestamp granularity would look unchanged.
    after = path.stat().st_mtime_ns
    if after <= before:
        os.utime(path, ns=(after, before + 1_000_000))


@dataclass
class Files:
    """The watched env file, the injected clock and a loader that counts re-reads."""

    env_file: Path
    clock: FakeMonotonic = field(default_factory=FakeMonotonic)
    loader: CountingLoader = field(default_factory=CountingLoader)

    def write(self, **values: str) -> None:
        write_env(self.env_file, **values)

    def start(self, **values: str) -> SettingsWatcher:
        """A watcher over a file holding ``values``, past its first (baseline) check."""
        self.write(**values)
        watcher = SettingsWatcher(
            load_settings(self.env_file, use_default_env_file=False),
            self.env_file,
            cache_ttl_s=3600,
            loader=self.loader,
            monotonic=self.clock,
        )
        assert watcher.check() is None
        return watcher


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path / "service.env")


@pytest.fixture(autouse=True)
def reload_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=RELOAD_LOGGER)
    return caplog


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == RELOAD_LOGGER and r.levelno == level
    ]


def test_a_valid_change_is_applied_and_logged(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    watcher = files.start(ASSETS="BTC", LEVERAGE="2")

    files.write(ASSETS="SOL,ETH", LEVERAGE="3")
    change = watcher.check()

    assert change is not None
    assert change.applied == ("ASSETS", "LEVERAGE")
    assert change.needs_restart == ()
    assert watcher.current is change.settings
    assert watcher.current.accounts[0].assets == ["SOL", "ETH"]
    assert watcher.current.accounts[0].leverage == Decimal(3)
    assert messages(reload_logs, logging.INFO) == [
        "configuration reloaded: applied ASSETS, LEVERAGE"
    ]
    assert messages(reload_logs, logging.WARNING) == []


def test_restart_only_variables_are_reported_as_needing_a_restart(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    watcher = files.start(LEVERAGE="2")

    files.write(LEVERAGE="4", API_PORT="3001", DATABASE_URL="sqlite:///./other.db")
    change = watcher.check()

    assert change is not None
    assert change.applied == ("LEVERAGE",)
    assert set(change.needs_restart) == {"API_PORT", "DATABASE_URL"}
    assert change.settings.api_port == 3001
    assert messages(reload_logs, logging.WARNING) == [
        f"configuration change needs a restart: {', '.join(change.needs_restart)}"
    ]


def test_an_invalid_change_is_rejected_with_one_line_and_the_running_settings_kept(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    watcher = files.start(LEVERAGE="2")
    running = watcher.current

    files.write(LEVERAGE="0", INTERVAL="7m")

    assert watcher.check() is None
    assert watcher.current is running
    (line,) = messages(reload_logs, logging.ERROR)
    assert line.startswith("configuration change rejected, keeping the running configuration: ")
    assert "INTERVAL: '7m' is not an AsterDEX kline interval" in line
    assert "; LEVERAGE: must be between 1 and 125 (got '0')" in line

    files.write(LEVERAGE="5")
    change = watcher.check()
    assert change is not None
    assert change.applied == ("LEVERAGE",)


def test_a_rejection_found_again_by_the_ttl_is_not_logged_twice_but_an_edit_is(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    watcher = files.start(LEVERAGE="2")
    files.write(LEVERAGE="0")
    watcher.check()

    files.clock.now += 3600
    assert watcher.check() is None
    assert len(messages(reload_logs, logging.ERROR)) == 1

    files.write(LEVERAGE="0", ASSETS="BTC")
    assert watcher.check() is None
    assert len(messages(reload_logs, logging.ERROR)) == 2


def test_an_unchanged_file_is_not_reread_and_gives_no_change(files: Files) -> None:
    watcher = files.start(LEVERAGE="2")
    calls = files.loader.calls

    assert watcher.check() is None
    files.clock.now += 3599
    assert watcher.check() is None
    assert files.loader.calls == calls


def test_touching_the_file_without_changing_values_gives_no_change(files: Files) -> None:
    watcher = files.start(LEVERAGE="2")
    running = watcher.current

    files.write(LEVERAGE="2.0")

    assert watcher.check() is None
    assert watcher.current is running


def test_ttl_expiry_re_resolves_and_picks_up_environment_changes(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = files.start(LEVERAGE="2")
    calls = files.loader.calls
    monkeypatch.setenv("MIN_HOLD_BARS", "7")

    assert watcher.check() is None
    assert files.loader.calls == calls

    files.clock.now += 3600
    change = watcher.check()

    assert files.loader.calls == calls + 1
    assert change is not None
    assert change.applied == ("MIN_HOLD_BARS",)
    assert watcher.current.min_hold_bars == 7


def test_per_account_changes_are_named_per_account_in_multi_account_mode(files: Files) -> None:
    base = {"MULTI_ACCOUNT_MODE": "true", "ACCOUNT_IDS": "a,b", "LEVERAGE": "2"}
    watcher = files.start(**base)

    files.write(**base, LEVERAGE_A="5", AGENT_PAUSED_B="true")
    change = watcher.check()
    assert change is not None
    assert change.applied == ("LEVERAGE_a", "AGENT_PAUSED_b")
    assert watcher.current.account(AccountId("a")).leverage == Decimal(5)
    assert watcher.current.account(AccountId("a")).agent_paused is False
    assert watcher.current.account(AccountId("b")).agent_paused is True

    # A changed global is named once, not once per account that inherits it.
    files.write(**(base | {"LEVERAGE": "3"}), LEVERAGE_A="5", AGENT_PAUSED_B="true")
    change = watcher.check()
    assert change is not None
    assert change.applied == ("LEVERAGE",)
    assert watcher.current.account(AccountId("b")).leverage == Decimal(3)


def test_keys_and_accounts_need_a_restart_in_multi_account_mode(files: Files) -> None:
    base = {"MULTI_ACCOUNT_MODE": "true", "ACCOUNT_IDS": "a,b"}
    watcher = files.start(**base)

    files.write(
        MULTI_ACCOUNT_MODE="true",
        ACCOUNT_IDS="a,b,c",
        ASTERDEX_API_KEY_A="new-key-1234567890",
        ASTERDEX_API_SECRET_A="new-secret-1234567890",
    )
    change = watcher.check()

    assert change is not None
    assert change.applied == ()
    assert change.needs_restart == ("ACCOUNT_IDS", "ASTERDEX_API_KEY_a", "ASTERDEX_API_SECRET_a")


def test_single_account_mode_uses_the_global_names(files: Files) -> None:
    watcher = files.start(AGENT_PAUSED_DEFAULT="true")
    assert [a.agent_paused for a in watcher.current.accounts] == [False]

    files.write(AGENT_PAUSED="yes", ENTRY_ORDER_TYPE="limit")
    change = watcher.check()

    assert change is not None
    assert change.applied == ("AGENT_PAUSED", "ENTRY_ORDER_TYPE")
    assert watcher.current.accounts[0].agent_paused is True
    assert watcher.current.agent.entry_order_type is EntryOrderType.LIMIT


SECRETS = {
    "ASTERDEX_API_KEY": "ak-visible-if-leaked-111",
    "ASTERDEX_API_SECRET": "as-visible-if-leaked-222",
    "OPENROUTER_API_KEY": "sk-or-v1-visible-if-leaked-333",
    "API_TOKEN": "token-visible-if-leaked-444",
}
NEW_SECRETS = {name: value.replace("leaked", "leaked-new") for name, value in SECRETS.items()}


def test_secrets_never_appear_in_logs_or_the_change(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    db = "postgresql://trader:db-password-555@db:5432/trading"
    watcher = files.start(**SECRETS, DATABASE_URL=db)

    new_db = db.replace("555", "666")
    files.write(**NEW_SECRETS, DATABASE_URL=new_db, LEVERAGE="3")
    change = watcher.check()
    # Half a key pair is refused; the refusal must not quote the key either.
    files.write(ASTERDEX_API_KEY="ak-lonely-visible-777", DATABASE_URL=new_db)
    assert watcher.check() is None

    assert change is not None
    assert set(change.needs_restart) == set(SECRETS) | {"DATABASE_URL"}
    text = reload_logs.text + repr(change)
    assert "ASTERDEX_API_SECRET: missing" in text
    leaks = [*SECRETS.values(), *NEW_SECRETS.values(), "ak-lonely", "db-password"]
    assert [secret for secret in leaks if secret in text] == []


def test_a_missing_file_keeps_the_running_configuration(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    watcher = files.start(LEVERAGE="7")

    files.env_file.unlink()
    assert watcher.check() is None
    files.clock.now += 3600
    assert watcher.check() is None

    assert watcher.current.leverage == Decimal(7)
    assert len(messages(reload_logs, logging.WARNING)) == 1
    files.write(LEVERAGE="8")
    change = watcher.check()
    assert change is not None
    assert change.applied == ("LEVERAGE",)


def test_diff_of_equal_settings_is_empty() -> None:
    settings = load_settings(use_default_env_file=False)

    change = diff_settings(settings, load_settings(use_default_env_file=False))

    assert change.is_empty
    assert change.applied == change.needs_restart == ()


async def test_run_hands_each_change_over_and_survives_a_failing_handler(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    watcher = files.start(LEVERAGE="2")
    stop = asyncio.Event()
    seen: list[ConfigChange] = []

    async def on_change(change: ConfigChange) -> None:
        seen.append(change)
        if len(seen) == 1:
            files.write(LEVERAGE="4")
            raise RuntimeError("agent refused the change")
        stop.set()

    files.write(LEVERAGE="3")
    await asyncio.wait_for(watcher.run(on_change, stop, poll_s=0.01), timeout=5)

    assert [c.settings.leverage for c in seen] == [Decimal(3), Decimal(4)]
    assert messages(reload_logs, logging.ERROR) == ["applying the configuration change failed"]


# The three settings the reload brings in, validated like every other variable.


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[str, ...]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(use_default_env_file=False)
    return caught.value.problems


def test_new_settings_defaults_and_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    default = load_settings(use_default_env_file=False)
    monkeypatch.setenv("UNMANAGED_POSITION_POLICY", " Flatten")
    monkeypatch.setenv("ENTRY_ORDER_TYPE", "limit")
    chosen = load_settings(use_default_env_file=False)

    assert default.agent.unmanaged_position_policy is UnmanagedPositionPolicy.ADOPT
    assert default.agent.entry_order_type is EntryOrderType.MARKET
    assert (default.agent_paused, default.accounts[0].agent_paused) == (False, False)
    assert chosen.unmanaged_position_policy is UnmanagedPositionPolicy.FLATTEN
    assert chosen.entry_order_type is EntryOrderType.LIMIT


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"UNMANAGED_POSITION_POLICY": "close"},
            "UNMANAGED_POSITION_POLICY: Input should be 'adopt' or 'flatten'",
        ),
        ({"ENTRY_ORDER_TYPE": "STOP"}, "ENTRY_ORDER_TYPE: Input should be 'MARKET' or 'LIMIT'"),
        ({"AGENT_PAUSED": "maybe"}, "AGENT_PAUSED: Input should be a valid boolean"),
        (
            {"MULTI_ACCOUNT_MODE": "true", "ACCOUNT_IDS": "a,b", "AGENT_PAUSED_B": "maybe"},
            "AGENT_PAUSED_b: Input should be a valid boolean",
        ),
    ],
)
def test_bad_new_settings_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    lines = problems(monkeypatch, **env)

    assert len(lines) == 1, lines
    assert lines[0].startswith(expected)


def test_agent_paused_per_account_falls_back_to_the_global(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "MULTI_ACCOUNT_MODE": "true",
        "ACCOUNT_IDS": "a,b,c",
        "AGENT_PAUSED": "true",
        "AGENT_PAUSED_b": "false",
        "AGENT_PAUSED_C": "1",
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings(use_default_env_file=False)

    assert [a.agent_paused for a in settings.accounts] == [True, False, True]


# Changes over the API: the environment's limits are ceilings, also when the file changes.


async def test_an_override_the_environment_no_longer_allows_is_dropped(
    files: Files, reload_logs: pytest.LogCaptureFixture
) -> None:
    watcher = files.start(LEVERAGE="5")
    await watcher.patch({"LEVERAGE": "4", "MIN_HOLD_BARS": "5"})

    files.write(LEVERAGE="3")
    change = watcher.check()

    assert change is not None
    assert change.applied == ("LEVERAGE",)
    assert watcher.current.leverage == Decimal(3)
    assert watcher.environment.leverage == Decimal(3)
    assert watcher.overrides == {"MIN_HOLD_BARS": "5"}
    assert messages(reload_logs, logging.WARNING) == [
        "the environment now allows less than set over the API; dropped: LEVERAGE"
    ]


async def test_per_account_ceilings_are_each_accounts_own(files: Files) -> None:
    watcher = files.start(
        MULTI_ACCOUNT_MODE="true", ACCOUNT_IDS="alice,bob", LEVERAGE="5", LEVERAGE_bob="2"
    )

    with pytest.raises(ConfigError) as own:
        await watcher.patch({"LEVERAGE_bob": "3"})
    with pytest.raises(ConfigError) as upper_case:
        await watcher.patch({"LEVERAGE_BOB": "1"})
    await watcher.patch({"LEVERAGE_alice": "1", "LEVERAGE": "4"})

    assert own.value.problems == (
        "LEVERAGE_bob: 3 is looser than the environment allows (at most 2, its value there); "
        "loosening further needs an environment change",
    )
    assert upper_case.value.problems == (
        "LEVERAGE_BOB: unknown variable; names are case-sensitive (did you mean LEVERAGE_bob?)",
    )
    leverage = {a.id: a.leverage for a in watcher.current.accounts}
    assert leverage == {"alice": Decimal(1), "bob": Decimal(2)}
    assert watcher.overrides == {"LEVERAGE_alice": "1", "LEVERAGE": "4"}


async def test_a_change_the_agents_refuse_is_not_kept(files: Files) -> None:
    watcher = files.start(LEVERAGE="5")
    applied: list[ConfigChange] = []

    async def refuse(change: ConfigChange) -> None:
        raise ConfigError(["ASSETS: unknown asset(s) DOGE"])

    async def apply(change: ConfigChange) -> None:
        applied.append(change)

    before = watcher.current
    with pytest.raises(ConfigError):
        await watcher.patch({"ASSETS": "DOGE", "LEVERAGE": "2"}, vet=refuse, apply=apply)

    assert watcher.current is before
    assert watcher.overrides == {}
    assert applied == []
