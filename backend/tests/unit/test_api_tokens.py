"""API tokens outside development: long enough to resist guessing, and the read token not a
copy of the full one; refused in one line naming the variable, never showing the value."""

import pytest

from app.application import settings_or_exit
from app.config import Settings, load_settings
from app.core.errors import ConfigError

LONG = "f" * 32
OTHER = "r" * 40


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(use_default_env_file=False)


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, **env)
    return caught.value.problems


@pytest.mark.parametrize("environment", ["production", "staging", "test"])
@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"API_TOKEN": "Zq"}, "API_TOKEN", "at least 32 characters"),
        ({"API_TOKEN": "x" * 31}, "API_TOKEN", "at least 32 characters"),
        ({"API_TOKEN": LONG, "API_READ_TOKEN": "short-read"}, "API_READ_TOKEN", "at least 32"),
        ({"API_TOKEN": LONG, "API_READ_TOKEN": LONG}, "API_READ_TOKEN", "must differ"),
    ],
)
def test_weak_tokens_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
    env: dict[str, str],
    variable: str,
    fragment: str,
) -> None:
    lines = problems(monkeypatch, ENVIRONMENT=environment, **env)

    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{variable}: ")
    assert fragment in lines[0]
    for value in env.values():
        assert value not in lines[0]


@pytest.mark.parametrize("environment", ["production", "staging", "test"])
def test_long_distinct_tokens_are_accepted(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    settings = load(monkeypatch, ENVIRONMENT=environment, API_TOKEN=LONG, API_READ_TOKEN=OTHER)

    assert settings.api.token is not None
    assert settings.api.token.get_secret_value() == LONG


def test_development_keeps_short_and_shared_tokens_for_local_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load(monkeypatch, API_TOKEN="a", API_READ_TOKEN="a")

    assert settings.api_read_token is not None
    assert settings.api_read_token.get_secret_value() == "a"


def test_a_production_placeholder_token_gets_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(monkeypatch, ENVIRONMENT="production", API_TOKEN="changeme")

    assert lines == ("API_TOKEN: is a placeholder; set the real value",)


def test_startup_prints_one_line_without_the_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("API_TOKEN", "tiny-secret")

    with pytest.raises(SystemExit) as exited:
        settings_or_exit()

    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1
    assert err.startswith("configuration error: API_TOKEN: must be at least 32 characters")
    assert "tiny-secret" not in err


@pytest.mark.parametrize("value", ["1023", "0", "lots"])
def test_api_max_body_bytes_must_be_a_sane_size(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    lines = problems(monkeypatch, API_MAX_BODY_BYTES=value)

    assert len(lines) == 1
    assert lines[0].startswith("API_MAX_BODY_BYTES: ")


def test_api_max_body_bytes_defaults_to_one_mebibyte(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch).api.max_body_bytes == 1024 * 1024
    assert load(monkeypatch, API_MAX_BODY_BYTES="4096").api.max_body_bytes == 4096
