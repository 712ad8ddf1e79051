"""The composition root: everything that builds the running service out of its parts.

* :mod:`~app.runtime.container`: the :class:`~app.runtime.container.Container` of one
  process (engine, migrations, accounts, supervisor, event bus), built at startup.
* :mod:`~app.runtime.market_source`: the market data source (AsterDEX, or the replay).
* :mod:`~app.runtime.agents`: every account's agent under one supervisor.
* :mod:`~app.runtime.builder`: :func:`~app.runtime.builder.build_account`, one account's
  exchange, decision provider and loop, the one function every caller builds accounts with.
* :mod:`~app.runtime.reload`: hot reload of a changed configuration.
* :mod:`~app.runtime.snapshots`: the first message of a stream subscription.

Nothing below this package imports it: the domain packages know only their ports, and the
HTTP layer reads the container it is handed.
"""
