"""Integer dimension expressions: ``H``, ``2*H``, ``ceil(H/2)``, ``N*392``.

A dimension is either a Python ``int`` (the common, fast case) or an
:class:`Expr`, a polynomial with integer coefficients over *atoms*. An atom is
a symbol name or ``floor(X/d)`` of another expression. That covers everything
convolution arithmetic produces (``floor((H + p - k)/s) + 1``, ``s*(H-1)+k``)
and the products that reshapes need (``N*C*H*W``), while staying canonical, so
two equal expressions compare equal and hash alike.

>>> H = Expr.symbol("H")
>>> str(floordiv(H + 1, 2))
'ceil(H/2)'
>>> (2 * H - 2).evaluate({"H": 14})
26
"""

from __future__ import annotations

import functools
import math
from typing import Mapping, Optional, Union

Dim = Union[int, "Expr"]

# A monomial is a sorted tuple of atoms; an atom is a str (symbol) or a
# ``_Floor``. The polynomial maps monomials to non-zero integer coefficients.


class _Floor:
    """``floor(num / den)`` for an expression ``num`` and an integer ``den`` > 1."""

    __slots__ = ("num", "den", "_key", "_text")

    def __init__(self, num: "Expr", den: int) -> None:
        self.num = num
        self.den = den
        self._key = ("~", num._terms, den)
        self._text: Optional[str] = None  # str() is the sort key of every term holding it: kept

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Floor) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def evaluate(self, env: Mapping[str, int]) -> int:
        return self.num.evaluate(env) // self.den

    def __str__(self) -> str:
        if self._text is None:
            const = self.num.constant
            if const == self.den - 1 and const > 0:
                inner = self.num - const
                self._text = f"ceil({_paren(inner)}/{self.den})"
            else:
                self._text = f"floor({_paren(self.num)}/{self.den})"
        return self._text


def _atom_key(atom: object) -> tuple:
    if isinstance(atom, str):
        return (0, atom)
    return (1, str(atom))


def _paren(expr: "Expr | int") -> str:
    text = str(expr)
    if isinstance(expr, Expr) and len(expr._terms) > 1:
        return f"({text})"
    return text


class Expr:
    """A canonical integer polynomial over symbols and floor-divisions."""

    __slots__ = ("_terms", "_hash")

    def __init__(self, terms: dict) -> None:
        items = tuple((m, c) for m, c in terms.items() if c)
        if len(items) > 1:
            items = tuple(sorted(items, key=lambda mc: tuple(_atom_key(a) for a in mc[0])))
        self._terms = items
        self._hash = hash(items)

    # -- construction -------------------------------------------------
    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def symbol(name: str) -> "Expr":
        return Expr({(name,): 1})

    @staticmethod
    def _wrap(value: Dim) -> "Expr":
        if isinstance(value, Expr):
            return value
        return Expr({(): int(value)})

    def _simplify(self) -> Dim:
        if not self._terms:
            return 0
        if len(self._terms) == 1 and self._terms[0][0] == ():
            return self._terms[0][1]
        return self

    # -- queries ------------------------------------------------------
    @property
    def constant(self) -> int:
        for mono, coeff in self._terms:
            if mono == ():
                return coeff
        return 0

    def symbols(self) -> set[str]:
        found: set[str] = set()
        for mono, _ in self._terms:
            for atom in mono:
                if isinstance(atom, str):
                    found.add(atom)
                else:
                    found |= atom.num.symbols()
        return found

    def evaluate(self, env: Mapping[str, int]) -> int:
        total = 0
        for mono, coeff in self._terms:
            value = coeff
            for atom in mono:
                value *= env[atom] if isinstance(atom, str) else atom.evaluate(env)
            total += value
        return total

    def substitute(self, env: Mapping[str, Dim]) -> Dim:
        """Replace symbols by dims (ints or expressions)."""
        total: Dim = 0
        for mono, coeff in self._terms:
            value: Dim = coeff
            for atom in mono:
                if isinstance(atom, str):
                    value = value * env.get(atom, Expr.symbol(atom))
                else:
                    value = value * floordiv(_substitute(atom.num, env), atom.den)
            total = total + value
        return total

    def to_source(self) -> str:
        """Python source computing this expression with ``//`` (ints or numpy arrays)."""
        parts = []
        for mono, coeff in self._terms:
            factors = [str(coeff)] if coeff != 1 or not mono else []
            for atom in mono:
                if isinstance(atom, str):
                    if not atom.isidentifier():
                        raise ValueError(f"symbol {atom!r} is not an identifier")
                    factors.append(atom)
                else:
                    factors.append(f"(({atom.num.to_source()})//{atom.den})")
            parts.append("*".join(factors) or "0")
        return " + ".join(f"({p})" for p in parts) or "0"

    # -- arithmetic ---------------------------------------------------
    def __add__(self, other: Dim) -> Dim:
        if not isinstance(other, (int, Expr)):
            return NotImplemented
        terms = dict(self._terms)
        for mono, coeff in Expr._wrap(other)._terms:
            terms[mono] = terms.get(mono, 0) + coeff
        return Expr(terms)._simplify()

    __radd__ = __add__

    def __neg__(self) -> "Expr":
        return Expr({m: -c for m, c in self._terms})

    def __sub__(self, other: Dim) -> Dim:
        if not isinstance(other, (int, Expr)):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other: Dim) -> Dim:
        return (-self) + other

    def __mul__(self, other: Dim) -> Dim:
        if isinstance(other, bool) or not isinstance(other, (int, Expr)):
            return NotImplemented
        if isinstance(other, int):
            return Expr({m: c * other for m, c in self._terms})._simplify()
        terms: dict = {}
        for m1, c1 in self._terms:
            for m2, c2 in other._terms:
                mono = tuple(sorted(m1 + m2, key=_atom_key))
                terms[mono] = terms.get(mono, 0) + c1 * c2
        return Expr(terms)._simplify()

    __rmul__ = __mul__

    def __floordiv__(self, other: Dim) -> Dim:
        if isinstance(other, Expr):
            return exact_div(self, other)
        return floordiv(self, other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expr):
            return self._terms == other._terms
        return False

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Expr({str(self)!r})"

    def __str__(self) -> str:
        parts: list[str] = []
        for mono, coeff in sorted(self._terms, key=lambda mc: (mc[0] == (), -len(mc[0]))):
            body = "*".join(a if isinstance(a, str) else str(a) for a in mono)
            if not body:
                parts.append(str(coeff))
            elif coeff == 1:
                parts.append(body)
            elif coeff == -1:
                parts.append("-" + body)
            else:
                parts.append(f"{coeff}*{body}")
        text = parts[0]
        for part in parts[1:]:
            text += f" - {part[1:]}" if part.startswith("-") else f" + {part}"
        return text


