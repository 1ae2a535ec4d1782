"""Exact money: prices as decimals, summed without rounding, rounded once to cents.

Python's default decimal context keeps 28 digits and rounds silently beyond them,
which an allowed price already breaks (5e-324 + 19.99 needs 326 digits). Every
sum here runs in a context wide enough for any total the contract allows, with
``Inexact`` trapped: a breach raises ``decimal.Inexact`` instead of rounding.

Bound: revenue is at most (2**63 - 1) units x 1e9 < 1e28 (28 integer digits),
and the last digit of a price's shortest repr is never below 1e-324, so an exact
total has at most 28 + 324 = 352 digits.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final

__all__ = ["ZERO", "add", "add_all", "cents", "line_amount", "subtract"]

_DIGITS: Final = 400  # above the 352 digits an allowed exact total can need (see above).
_EXACT: Final = Context(
    prec=_DIGITS,
    rounding=ROUND_HALF_UP,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
)
# Rounding to cents is meant to be inexact; only a malformed amount may raise.
_ROUNDING: Final = Context(prec=_DIGITS, rounding=ROUND_HALF_UP, traps=[InvalidOperation, Overflow])
_CENT: Final = Decimal("0.01")
ZERO: Final = Decimal(0)


def line_amount(qty: int, price: int | float) -> Decimal:
    """qty x price, exact: a JSON number's shortest repr is the decimal the shop sent."""
    return _EXACT.multiply(qty, Decimal(repr(price) if type(price) is float else price))


def add(a: Decimal, b: Decimal) -> Decimal:
    return _EXACT.add(a, b)


def add_all(amounts: Iterable[Decimal]) -> Decimal:
    """The exact sum of ``amounts``, added in C (one context switch, not one per term)."""
    with localcontext(_EXACT):
        return sum(amounts, ZERO)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    return _EXACT.subtract(a, b)


def cents(amount: Decimal) -> float:
    """Round once, half-up, to cents (SPEC: revenue); finite for any allowed total."""
    return float(_ROUNDING.quantize(amount, _CENT))
