"""Exact money: prices as decimals, rounded once to cents at the edge."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final

__all__ = ["cents", "line_amount"]

_CENT: Final = Decimal("0.01")


def line_amount(qty: int, price: int | float) -> Decimal:
    """qty x price, exact: a JSON number's shortest repr is the decimal the shop sent."""
    return qty * Decimal(repr(price) if type(price) is float else price)


def cents(amount: Decimal) -> float:
    """Round once, half-up, to cents (SPEC: revenue)."""
    return float(amount.quantize(_CENT, rounding=ROUND_HALF_UP))
