"""The agent's tool registry: a general chat tool, a safe calculator and the clock."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool

_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS: dict[str, Callable[..., Any]] = {"sqrt": math.sqrt, "abs": abs, "round": round,
                                           "min": min, "max": max, "log": math.log}
_CONSTS = {"pi": math.pi, "e": math.e}
MAX_EXPRESSION = 200


class CalculatorError(ValueError):
    """The expression is not plain arithmetic or is out of bounds."""


def evaluate(expression: str) -> float:
    """Evaluate arithmetic without eval(): numbers, + - * / // % **, parentheses, a few functions."""
    if len(expression) > MAX_EXPRESSION:
        raise CalculatorError(f"expression longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise CalculatorError("not a valid arithmetic expression") from None
    return _eval(tree.body)


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTS:
        return _CONSTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 100 or abs(left) > 1e6):
            raise CalculatorError("exponent too large")
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculatorError("division by zero") from None
        if isinstance(value, complex):  # a negative number to a fractional power
            raise CalculatorError("the result is not a real number")
        return value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and not node.keywords and len(node.args) <= 4):
        return _FUNCS[node.func.id](*(_eval(a) for a in node.args))
    raise CalculatorError(f"unsupported element: {type(node).__name__}")


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as '(2 + 3) * 4' or 'sqrt(16)'."""
    # Any failure of the arithmetic is the tool's answer, for the model to read: a refused expression, a math
    # domain or range error (log(2, 1) divides by zero, 999999**100 is past a float), a function called with the
    # wrong arguments (min(), round(2.5, 1.5)). Only the tool call's own arguments are checked before (LangChain).
    try:
        value = evaluate(expression)
        return str(int(value)) if float(value).is_integer() else repr(value)
    except (ArithmeticError, TypeError, ValueError) as exc:  # ValueError includes CalculatorError
        return f"error: {exc or type(exc).__name__}"


@tool
def current_time(timezone: str = "UTC") -> str:
    """Return the current date and time in ISO 8601 for an IANA timezone (default UTC)."""
    try:
        zone = UTC if timezone.upper() == "UTC" else ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"error: unknown timezone {timezone!r}"
    return datetime.now(zone).isoformat(timespec="seconds")


def chat_tool(model: Runnable[Any, BaseMessage]) -> BaseTool:
    """Build the general chat tool (the seed's "Chat" tool) on the service's own model."""

    @tool
    async def chat(question: str) -> str:
        """Ask the language model a general question and return its answer."""
        answer = await model.ainvoke([HumanMessage(content=question)])
        return answer.text

    return chat


def build_tools(model: Runnable[Any, BaseMessage], names: Sequence[str] | None) -> list[BaseTool]:
    """Return the requested tools (all when `names` is None); unknown names raise KeyError."""
    registry: dict[str, BaseTool] = {"chat": chat_tool(model), "calculator": calculator,
                                     "current_time": current_time}
    if names is None:
        return list(registry.values())
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise KeyError(", ".join(unknown))
    return [registry[n] for n in dict.fromkeys(names)]


TOOL_NAMES = ("chat", "calculator", "current_time")