def _substitute(expr: Dim, env: Mapping[str, Dim]) -> Dim:
    return expr.substitute(env) if isinstance(expr, Expr) else expr


def floordiv(value: Dim, den: int) -> Dim:
    """``floor(value / den)`` for a positive integer ``den``, simplified.

    >>> H = Expr.symbol("H")
    >>> str(floordiv(floordiv(H + 1, 2) + 1, 2))
    'ceil(H/4)'
    """
    if den <= 0:
        raise ZeroDivisionError("dimension divided by a non-positive number")
    if isinstance(value, int):
        return value // den
    if den == 1:
        return value
    exact: dict = {}
    rest: dict = {}
    for mono, coeff in value._terms:
        quotient, remainder = divmod(coeff, den)
        if quotient:
            exact[mono] = quotient
        if remainder:
            rest[mono] = remainder
    base = Expr(exact)._simplify()
    if not rest:
        return base
    remainder_expr = Expr(rest)
    if all(m == () for m, _ in remainder_expr._terms):
        return base  # 0 <= constant remainder < den contributes nothing
    # floor((floor(X/a) + c)/b) == floor((X + c*a)/(a*b)) for integer X.
    nonconst = [(m, c) for m, c in remainder_expr._terms if m != ()]
    if len(nonconst) == 1 and nonconst[0][1] == 1 and len(nonconst[0][0]) == 1:
        atom = nonconst[0][0][0]
        if isinstance(atom, _Floor):
            inner = atom.num + remainder_expr.constant * atom.den
            return base + floordiv(inner, atom.den * den)
    return base + Expr({(_Floor(remainder_expr, den),): 1})


def ceildiv(value: Dim, den: int) -> Dim:
    """``ceil(value / den)``; ``ceil(7/2) == 4``."""
    return floordiv(value + (den - 1), den)


def exact_div(num: Dim, den: Dim) -> Dim:
    """Divide where the caller knows the division is exact (reshape's -1).

    Raises ``ValueError`` when it cannot be done symbolically.
    """
    if isinstance(den, int):
        if den == 0:
            raise ZeroDivisionError("division by a zero dimension")
        if isinstance(num, int):
            return num // den
        return floordiv(num, den) if den > 0 else -floordiv(num, -den)
    if isinstance(num, int):
        raise ValueError("cannot divide an integer by a symbolic dimension")
    if len(den._terms) != 1:
        raise ValueError(f"cannot divide by {den}")
    dmono, dcoeff = den._terms[0]
    terms: dict = {}
    for mono, coeff in num._terms:
        remaining = list(mono)
        for atom in dmono:
            if atom not in remaining:
                raise ValueError(f"cannot divide {num} by {den}")
            remaining.remove(atom)
        terms[tuple(remaining)] = coeff
    if all(coeff % dcoeff == 0 for coeff in terms.values()):
        return Expr({mono: coeff // dcoeff for mono, coeff in terms.items()})._simplify()
    # The division is exact, so what the symbols' product leaves is a multiple of
    # the coefficient: a reshape of N x 4 x H x W to (N, 4, -1, 2, W) makes 4*H/8
    # of H, which the model can only run with for even H, i.e. floor(H/2).
    common = math.gcd(dcoeff, *terms.values())
    quotient = Expr({mono: coeff // common for mono, coeff in terms.items()})._simplify()
    dcoeff //= common
    return floordiv(quotient, dcoeff) if dcoeff > 0 else -floordiv(quotient, -dcoeff)


def is_static(dim: object) -> bool:
    return isinstance(dim, int)


def evaluate(dim: Dim, env: Mapping[str, int]) -> int:
    return dim if isinstance(dim, int) else dim.evaluate(env)


def dim_str(dim: object) -> str:
    if dim is None:
        return "?"
    return str(dim)
