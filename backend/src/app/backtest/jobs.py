"""Backtests started over the API: background tasks with progress, cancellation and results.

A request is checked whole before anything is recorded (the settings, the data source, the
history the window needs): a bad one raises :class:`InvalidBacktest` and leaves no run
behind. A good one gets a ``backtest_runs`` row and a task on the service's event loop.

At most ``max_running`` runs go at once; one more is refused (:class:`BacktestsBusy`, 429)
rather than queued, so a client always learns at once whether its run started. A run's
progress goes to the channel ``backtest.{id}`` (``backtest.started``, ``backtest.progress``
at most every ``publish_interval_s``, ``backtest.finished``) and to its row at most every
``save_interval_s``. When it ends its metrics and its trades, equity and decisions are
written to its row: the run's records stay in its own scope, never in an account's journal.

The engine runs on a simulated clock that never waits, so each cycle hands the event loop
back once: requests keep being served while a run goes.

Each run holds a lock of its own while it goes, so that replicas tell their runs from
those a process that is gone left behind (:mod:`app.backtest.abandoned`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from app.agent.locks import AccountLock, AccountLocks, LocalAccountLocks
from app.backtest import store
from app.backtest.abandoned import SWEEP_INTERVAL_S, AbandonedRuns, run_lock_name
from app.backtest.engine import (
    BacktestRun,
    Progress,
    RunStatus,
    SourceFactory,
    check_history,
    run_backtest,
)
from app.backtest.errors import BacktestsBusy, InvalidBacktest
from app.backtest.metrics import metrics_json
from app.backtest.payloads import decision_rows, equity_rows, progress_json, trade_rows
from app.backtest.recorded import RecordedDecisions
from app.backtest.replay_request import ReplayRequest, replay_request
from app.backtest.results import summarize
from app.backtest.sources import csv_source, database_source
from app.backtest.spec import BacktestSpec, ProviderKind, resolve
from app.core.clock import Clock, SystemClock
from app.core.errors import AppError, ConfigError
from app.core.secrets import redact
from app.db.session import SessionFactory, session_scope
from app.indicators.schemas import IndicatorConfig
from app.llm.cache import SqlReplyStore
from app.records.memory_journal import MemoryJournal
from app.runtime.builder import Shared
from app.streaming.bus import EventBus
from app.trading.runs import new_run_id

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_S: Final = 10.0
"""How long shutdown waits for cancelled runs to record how they ended."""


def channel_of(run_id: str) -> str:
    """The stream channel of a run's progress and end."""
    return f"backtest.{run_id}"


def _result_rows(journal: MemoryJournal) -> dict[store.Series, list[Any]]:
    return {
        "trades": trade_rows(journal),
        "equity": equity_rows(journal),
        "decisions": decision_rows(journal),
    }


async def _release(job: "_Job") -> None:
    lock, job.lock = job.lock, None
    if lock is not None:
        await lock.release()


@dataclass
class _Job:
    run_id: str
    spec: BacktestSpec
    source_of: SourceFactory
    # A decision replay: the recorded decisions that answer every cycle, and the original.
    replay: ReplayRequest | None = None
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    progress: Progress | None = None
    published_at: float | None = None
    saved_at: float | None = None
    lock: AccountLock | None = None  # held while the run goes (see abandoned.py)


