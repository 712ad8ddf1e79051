"""The campaign's steps, drawn once from the seed before anything runs.

Every random choice lives here, so one seed always means the same sequence of faults,
delays and decisions. What a step trades is resolved when it runs, from the fake's state
(``pick`` chooses among the positions or flat assets there are then).
"""

import random
from dataclasses import dataclass
from typing import Any, Literal

from tests.fakes.asterdex import FaultKind

StepKind = Literal["trade", "fault", "kill", "db_cycle", "db_startup", "db_idle", "manual", "move"]
Action = Literal["open", "exit", "hold"]
NEW_ORDER = "POST /fapi/v1/order"
READS = ("GET /fapi/v4/account", "GET /fapi/v2/positionRisk", "GET /fapi/v1/openOrders")
# Longer than the service's 10 s exchange timeout: the entry's outcome becomes unknown.
PAST_CLIENT_TIMEOUT_S = 10.5
# Long enough for the campaign to SIGKILL the service while the fake holds the answer.
HELD_FOR_KILL_S = 6.0


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A fault to inject for one step (see ``tests.fakes.asterdex.Fault``)."""

    endpoint: str
    kind: FaultKind
    times: int = 1
    after: int = 0
    retry_after_s: int | None = None
    latency_s: float = 0.5

    def __str__(self) -> str:
        extra = f" after {self.after}" if self.after else ""
        extra += f" x{self.times}" if self.times != 1 else ""
        extra += f" retry-after {self.retry_after_s}s" if self.retry_after_s else ""
        extra += f" held {self.latency_s}s" if self.kind == "timeout_after_accept" else ""
        return f"{self.kind} on {self.endpoint}{extra}"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the campaign.

    Attributes:
        index: 1-based position in the campaign.
        kind: What happens (see ``tests.e2e.campaign.actions``).
        action: The decision the model gives at the step's cycle.
        pick: In [0, 1): which asset or position the action (or move, or manual trade) takes.
        long: Direction of an opening decision.
        size_usd: Notional of an opening decision.
        reduce: An exit reduces by half instead of closing.
        llm_delay_s: How long the model takes to answer the step's decision.
        fault: The exchange fault injected before the cycle.
        kill_after_s: SIGKILL this long after the model was asked (None: once the fault
            holds a request).
        move_while_down: While the service is dead, move the market through a stop.
        cut_after_s: The database goes away this long after the model was asked.
        outage_s: How long the database stays away.
        manual_add: The manual trade adds to the position instead of reducing it.
    """

    index: int
    kind: StepKind
    action: Action = "hold"
    pick: float = 0.0
    long: bool = True
    size_usd: int = 2000
    reduce: bool = False
    llm_delay_s: float = 0.0
    fault: FaultPlan | None = None
    kill_after_s: float | None = None
    move_while_down: bool = False
    cut_after_s: float = 0.0
    outage_s: float = 0.0
    manual_add: bool = False

    @property
    def label(self) -> str:
        """``step 3 (fault; http_429 on POST /fapi/v1/order after 1; open)``."""
        parts: list[str] = [self.kind]
        if self.fault is not None:
            parts.append(str(self.fault))
        if self.kill_after_s is not None:
            parts.append(f"SIGKILL {self.kill_after_s:.2f}s after the model was asked")
        elif self.kind == "kill":
            parts.append("SIGKILL while the fake holds the answer")
        if self.move_while_down:
            parts.append("market moved through a stop while down")
        if self.kind == "db_cycle":
            parts.append(f"DB cut {self.cut_after_s:.2f}s into the cycle for {self.outage_s:.1f}s")
        if self.kind == "db_startup":
            parts.append(
                f"SIGKILL, restart, DB cut {self.cut_after_s:.2f}s into the service's own first "
                f"cycle for {self.outage_s:.1f}s"
            )
        if self.kind == "db_idle":
            parts.append(f"DB cut between cycles for {self.outage_s:.1f}s")
        if self.kind == "manual":
            parts.append("manual add" if self.manual_add else "manual reduce")
        if self.action != "hold":
            parts.append(
                self.action + (" (reduce)" if self.reduce and self.action == "exit" else "")
            )
        return f"step {self.index} ({'; '.join(parts)})"


