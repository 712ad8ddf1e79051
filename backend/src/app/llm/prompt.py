"""The prompt: deterministic, versioned and token-budgeted. Pure.

The same :class:`~app.llm.context.DecisionContext` always gives the same text (fixed key
order and number formatting), and :data:`PROMPT_VERSION` hashes the templates, so every
stored decision says exactly which prompt produced it.
"""

import hashlib
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from app.llm.context import DecisionContext

SYSTEM_TEMPLATE: Final = """\
You are a disciplined crypto perpetual-futures trader managing account {account_id} on \
AsterDEX. Every {interval} candle close you decide, for each asset, one action: open_long, \
open_short, close, reduce or hold. Capital preservation beats activity: hold unless the \
features give a clear, asymmetric edge.

Rules the runtime enforces (orders outside them are cut or refused, never executed):
- size_usd is the position notional in USD; at most {max_position_usd} per position and \
{max_total_exposure_usd} across all positions; leverage at most {max_leverage}x.
- Every entry needs stop_loss on the correct side (below the price for longs, above for \
shorts), at least {min_stop_atr} ATR away and at most {max_stop_distance_pct}% away; the loss \
at the stop may not exceed {max_loss_per_trade_pct}% of equity. take_profit is optional.
- No adding to a position; no flip long<->short within {min_hold_bars} bars; no entry for \
{stop_cooldown_bars} bars after a stop-out; entries stop for the day after a \
{max_daily_loss_pct}% daily loss.
- reduce uses size_usd as the notional to take off; close exits the whole position.

For every entry give an invalidation: a condition over the features that, once true on a \
closed candle, means the thesis is wrong and the position is closed. Grammar: comparisons \
(< <= > >= == !=) of feature variables and numbers joined by and / or / not, with + - * / \
and parentheses. A variable is <feature>_<interval>, e.g. close_{long_interval} < \
ema50_{long_interval} and rsi_{interval} < 40. Features: {features}.

Answer with one JSON object only, no prose around it: {{"decisions": [one object per asset \
with symbol, action, size_usd, leverage, stop_loss, take_profit, invalidation \
{{"condition", "text"}} or null, confidence 0..1, rationale], "summary": "..."}}. Use null for \
fields that do not apply."""

USER_TEMPLATE: Final = """\
Time: {now}. Decision interval {interval}, context interval {long_interval}.
Account: equity {equity} USD, free margin {free_margin} USD.{halted}
Open positions:
{positions}
Markets (latest closed candle per timeframe; recent series oldest first):
{assets}
Recent decisions and outcomes:
{history}"""

PROMPT_VERSION: Final = hashlib.sha256(
    (SYSTEM_TEMPLATE + "\x00" + USER_TEMPLATE).encode()
).hexdigest()[:16]
# A common rule of thumb for English and JSON-ish text with these tokenizers.
CHARS_PER_TOKEN: Final = 4.0
FEATURE_NAMES: Final = (
    "close, ema_20, ema_50, ema_200 (also ema20 ...), rsi, macd, macd_signal, macd_hist, atr, "
    "bb_upper, bb_middle, bb_lower, adx, obv, volume_ratio, change_1, change_4, change_24 "
    "(fractions, e.g. -0.05)"
)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The messages sent to the model, their version, hash and size."""

    system: str
    user: str
    version: str

    @property
    def messages(self) -> list[dict[str, str]]:
        """Chat messages in OpenAI format."""
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    @property
    def text(self) -> str:
        """Both messages, as stored in the journal."""
        return f"[system]\n{self.system}\n\n[user]\n{self.user}"

    @property
    def sha256(self) -> str:
        """Hash of the exact text sent."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def token_estimate(self) -> int:
        """Approximate prompt tokens (characters / 4)."""
        return math.ceil(len(self.text) / CHARS_PER_TOKEN)


def build_prompt(context: DecisionContext) -> Prompt:
    """Render ``context`` into the prompt (same input, same text)."""
    limits = context.limits
    system = SYSTEM_TEMPLATE.format(
        account_id=context.account_id,
        interval=context.interval,
        long_interval=context.long_interval,
        max_position_usd=_num(limits.max_position_usd),
        max_total_exposure_usd=_num(limits.max_total_exposure_usd),
        max_leverage=_num(limits.max_leverage),
        min_stop_atr=_num(limits.min_stop_atr),
        max_stop_distance_pct=_num(limits.max_stop_distance * 100),
        max_loss_per_trade_pct=_num(limits.max_loss_per_trade * 100),
        min_hold_bars=limits.min_hold_bars,
        stop_cooldown_bars=limits.stop_cooldown_bars,
        max_daily_loss_pct=_num(limits.max_daily_loss * 100),
        features=FEATURE_NAMES,
    )
    halted = f"\nEntries are HALTED today: {context.halted_reason}" if context.halted_reason else ""
    user = USER_TEMPLATE.format(
        now=context.now.isoformat(),
        interval=context.interval,
        long_interval=context.long_interval,
        equity=_num(context.equity),
        free_margin=_num(context.free_margin),
        halted=halted,
        positions=_positions(context),
        assets=_assets(context),
        history=_history(context),
    )
    return Prompt(system=system, user=user, version=PROMPT_VERSION)


def _positions(context: DecisionContext) -> str:
    if not context.positions:
        return "none"
    lines = []
    for p in sorted(context.positions, key=lambda p: p.symbol):
        stop = _num(p.stop_loss) if p.stop_loss is not None else "none"
        target = _num(p.take_profit) if p.take_profit is not None else "none"
        lines.append(
            f"- {p.symbol} {p.side} qty {_num(p.quantity)} entry {_num(p.entry_price)} "
            f"mark {_num(p.mark_price)} uPnL {_num(p.unrealized_pnl)} stop {stop} "
            f"target {target} since {p.opened_at.isoformat()}; thesis: {p.thesis or 'n/a'}"
        )
    return "\n".join(lines)


def _assets(context: DecisionContext) -> str:
    blocks = []
    for view in sorted(context.assets, key=lambda v: v.symbol):
        funding = f"funding {_num(view.funding_rate * 100)}%"
        header = f"## {view.asset} ({view.symbol}) mark {_num(view.mark_price)} {funding}"
        frames = []
        for interval, frame in sorted(view.features.timeframes.items()):
            values = {k: _round(v) for k, v in sorted(frame.values.items())}
            recent = {k: [_round(x) for x in v] for k, v in sorted(frame.recent.items())}
            frames.append(
                f"{interval} @ {frame.open_time.isoformat()}: "
                f"{_compact({'close': _round(frame.close), **values})} recent {_compact(recent)}"
            )
        blocks.append("\n".join([header, *frames]))
    return "\n".join(blocks) if blocks else "none"


def _history(context: DecisionContext) -> str:
    if not context.history:
        return "none"
    return "\n".join(
        f"- {h.time.isoformat()} {h.symbol} {h.action} -> {h.status}: {h.outcome}"
        for h in context.history[-10:]
    )


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _round(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return float(f"{value:.6g}")


def _num(value: Decimal | int) -> str:
    if isinstance(value, int):
        return str(value)
    return (
        format(value.normalize(), "f")
        if value == value.to_integral_value()
        else (f"{float(value):.6g}")
    )
