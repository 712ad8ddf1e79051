"""The check that keeps the tests and benchmarks from reading beside the repository."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.read_guard import ReadGuard, watch

BACKEND = Path(__file__).resolve().parents[2]
REPO_ROOT = BACKEND.parent


def test_a_read_beside_the_repository_is_recorded_and_one_inside_is_not(tmp_path: Path) -> None:
    repo, sibling = tmp_path / "repo", tmp_path / "neighbour" / "data"
    repo.mkdir()
    sibling.mkdir(parents=True)
    (repo / "inside.csv").write_text("a\n")
    (sibling / "outside.csv").write_text("b\n")
    guard = ReadGuard(repo)

    with watch(guard):
        (repo / "inside.csv").read_text()
        (sibling / "outside.csv").read_text()
        sorted(sibling.glob("*.csv"))  # listing a sibling folder counts too
        with pytest.raises(FileNotFoundError):
            (sibling / "missing.csv").open()  # recorded before the system is asked

    assert guard.take() == [
        str(sibling / "outside.csv"),
        str(sibling),
        str(sibling / "missing.csv"),
    ]
    assert guard.take() == []


def test_allowed_folders_and_reads_elsewhere_are_not_recorded(tmp_path: Path) -> None:
    repo, venv = tmp_path / "repo", tmp_path / "venv"
    repo.mkdir()
    venv.mkdir()
    (venv / "site.py").write_text("")
    guard = ReadGuard(repo, [venv])

    with watch(guard):
        (venv / "site.py").read_text()
        Path(__file__).read_text()  # not under tmp_path at all

    assert guard.take() == []


def guarded_run(
    tmp_path: Path, module: str, workers: int
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A session of this suite's guard over a stand-in repository holding one test module.

    The stand-in and its sibling are both in the temporary folder: the session's guard
    watches the stand-in, and ``module`` (its text names the sibling's file ``{beside}``)
    reads the sibling. Returns the run and that file.
    """
    stand_in, beside = tmp_path / "clone" / "repo", tmp_path / "clone" / "neighbour" / "candles.csv"
    stand_in.mkdir(parents=True)
    (stand_in / "test_reads_beside.py").write_text(module.replace("{beside}", repr(str(beside))))
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-c", str(REPO_ROOT / "pyproject.toml")),
            *("-p", "tests.conftest", "-p", "no:cacheprovider", f"--numprocesses={workers}"),
            str(stand_in),
        ],
        cwd=BACKEND,
        env={**os.environ, "READ_GUARD_REPOSITORY": str(stand_in)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run, beside


def test_a_test_that_reads_beside_the_repository_fails_the_run(tmp_path: Path) -> None:
    run, beside = guarded_run(
        tmp_path,
        "from pathlib import Path\n\n\n"
        "def test_reads_neighbour_candles() -> None:\n"
        "    try:\n"
        "        Path({beside}).read_text()\n"
        "    except FileNotFoundError:\n"
        "        pass\n",
        workers=0,
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "read outside the repository" in run.stdout
    assert str(beside) in run.stdout
    assert "1 passed, 1 error" in run.stdout


def test_a_read_outside_any_test_in_a_parallel_worker_fails_the_run(tmp_path: Path) -> None:
    """A module that reads beside the repository when collected (in a worker, outside any
    test): the worker hands the read to the run, which fails though every test passed."""
    run, beside = guarded_run(
        tmp_path,
        "from pathlib import Path\n\n"
        "try:\n"
        "    Path({beside}).read_text()\n"
        "except FileNotFoundError:\n"
        "    pass\n\n\n"
        "def test_nothing_here() -> None:\n"
        "    pass\n",
        workers=2,
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "read outside the repository" in run.stdout
    assert str(beside) in run.stdout
    assert "1 passed" in run.stdout


def test_a_clone_inside_an_allowed_folder_is_still_guarded(tmp_path: Path) -> None:
    """A clone under the temporary directory: its siblings are not allowed for that."""
    repo, sibling = tmp_path / "clone" / "repo", tmp_path / "clone" / "neighbour"
    repo.mkdir(parents=True)
    sibling.mkdir()
    (sibling / "candles.csv").write_text("b\n")
    guard = ReadGuard(repo, [tmp_path])

    with watch(guard):
        (sibling / "candles.csv").read_text()

    assert guard.take() == [str(sibling / "candles.csv")]
