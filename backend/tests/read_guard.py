"""Catch a test or benchmark reading files that sit next to the repository, not in it.

A clone holds only the repository: a test that reads a sibling folder (reference data kept
beside the working tree, say) passes here and fails everywhere else. ``ReadGuard`` listens to
the interpreter's audit events (:func:`sys.addaudithook`) and records every file or directory
opened under the repository's parent folder but outside the repository, unless it lies in an
allowed place (the virtualenv, the interpreter, the temporary directory).

The audit event comes before the operating system is asked, so even opening a missing file
is recorded. Audit hooks cannot be removed, so one hook is installed for the process and
hands events to the guards registered with :func:`watch`.
"""

import os
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

# Audit events that read a file or list a directory, and the position of their path argument.
_EVENTS: Final = {"open": 0, "os.listdir": 0, "os.scandir": 0}
_guards: list["ReadGuard"] = []
_hooked = False
_busy = threading.local()  # no recursion if a guard's own work raises audit events


class ReadGuard:
    """Records paths opened next to ``repository`` (under its parent) but outside it.

    Args:
        repository: The repository's root folder.
        allowed: Folders under the parent that may be read all the same.
    """

    def __init__(self, repository: Path, allowed: Iterable[Path] = ()) -> None:
        self.repository = Path(os.path.realpath(repository))
        self._parent = str(self.repository.parent)
        # An allowed folder that holds the repository's parent would allow every sibling
        # (a clone made under the temporary directory, say): it is dropped.
        exempt = (os.path.realpath(p) for p in allowed)
        self._inside = [
            str(self.repository),
            *(p for p in exempt if not _within(self._parent, p)),
        ]
        self._outside: list[str] = []
        self._lock = threading.Lock()

    def is_outside(self, path: str) -> bool:
        """Whether reading ``path`` (absolute or relative to the cwd) leaves the repository."""
        full = os.path.abspath(path)
        if not _within(full, self._parent):
            return False  # the cheap test first: most reads are nowhere near the parent
        real = os.path.realpath(full)
        return _within(real, self._parent) and not any(_within(real, p) for p in self._inside)

    def seen(self, path: str) -> None:
        """Record ``path`` if reading it leaves the repository."""
        if self.is_outside(path):
            with self._lock:
                self._outside.append(os.path.abspath(path))

    def take(self) -> list[str]:
        """The outside paths recorded so far (each once, in order); the record is cleared."""
        with self._lock:
            taken, self._outside = list(dict.fromkeys(self._outside)), []
        return taken


def default_guard(repository: Path) -> ReadGuard:
    """A guard for ``repository`` that allows the interpreter, virtualenv and temp folder."""
    allowed = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir()}
    return ReadGuard(repository, [Path(p) for p in allowed])


@contextmanager
def watch(guard: ReadGuard) -> Iterator[ReadGuard]:
    """Hand every read of the process to ``guard`` while the block runs."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_dispatch)
        _hooked = True
    _guards.append(guard)
    try:
        yield guard
    finally:
        _guards.remove(guard)


def report(paths: list[str]) -> str:
    """One message naming the outside paths, for a failing test or run."""
    listed = "\n".join(f"  {p}" for p in paths)
    return (
        "read outside the repository (a clone does not have these; keep the data in the"
        f" repository):\n{listed}"
    )


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _dispatch(event: str, args: tuple[Any, ...]) -> None:
    position = _EVENTS.get(event)
    if position is None or not _guards or getattr(_busy, "active", False):
        return
    target = args[position] if len(args) > position else None
    if not isinstance(target, (str, bytes, os.PathLike)):
        return  # a file descriptor, or listdir() of the cwd (None)
    _busy.active = True
    try:
        path = os.fsdecode(target)
        for guard in list(_guards):
            guard.seen(path)
    finally:
        _busy.active = False
