"""Paper trading: a simulated AsterDEX futures account on real prices (live or recorded).

:class:`PaperExchange` implements the :class:`~app.exchange.ports.Exchange` port in memory,
deterministically and in ``Decimal``. Its rules:

- Orders: ``place_order`` is idempotent on the client id (a known id returns the existing
  order, even for a different request; refused orders are not remembered). Every order passes
  the symbol's filters at the current price. MARKET fills at once at the price moved
  ``slippage_bps`` against the taker and rounded to the tick against it, with the taker fee.
  STOP_MARKET / TAKE_PROFIT_MARKET (quantity + reduce-only, closePosition, or a plain entry)
  and LIMIT rest until a closed candle reaches them (see ``_matching``); a stop that would
  trigger at once is refused (-2021) as AsterDEX does. Other types are refused (-1116).
- Margin: an order that opens or grows a position needs ``opening notional / leverage + fee``
  within the available balance, plus the margin its closing part releases (-2019). Resting
  orders reserve nothing; they are checked when placed and again when they fill (a resting
  order that can no longer fill is EXPIRED).
- Reduce-only / closePosition orders only reduce: refused without a position or on the
  growing side (-2022), capped at the position's size. When a fill leaves a symbol's
  position gone (or flipped), its protective orders that can no longer reduce are EXPIRED.
- Positions are one-way (signed), the entry averaged on increases, reset at the fill price on
  a flip; PnL is realised on reductions. Leverage is per symbol (default 1, max 125) and
  applies to the open position too.
- Liquidation, isolated-style per position, after every price update (``set_price`` and a
  candle's close): when ``notional at entry / leverage + unrealised PnL <= maintenance_margin
  x notional at the mark``, the position is closed at the mark with the taker fee, as order
  ``liquidation-<n>``. The whole loss is realised; should the wallet then be negative it is
  reset to zero by an ``INSURANCE_CLEAR`` income (the exchange's insurance fund), so the
  loss never exceeds the wallet. Only the bar's close is checked, not its extremes.
- Funding (``apply_funding``): ``amount x mark x rate`` is paid by longs to shorts when the
  rate is positive (the reverse when negative).
- Every wallet change is an income record (``incomes()``), rounded to 8 decimals (half-even),
  so the wallet equals the starting balance plus their sum exactly.
- ``snapshot()`` / ``restore()`` carry balance, prices, leverage, positions, every order and
  fill, incomes and the last candle per symbol (so a candle replayed after a restart is not
  matched twice). The history is kept whole.
"""

from app.exchange.paper._exchange import MAX_LEVERAGE, PaperExchange

__all__ = ["MAX_LEVERAGE", "PaperExchange"]