class BacktestJobs:
    """The service's running backtests.

    Args:
        sessions: Where runs are recorded (and, without ``data_dir``, candles are read).
        bus: Where progress and ends are published (``backtest.{id}``).
        max_running: Runs that may go at once.
        clock: The wall clock of the runs' rows (created, finished).
        save_interval_s: Least time between two progress writes of one run.
        publish_interval_s: Least time between two progress events of one run.
        locks: A lock per running run, that a process's death releases
            (:func:`app.agent.locks.replica_locks`); by default always granted (one process).
    """

    def __init__(
        self,
        sessions: SessionFactory,
        bus: EventBus,
        *,
        max_running: int = 2,
        clock: Clock | None = None,
        save_interval_s: float = 1.0,
        publish_interval_s: float = 0.2,
        locks: AccountLocks | None = None,
    ) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self._sessions = sessions
        self._bus = bus
        self._max = max_running
        self._clock = clock or SystemClock()
        self._save_s = save_interval_s
        self._publish_s = publish_interval_s
        self._jobs: dict[str, _Job] = {}
        self._starting = 0
        self._locks = locks or LocalAccountLocks()
        self._abandoned = AbandonedRuns(sessions, self._locks, self._clock, lambda: self._jobs)

    @property
    def running(self) -> list[str]:
        """The ids of the runs going now."""
        return list(self._jobs)

    async def recover(self) -> int:
        """Mark runs left going by a process that is gone as failed (another replica's go on).

        Returns:
            How many runs were marked.
        """
        return await self._abandoned.mark()

    def sweep(self, every_s: float = SWEEP_INTERVAL_S) -> None:
        """:meth:`recover` every ``every_s`` from now on, until :meth:`aclose`."""
        self._abandoned.sweep(every_s)

    async def submit(self, spec: BacktestSpec) -> str:
        """Check ``spec`` and start it in the background.

        Returns:
            The run's id (``backtest-<uuid>``).

        Raises:
            BacktestsBusy: ``max_running`` runs are going.
            InvalidBacktest: The request, its settings or its data cannot make a run (one
                line per problem); nothing was recorded.
        """
        self._check_room()
        return await self._start(spec, spec.describe())

    async def submit_replay(
        self, original_id: str, overrides: Mapping[str, str], title: str | None = None
    ) -> str:
        """Re-judge a finished run's decisions under ``overrides``, in the background.

        The replay is a run of its own (its id, row, stream and results), made of the
        original's recorded decisions on the original's candles: no model is asked. Its
        notes compare its metrics with the original's.

        Returns:
            The replay's run id.

        Raises:
            UnknownBacktest: No run has ``original_id``.
            BacktestNotFinished: The original has not ended (its decisions are not stored).
            BacktestsBusy: ``max_running`` runs are going.
            InvalidBacktest: A bad setting, or data that no longer serves the window.
        """
        self._check_room()
        request = await replay_request(self._sessions, original_id, overrides, title)
        config = {**request.spec.describe(), "replay_of": original_id, "changed": dict(overrides)}
        return await self._start(request.spec, config, request)

    async def _start(
        self, spec: BacktestSpec, config: dict[str, Any], replay: ReplayRequest | None = None
    ) -> str:
        """Check the data, record the run and start its task; the run's id."""
        self._starting += 1  # holds the place while the request is checked
        try:
            source_of = await self._checked_source(spec)
            run_id = new_run_id("backtest")
            job = _Job(run_id, spec, source_of, replay)
            # Locked before it is recorded: a replica starting meanwhile never finds the
            # row without its lock and takes it for a run left behind.
            job.lock = await self._locks.acquire(run_lock_name(run_id))
            try:
                async with session_scope(self._sessions) as session:
                    await store.add_run(
                        session,
                        run_id,
                        title=spec.title,
                        config=config,
                        status=RunStatus.RUNNING.value,
                        created_at=self._clock.now(),
                    )
            except BaseException:
                await _release(job)
                raise
        finally:
            self._starting -= 1
        self._jobs[run_id] = job
        kind = "decision replay" if replay is not None else "backtest"
        job.task = asyncio.create_task(self._run(job), name=f"{kind} {run_id}")
        self._bus.publish(channel_of(run_id), "backtest.started", {"id": run_id})
        return run_id

    async def cancel(self, run_id: str, *, wait_s: float = 10.0) -> bool:
        """Stop a run between two cycles and wait (up to ``wait_s``) for it to record so.

        Returns:
            True when the run was going here; False when no run of that id is.
        """
        job = self._jobs.get(run_id)
        if job is None:
            return False
        job.cancel.set()
        if job.task is not None:
            await asyncio.wait({job.task}, timeout=wait_s)
        return True

    async def aclose(self) -> None:
        """Cancel every run (each records ``cancelled``), then stop what did not end in time."""
        await self._abandoned.aclose()
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        tasks = {job.task for job in jobs if job.task is not None}
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def _check_room(self) -> None:
        if len(self._jobs) + self._starting >= self._max:
            raise BacktestsBusy(
                f"{self._max} backtests are running; wait for one to end or cancel one"
            )

    async def _checked_source(self, spec: BacktestSpec) -> SourceFactory:
        try:
            settings, _ = resolve(spec)
            if spec.data_dir is not None:
                if not spec.data_dir.is_dir():
                    raise ConfigError([f"data_dir: {spec.data_dir} is not a directory"])
                source_of = csv_source(spec.data_dir)
            else:
                source_of = await database_source(
                    self._sessions,
                    spec.assets,
                    _intervals(spec),
                    start=spec.start,
                    end=spec.end,
                    warmup_bars=max(settings.backfill_bars, IndicatorConfig().warmup_bars),
                )
            await check_history(source_of, spec, _intervals(spec))
        except ConfigError as exc:
            raise InvalidBacktest([redact(problem) for problem in exc.problems]) from exc
        return source_of

    async def _run(self, job: _Job) -> None:
        run: BacktestRun | None = None
        try:
            replies = (
                SqlReplyStore(self._sessions) if job.spec.provider is ProviderKind.LLM else None
            )
            hook = None
            if job.replay is not None:
                provider = RecordedDecisions(job.replay.decisions)

                def hook(shared: Shared) -> None:
                    shared.decide = provider

            run = await run_backtest(
                job.spec,
                job.source_of,
                run_id=job.run_id,
                on_progress=self._progress_hook(job),
                cancel=job.cancel,
                replies=replies,
                shared_hook=hook,
            )
            await self._completed(job, run)
        except asyncio.CancelledError:
            await self._ended(job, RunStatus.CANCELLED, ["stopped when the service shut down"])
            raise
        except ConfigError as exc:
            await self._ended(job, RunStatus.FAILED, error="; ".join(exc.problems))
        except Exception as exc:  # a run's failure is its own: record it, keep the service
            logger.exception("backtest %s failed", job.run_id)
            await self._ended(job, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            # Unlocked after its end is recorded (never while it runs), and before it leaves
            # the list: shutdown waits for the listed runs, so no lock connection outlives
            # the engine.
            await _release(job)
            self._jobs.pop(job.run_id, None)

    def _progress_hook(self, job: _Job) -> Callable[[Progress], Awaitable[None]]:
        loop = asyncio.get_running_loop()

        async def hook(progress: Progress) -> None:
            job.progress = progress
            now = loop.time()
            if job.published_at is None or now - job.published_at >= self._publish_s:
                job.published_at = now
                self._bus.publish(
                    channel_of(job.run_id), "backtest.progress", progress_json(progress)
                )
            if job.saved_at is None or now - job.saved_at >= self._save_s:
                job.saved_at = now
                async with session_scope(self._sessions) as session:
                    await store.save_progress(session, job.run_id, progress_json(progress))
            # The simulated clock never waits: without this a run would hold the event
            # loop (and every request) until its last cycle.
            await asyncio.sleep(0)

        return hook

    async def _completed(self, job: _Job, run: BacktestRun) -> None:
        _, metrics = await summarize(run)
        journal = run.journal
        notes = list(run.notes)
        measured = metrics_json(metrics)
        if job.replay is not None:
            notes.extend(job.replay.comparison(measured))
        # A year's rows take some 0.4 s of CPU: built on a worker thread (the run is over,
        # its journal no longer changes), so live agents and requests keep their turns.
        results = await asyncio.to_thread(_result_rows, journal)
        await self._ended(job, run.status, notes, metrics=measured, results=results)

    async def _ended(
        self,
        job: _Job,
        status: RunStatus,
        notes: list[str] | None = None,
        *,
        error: str | None = None,
        metrics: dict[str, Any] | None = None,
        results: dict[store.Series, list[Any]] | None = None,
    ) -> None:
        progress = progress_json(job.progress) if job.progress is not None else None
        error = redact(error) if error is not None else None
        try:
            async with session_scope(self._sessions) as session:
                await store.finish_run(
                    session,
                    job.run_id,
                    status=status.value,
                    finished_at=self._clock.now(),
                    progress=progress,
                    notes=[redact(note) for note in notes or []],
                    error=error,
                    metrics=metrics,
                    results=results,
                )
        except AppError as exc:  # the database is gone: the run is lost, the service is not
            logger.error("backtest %s: its end could not be recorded: %s", job.run_id, exc)
        self._bus.publish(
            channel_of(job.run_id),
            "backtest.finished",
            {"id": job.run_id, "status": status.value, "error": error, "metrics": metrics},
        )


def _intervals(spec: BacktestSpec) -> tuple[str, ...]:
    return tuple(dict.fromkeys((spec.interval, spec.long_interval)))