def _fault_drafts(rng: random.Random) -> list[dict[str, Any]]:
    """One step per fault kind the campaign must cover."""
    read = READS[rng.randrange(len(READS))]
    faults: list[tuple[Action, FaultPlan]] = [
        ("open", FaultPlan(NEW_ORDER, "http_500", after=rng.randrange(2))),
        ("exit", FaultPlan(read, "http_502", times=rng.randint(1, 2))),
        ("open", FaultPlan(NEW_ORDER, "http_503", after=rng.randrange(2))),
        # after=1: the entry passes, its protective stop gets the 429.
        ("open", FaultPlan(NEW_ORDER, "http_429", after=1, retry_after_s=2)),
        # The stop starts a 3 s IP ban: everything is refused until it ends.
        ("open", FaultPlan(NEW_ORDER, "http_418", after=1, retry_after_s=3)),
        ("open", FaultPlan(NEW_ORDER, "timeout_after_accept", latency_s=PAST_CLIENT_TIMEOUT_S)),
        (rng.choice(("open", "exit")), FaultPlan(NEW_ORDER, "malformed_body")),
        ("open", FaultPlan(NEW_ORDER, "invalid_timestamp", after=rng.randrange(2))),
        ("exit", FaultPlan(NEW_ORDER, "disconnect")),
        ("open", FaultPlan(NEW_ORDER, "disconnect", after=1)),
    ]
    return [{"kind": "fault", "action": action, "fault": fault} for action, fault in faults]


def _other_drafts(rng: random.Random) -> list[dict[str, Any]]:
    held = FaultPlan(
        NEW_ORDER, "timeout_after_accept", after=rng.randrange(2), latency_s=HELD_FOR_KILL_S
    )
    return [
        {
            "kind": "kill",
            "action": "open",
            "kill_after_s": rng.uniform(0.0, 0.8),
            "move_while_down": True,
            "llm_delay_s": 0.3,
        },
        {"kind": "kill", "action": "open", "move_while_down": rng.random() < 0.5, "fault": held},
        {
            "kind": "kill",
            "action": rng.choice(("open", "exit")),
            "kill_after_s": rng.uniform(0.0, 0.6),
            "llm_delay_s": 0.2,
        },
        {
            "kind": "db_cycle",
            "action": "open",
            "cut_after_s": rng.uniform(0.0, 0.4),
            "outage_s": rng.uniform(2.0, 4.0),
            "llm_delay_s": 0.2,
        },
        {
            "kind": "db_startup",
            "action": rng.choice(("open", "exit")),
            "cut_after_s": rng.uniform(0.0, 0.3),
            "outage_s": rng.uniform(2.0, 3.0),
            "llm_delay_s": 0.2,
        },
        {"kind": "db_idle", "outage_s": rng.uniform(2.0, 4.0)},
        {"kind": "manual", "manual_add": rng.random() < 0.5},
        {"kind": "move"},
    ]


def make_plan(seed: int) -> list[Step]:
    """The whole campaign for ``seed``: an opening trade first, then everything shuffled."""
    rng = random.Random(seed)
    first = {"kind": "trade", "action": "open"}
    rest: list[dict[str, Any]] = [{"kind": "trade", "action": "exit"}]
    rest += _fault_drafts(rng) + _other_drafts(rng)
    rng.shuffle(rest)
    return [
        Step(
            index=index,
            pick=rng.random(),
            long=rng.random() < 0.5,
            size_usd=rng.randrange(1500, 3001, 100),
            reduce=rng.random() < 0.5,
            **draft,
        )
        for index, draft in enumerate([first, *rest], start=1)
    ]
