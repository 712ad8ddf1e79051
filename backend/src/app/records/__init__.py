"""The trading records: how an account's trading is written down and read back.

- Writing: the two implementations of the loop's :class:`~app.agent.ports.Journal` port,
  :class:`~app.records.sql_journal.SqlJournal` (the database, scoped by run) and
  :class:`~app.records.memory_journal.MemoryJournal` (backtests, fast tests), with the row
  shapes they share (:mod:`~app.records.journal_rows`), recovery's reads
  (:mod:`~app.records.journal_reads`) and the stream events of every write
  (:mod:`~app.records.publishing`).
- Reading: the API's queries over those records (:mod:`~app.records.queries`), the
  performance inputs (:mod:`~app.records.performance_queries`; the metrics themselves are pure,
  in :mod:`app.trading.performance`) and the routers that serve them
  (:mod:`~app.records.router`, :mod:`~app.records.performance_router`).

The port stays with the loop that owns it (``app.agent.ports``); the tables stay with their
domain (``app.trading.models``, ``app.agent.models``, ``app.llm.models``). The agent loop never
imports this package (an import-linter contract): the composition hands it a journal.
"""
