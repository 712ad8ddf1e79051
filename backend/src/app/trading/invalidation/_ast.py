"""The condition tree (frozen dataclasses) and its three-valued evaluation."""

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, assert_never

_COMPARATORS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9),
    "!=": lambda a, b: not math.isclose(a, b, rel_tol=1e-9),
}
_ARITHMETIC: Final[dict[str, Callable[[float, float], float]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}

type NumExpr = Number | Variable | Negation | Arithmetic
type BoolExpr = Comparison | Not | And | Or


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    text: str


@dataclass(frozen=True, slots=True)
class Variable:
    name: str


@dataclass(frozen=True, slots=True)
class Negation:
    operand: NumExpr


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str
    left: NumExpr
    right: NumExpr


@dataclass(frozen=True, slots=True)
class Comparison:
    op: str
    left: NumExpr
    right: NumExpr


@dataclass(frozen=True, slots=True)
class Not:
    operand: BoolExpr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[BoolExpr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[BoolExpr, ...]


NUMERIC: Final = (Number, Variable, Negation, Arithmetic)
BOOLEAN: Final = (Comparison, Not, And, Or)


def truth(node: BoolExpr, values: Mapping[str, float | None]) -> bool | None:
    match node:
        case Comparison(op, left, right):
            a, b = _value(left, values), _value(right, values)
            return None if a is None or b is None else _COMPARATORS[op](a, b)
        case Not(operand):
            result = truth(operand, values)
            return None if result is None else not result
        case And(operands):
            return _kleene(operands, values, decisive=False)
        case Or(operands):
            return _kleene(operands, values, decisive=True)
        case _:
            assert_never(node)


def _kleene(
    operands: tuple[BoolExpr, ...], values: Mapping[str, float | None], *, decisive: bool
) -> bool | None:
    # One decisive operand (False for "and", True for "or") settles it even if others are unknown.
    unknown = False
    for operand in operands:
        result = truth(operand, values)
        if result is decisive:
            return decisive
        unknown = unknown or result is None
    return None if unknown else not decisive


def _value(node: NumExpr, values: Mapping[str, float | None]) -> float | None:
    match node:
        case Number(value=value):
            return value
        case Variable(name):
            return _lookup(values, name)
        case Negation(operand):
            inner = _value(operand, values)
            return None if inner is None else -inner
        case Arithmetic(op, left, right):
            a, b = _value(left, values), _value(right, values)
            if a is None or b is None or (op == "/" and b == 0):
                return None
            result = _ARITHMETIC[op](a, b)
            return result if math.isfinite(result) else None
        case _:
            assert_never(node)


def _lookup(values: Mapping[str, float | None], name: str) -> float | None:
    raw = values.get(name)
    if raw is None:
        return None
    try:
        # Callers may hand in ints, Decimals or numpy floats despite the annotation.
        number = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
