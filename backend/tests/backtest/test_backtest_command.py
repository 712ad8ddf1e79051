"""`trading-agent backtest`: arguments, progress, summary, report files, refusals."""

import json
from pathlib import Path

import pytest

from app.cli import main
from tests.backtest.data import END, START, write_recording


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("recording"))


def backtest(*argv: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(["backtest", *argv])
    code = done.value.code
    assert isinstance(code, int)
    return code


def test_a_backtest_prints_progress_and_a_summary_and_writes_its_report(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = backtest(
        "--data", str(recording), "--from", START.date().isoformat(), "--to",
        END.date().isoformat(), "--assets", "BTC,ETH", "--set", "LEVERAGE=3",
        "--title", "Ten days <of> BTC", "--out", str(out),
    )  # fmt: skip
    printed = capsys.readouterr()

    assert code == 0, printed.err
    assert "backtest: 240/240 (100%)" in printed.err  # plain progress lines off a terminal
    assert "\x1b[" not in printed.err
    lines = dict(line.split(None, 1) for line in printed.out.splitlines() if line.strip())
    assert lines["status"] == "completed"
    assert lines["decisions"] == "240"
    assert "BTCUSDT" in lines["buy_and_hold_pct"]
    assert lines["report:"].startswith(str(out / "report.html"))
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["settings"] == {"LEVERAGE": "3"}
    assert report["metrics"]["decisions"] == 240
    page = (out / "report.html").read_text()
    assert "Ten days &lt;of&gt; BTC" in page
    assert "<script src=" not in page


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2025-09-20", "--to", "2025-09-10"], "is not before --to"),
        (["--from", "yesterday", "--to", "2025-09-10"], "not a date"),
        (["--from", "2025-09-15", "--to", "2025-09-16", "--set", "LEVERAGE"], "NAME=VALUE"),
        (["--from", "2025-09-15", "--to", "2025-09-16", "--set", "LEVERAGE=0"], "LEVERAGE"),
        (["--from", "2025-09-15", "--to", "2025-09-16", "--assets", "DOGE"], "--assets"),
        (["--from", "2025-09-15", "--to", "2025-09-16", "--balance", "-5"], "--balance"),
    ],
)
def test_a_bad_request_exits_2_with_the_problem_and_writes_nothing(
    recording: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    out = tmp_path / "report"
    code = backtest("--data", str(recording), "--out", str(out), *argv)
    printed = capsys.readouterr()

    assert code == 2
    assert message in printed.err
    assert not out.exists()


def test_a_directory_without_candles_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = backtest("--data", str(tmp_path), "--from", "2025-09-15", "--to", "2025-09-16")
    assert code == 2
    assert "no <SYMBOL>-<interval>.csv candle files" in capsys.readouterr().err
