"""The paper account's mutable state, and its JSON form (decimals and times as strings)."""

import types
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Final, NamedTuple, Union, get_args, get_origin, get_type_hints

from app.exchange.ports import Execution, PositionState
from app.exchange.types import ExchangeOrder, Income, OrderRequest, OrderStatus

ZERO: Final = Decimal(0)
SNAPSHOT_VERSION: Final = 1


@dataclass(slots=True)
class PaperPosition:
    """One-way position: ``amount`` is signed (negative is short)."""

    amount: Decimal
    entry_price: Decimal


@dataclass(slots=True)
class PaperOrder:
    """An accepted order and what happened to it."""

    request: OrderRequest
    order_id: int
    status: OrderStatus
    placed_at: datetime
    update_time: datetime
    executed_qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    # The last view built: resting orders are reported at every cycle and rarely change.
    _view: ExchangeOrder | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        # Every change of the order goes through here: the view it had is dropped with it.
        object.__setattr__(self, name, value)
        if name != "_view":
            object.__setattr__(self, "_view", None)

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self.status.is_open

    def view(self) -> ExchangeOrder:
        """The order as the exchange port reports it (zero where a value does not apply)."""
        if self._view is None:
            self._view = self._build_view()
        return self._view

    def _build_view(self) -> ExchangeOrder:
        request = self.request
        return ExchangeOrder(
            symbol=request.symbol,
            order_id=self.order_id,
            client_order_id=request.client_order_id,
            side=request.side,
            type=request.type.value,
            status=self.status,
            orig_qty=request.quantity or ZERO,
            executed_qty=self.executed_qty,
            price=request.price or ZERO,
            avg_price=self.avg_price,
            stop_price=request.stop_price or ZERO,
            reduce_only=request.reduce_only,
            close_position=request.close_position,
            working_type=request.working_type.value if request.working_type else None,
            update_time=self.update_time,
        )


class Balances(NamedTuple):
    """The account's balances as of one :attr:`PaperState.revision`."""

    revision: int
    wallet: Decimal
    equity: Decimal
    available: Decimal
    unrealized_pnl: Decimal
    margin: Decimal
    positions: dict[str, PositionState]


@dataclass(slots=True)
class PaperState:
    """Everything a paper account remembers; ``orders`` is keyed by client id, oldest first."""

    wallet: Decimal
    prices: dict[str, Decimal] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    positions: dict[str, PaperPosition] = field(default_factory=dict)
    orders: dict[str, PaperOrder] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    incomes: list[Income] = field(default_factory=list)
    last_candle: dict[str, datetime] = field(default_factory=dict)
    order_seq: int = 0
    trade_seq: int = 0
    income_seq: int = 0
    liquidation_seq: int = 0
    # The orders that may still be open, oldest first (not saved: rebuilt from ``orders``).
    # Matching, expiry and ``open_orders`` scan these, never the whole history: a year's
    # backtest places thousands of orders.
    resting: dict[str, PaperOrder] = field(default_factory=dict)
    # Bumped by :meth:`balances_changed` whenever the wallet, a position, its leverage or its
    # mark changes (not saved): the account's balances last computed stand until then.
    revision: int = field(default=0, compare=False, repr=False)
    balances: Balances | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.resting = {k: o for k, o in self.orders.items() if o.is_open}

    def balances_changed(self) -> None:
        """Note a change of what :func:`~app.exchange.paper._ledger.account_state` reads."""
        self.revision += 1

    def add_order(self, order: PaperOrder) -> None:
        """Remember a newly accepted order."""
        self.orders[order.request.client_order_id] = order
        self.resting[order.request.client_order_id] = order

    def open_orders(self) -> list[PaperOrder]:
        """The open orders, oldest first (those that closed since the last look dropped)."""
        if any(not o.is_open for o in self.resting.values()):
            self.resting = {k: o for k, o in self.resting.items() if o.is_open}
        return list(self.resting.values())


def dump_state(state: PaperState) -> dict[str, Any]:
    """JSON-serialisable form of ``state``."""
    return {
        "version": SNAPSHOT_VERSION,
        "wallet": _encode(state.wallet),
        "prices": {s: _encode(p) for s, p in state.prices.items()},
        "leverage": dict(state.leverage),
        "positions": {
            s: {"amount": _encode(p.amount), "entry_price": _encode(p.entry_price)}
            for s, p in state.positions.items()
        },
        "orders": [
            {
                "request": _record(o.request),
                "order_id": o.order_id,
                "status": o.status.value,
                "placed_at": _encode(o.placed_at),
                "update_time": _encode(o.update_time),
                "executed_qty": _encode(o.executed_qty),
                "avg_price": _encode(o.avg_price),
            }
            for o in state.orders.values()
        ],
        "executions": [_record(e) for e in state.executions],
        "incomes": [_record(i) for i in state.incomes],
        "last_candle": {s: _encode(t) for s, t in state.last_candle.items()},
        "sequences": {
            "order": state.order_seq,
            "trade": state.trade_seq,
            "income": state.income_seq,
            "liquidation": state.liquidation_seq,
        },
    }


def load_state(data: dict[str, Any]) -> PaperState:
    """Rebuild the state :func:`dump_state` wrote.

    Raises:
        ValueError: Not a snapshot of this version, or a malformed one.
    """
    if data.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"unsupported paper snapshot version {data.get('version')!r}")
    try:
        return _load(data)
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise ValueError(f"malformed paper snapshot: {exc!r}") from exc


def _load(data: dict[str, Any]) -> PaperState:
    sequences = data["sequences"]
    orders = [
        PaperOrder(
            request=_build(OrderRequest, o["request"]),
            order_id=int(o["order_id"]),
            status=OrderStatus(o["status"]),
            placed_at=datetime.fromisoformat(o["placed_at"]),
            update_time=datetime.fromisoformat(o["update_time"]),
            executed_qty=Decimal(o["executed_qty"]),
            avg_price=Decimal(o["avg_price"]),
        )
        for o in data["orders"]
    ]
    return PaperState(
        wallet=Decimal(data["wallet"]),
        prices={s: Decimal(p) for s, p in data["prices"].items()},
        leverage={s: int(v) for s, v in data["leverage"].items()},
        positions={
            s: PaperPosition(Decimal(p["amount"]), Decimal(p["entry_price"]))
            for s, p in data["positions"].items()
        },
        orders={o.request.client_order_id: o for o in orders},
        executions=[_build(Execution, e) for e in data["executions"]],
        incomes=[_build(Income, i) for i in data["incomes"]],
        last_candle={s: datetime.fromisoformat(t) for s, t in data["last_candle"].items()},
        order_seq=int(sequences["order"]),
        trade_seq=int(sequences["trade"]),
        income_seq=int(sequences["income"]),
        liquidation_seq=int(sequences["liquidation"]),
    )


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _record(value: Any) -> dict[str, object]:
    return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}


def _build[T](cls: type[T], raw: dict[str, Any]) -> T:
    hints = get_type_hints(cls)
    return cls(**{name: _decode(hints[name], value) for name, value in raw.items()})


def _decode(hint: Any, value: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):  # ``X | None``
        if value is None:
            return None
        (hint,) = (a for a in get_args(hint) if a is not type(None))
    if hint is Decimal:
        return Decimal(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    return value
