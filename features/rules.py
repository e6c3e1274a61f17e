"""Rule-based PQL conditions: parsed safely, evaluated on feature frames.

Growth teams write rules such as ``invite_teammate_count >= 3 and active_days >= 5``.
They are parsed with Python's `ast` into a small whitelist — feature names, numbers,
comparisons, `and` / `or` / `not`, parentheses — and evaluated as numpy comparisons.
Nothing is ever passed to `eval`: a call, an attribute, a subscript or any other node
is rejected with a message saying what and where.
"""

from __future__ import annotations

import ast
import math
import operator
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np

Evaluator = Callable[[Mapping[str, np.ndarray]], np.ndarray]

_COMPARISONS: dict[type[ast.cmpop], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
MAX_LENGTH = 500


class RuleError(ValueError):
    """A rule expression is malformed or unsafe; the message says what and where."""


@dataclass(frozen=True)
class Rule:
    """A parsed condition: `features` it reads, and a vectorised evaluator."""

    expression: str
    features: frozenset[str]
    evaluate: Evaluator

    def __call__(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean array: which rows meet the rule (missing values never meet it)."""
        return np.asarray(self.evaluate(columns), dtype=bool)


def _number(node: ast.expr, expression: str) -> float:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_number(node.operand, expression)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:  # features are float64: 10**400 has no float, and 1e999 reads as inf
            number = float(node.value)  # type: ignore[arg-type]  # int or float, checked
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise RuleError(
                f"{expression!r}: the number at column {node.col_offset + 1} is too large "
                f"(features are compared as 64-bit floats, at most about {sys.float_info.max:.1e})"
            )
        return number
    raise RuleError(f"{expression!r}: expected a number at column {node.col_offset + 1}")


def _operand(node: ast.expr, expression: str, names: set[str]) -> Evaluator:
    if isinstance(node, ast.Name):
        names.add(node.id)
        name = node.id
        return lambda columns: np.asarray(columns[name], dtype=np.float64)
    value = _number(node, expression)
    return lambda columns: np.asarray(value, dtype=np.float64)


def _compile(node: ast.expr, expression: str, names: set[str]) -> Evaluator:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, expression, names) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def boolean(columns: Mapping[str, np.ndarray]) -> np.ndarray:
            result = parts[0](columns)
            for part in parts[1:]:
                result = combine(result, part(columns))
            return result

        return boolean
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _compile(node.operand, expression, names)
        return lambda columns: np.logical_not(inner(columns))
    if isinstance(node, ast.Compare):
        operands = [_operand(n, expression, names) for n in (node.left, *node.comparators)]
        if not any(isinstance(n, ast.Name) for n in (node.left, *node.comparators)):
            raise RuleError(f"{expression!r}: a comparison must involve a feature")
        ops = []
        for op in node.ops:
            if type(op) not in _COMPARISONS:
                raise RuleError(f"{expression!r}: only >=, >, <=, <, ==, != compare values")
            ops.append(_COMPARISONS[type(op)])

        def compare(columns: Mapping[str, np.ndarray]) -> np.ndarray:
            result: np.ndarray | None = None
            for position, op in enumerate(ops):
                step = op(operands[position](columns), operands[position + 1](columns))
                result = step if result is None else np.logical_and(result, step)
            assert result is not None  # a comparison has at least one operator
            return result

        return compare
    kind = type(node).__name__
    raise RuleError(
        f"{expression!r}: {kind} is not allowed at column {getattr(node, 'col_offset', 0) + 1}; "
        "use feature names, numbers, comparisons, and/or/not and parentheses"
    )


def parse_rule(expression: str, known_features: Collection[str] | None = None) -> Rule:
    """Parse `expression` into a `Rule`; unknown feature names are errors when given."""
    if not isinstance(expression, str) or not expression.strip():
        raise RuleError("a rule needs a non-empty condition")
    if len(expression) > MAX_LENGTH:
        raise RuleError(f"rule longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"{expression!r}: not a valid condition ({exc.msg})") from None
    names: set[str] = set()
    evaluator = _compile(tree.body, expression, names)
    if known_features is not None:
        unknown = sorted(names - set(known_features))
        if unknown:
            raise RuleError(f"{expression!r}: unknown feature(s) {unknown}")
    return Rule(expression=expression.strip(), features=frozenset(names), evaluate=evaluator)
