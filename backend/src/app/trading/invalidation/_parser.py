"""The recursive-descent parser, and the canonical text of a parsed tree."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Never, assert_never

from app.trading.invalidation._ast import (
    BOOLEAN,
    NUMERIC,
    And,
    Arithmetic,
    BoolExpr,
    Comparison,
    Negation,
    Not,
    Number,
    NumExpr,
    Or,
    Variable,
)
from app.trading.invalidation._common import MAX_COMPARISONS, MAX_DEPTH, InvalidationError
from app.trading.invalidation._tokens import Kind, Token, Vocabulary, tokenize

_PRECEDENCE: Final = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True, slots=True)
class _Parsed:
    node: NumExpr | BoolExpr
    start: int
    end: int


class Parser:
    """Recursive descent with one token of lookahead.

    ``"(" expr ")"`` and ``"(" sum ")"`` start alike, so every level parses either kind and checks
    the kind where it is used: operators need numbers, ``and``/``or``/``not`` need conditions.
    """

    def __init__(self, text: str, vocabulary: Vocabulary) -> None:
        self.variables: set[str] = set()
        self._text = text
        self._tokens = tokenize(text, vocabulary)
        self._previous: Token | None = None
        self._current = next(self._tokens)
        self._depth = 0
        self._open_parentheses = 0
        self._comparisons = 0

    def parse(self) -> BoolExpr:
        parsed = self._or()
        root = self._condition(parsed)
        token = self._current
        if token.kind == "rparen":
            self._fail(f"unexpected ')' at {token.pos} without a matching '('", token.pos)
        if token.kind != "end":
            after = self._snippet(parsed)
            self._fail(
                f"expected 'and', 'or' or end of input after '{after}' at {token.pos}, "
                f"found {token.describe()}",
                token.pos,
            )
        return root

    def _or(self) -> _Parsed:
        return self._junction("or", self._and)

    def _and(self) -> _Parsed:
        return self._junction("and", self._not)

    def _junction(self, kind: Literal["and", "or"], operand: Callable[[], _Parsed]) -> _Parsed:
        first = operand()
        operands = [first]
        while self._current.kind == kind:
            self._condition(operands[-1])
            self._advance()
            operands.append(operand())
        if len(operands) == 1:
            return first
        nodes = [self._condition(parsed) for parsed in operands]
        node = And(_flatten(And, nodes)) if kind == "and" else Or(_flatten(Or, nodes))
        return _Parsed(node, first.start, operands[-1].end)

    def _not(self) -> _Parsed:
        token = self._current
        if token.kind != "not":
            return self._comparison()
        self._enter(token)
        operand = self._not()
        self._depth -= 1
        return _Parsed(Not(self._condition(operand)), token.pos, operand.end)

    def _comparison(self) -> _Parsed:
        left = self._sum()
        token = self._current
        if token.kind != "cmp":
            if isinstance(left.node, BOOLEAN) or (
                token.kind == "rparen" and self._open_parentheses
            ):
                return left  # a parenthesised condition, or a parenthesised sum
            self._fail(
                f"expected a comparison operator after '{self._snippet(left)}' at {token.pos}, "
                f"found {token.describe()}",
                token.pos,
            )
        self._comparisons += 1
        if self._comparisons > MAX_COMPARISONS:
            self._fail(
                f"too many comparisons at {token.pos} (at most {MAX_COMPARISONS})", token.pos
            )
        self._advance()
        right = self._sum()
        if (chained := self._current).kind == "cmp":
            self._fail(
                f"chained comparison at {chained.pos}: join comparisons with 'and'", chained.pos
            )
        node = Comparison(token.text, self._numeric(left, token), self._numeric(right, token))
        return _Parsed(node, left.start, right.end)

    def _sum(self) -> _Parsed:
        return self._arithmetic("add", self._product)

    def _product(self) -> _Parsed:
        return self._arithmetic("mul", self._unary)

    def _arithmetic(self, kind: Kind, operand: Callable[[], _Parsed]) -> _Parsed:
        result = operand()
        while (token := self._current).kind == kind:
            self._advance()
            right = operand()
            node = Arithmetic(token.text, self._numeric(result, token), self._numeric(right, token))
            result = _Parsed(node, result.start, right.end)
        return result

    def _unary(self) -> _Parsed:
        token = self._current
        if token.kind == "add" and token.text == "-":
            self._enter(token)
            operand = self._unary()
            self._depth -= 1
            return _Parsed(Negation(self._numeric(operand, token)), token.pos, operand.end)
        if token.kind == "lparen":
            return self._group(token)
        if token.kind == "num":
            self._advance()
            return _Parsed(Number(float(token.text), token.text), token.pos, token.end)
        if token.kind == "var":
            self._advance()
            self.variables.add(token.text)
            return _Parsed(Variable(token.text), token.pos, token.end)
        after = f" after '{self._previous.raw}'" if self._previous else ""
        self._fail(
            f"expected a number, a variable or '('{after} at {token.pos}, "
            f"found {token.describe()}",
            token.pos,
        )

    def _group(self, opening: Token) -> _Parsed:
        self._enter(opening)
        self._open_parentheses += 1
        inner = self._or()
        closing = self._current
        if closing.kind != "rparen":
            self._fail(
                f"expected ')' at {closing.pos} to close '(' at {opening.pos}, "
                f"found {closing.describe()}",
                closing.pos,
            )
        self._advance()
        self._open_parentheses -= 1
        self._depth -= 1
        return _Parsed(inner.node, opening.pos, closing.end)

    def _enter(self, token: Token) -> None:
        # Bounds the recursion as well as the expression: 200 "(" would exhaust Python's stack.
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._fail(f"nesting deeper than {MAX_DEPTH} levels at {token.pos}", token.pos)
        self._advance()

    def _advance(self) -> None:
        self._previous = self._current
        self._current = next(self._tokens)

    def _condition(self, parsed: _Parsed) -> BoolExpr:
        if isinstance(parsed.node, BOOLEAN):
            return parsed.node
        token = self._current
        self._fail(
            f"expected a comparison operator after '{self._snippet(parsed)}' at {token.pos}, "
            f"found {token.describe()}",
            token.pos,
        )

    def _numeric(self, parsed: _Parsed, operator_: Token) -> NumExpr:
        if isinstance(parsed.node, NUMERIC):
            return parsed.node
        self._fail(
            f"'{operator_.raw}' at {operator_.pos} needs a number, "
            f"not the condition '{self._snippet(parsed)}'",
            operator_.pos,
        )

    def _snippet(self, parsed: _Parsed) -> str:
        snippet = self._text[parsed.start : parsed.end]
        return snippet if len(snippet) <= 40 else snippet[:37] + "..."

    def _fail(self, message: str, position: int) -> Never:
        raise InvalidationError(message, expression=self._text, position=position)


def _flatten[T: (And, Or)](kind: type[T], operands: list[BoolExpr]) -> tuple[BoolExpr, ...]:
    # "a and (b and c)" is "a and b and c": one canonical text for one meaning.
    flat: list[BoolExpr] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return tuple(flat)


def render(node: BoolExpr) -> str:
    match node:
        case Or(operands):
            return " or ".join(render(operand) for operand in operands)
        case And(operands):
            return " and ".join(
                f"({render(operand)})" if isinstance(operand, Or) else render(operand)
                for operand in operands
            )
        case Not(operand):
            inner = render(operand)
            return f"not {inner}" if isinstance(operand, Not) else f"not ({inner})"
        case Comparison(op, left, right):
            return f"{_render_number(left)} {op} {_render_number(right)}"
        case _:
            assert_never(node)


def _render_number(node: NumExpr) -> str:
    match node:
        case Number(text=text):
            return text
        case Variable(name):
            return name
        case Negation(operand):
            inner = _render_number(operand)
            return f"-({inner})" if isinstance(operand, Arithmetic) else f"-{inner}"
        case Arithmetic(op, left, right):
            # Keep every parenthesis the tree needs: float arithmetic is not associative.
            level = _PRECEDENCE[op]
            left_text, right_text = _render_number(left), _render_number(right)
            if isinstance(left, Arithmetic) and _PRECEDENCE[left.op] < level:
                left_text = f"({left_text})"
            if isinstance(right, Arithmetic) and _PRECEDENCE[right.op] <= level:
                right_text = f"({right_text})"
            return f"{left_text} {op} {right_text}"
        case _:
            assert_never(node)
