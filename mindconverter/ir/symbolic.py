"""Symbolic dims: arithmetic, comparison, parsing and rendering of dims that are ints, symbols or expressions.

A dim (`ir.types.Dim`) is an `int`, a `Sym` (a named size: `?batch`), a `SymExpr` (an expression of
symbols: `?(batch*seq)`, `?((h + 6)//7)`) or `UNKNOWN`. The algebra is sympy's: every symbol is a
positive integer, expressions are kept in sympy's canonical form, and `from_sympy` turns a result
back into the simplest dim (an int when the symbols cancel, a `Sym` when it is one symbol). So
`mul(Sym("b"), 12)` is `?(12*b)`, and `floordiv(mul(Sym("b"), 12), 4)` is `?(3*b)`.

Only this module (and the types printing through it) imports sympy, and only when a symbolic dim
is built, so static models never pay for it.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Iterable, Mapping

from mindconverter.ir.types import UNKNOWN, Dim, Sym, SymExpr, Unknown


class _LazySympy:
    """Stands for the sympy module until first used: importing sympy takes ~1 s, and static models never need it."""

    def __getattr__(self, name: str) -> object:
        import sympy as real

        globals()["sympy"] = real
        return getattr(real, name)


sympy = _LazySympy()

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.cache
def _floordiv_class() -> type:
    """FloorDiv, the sympy function of `a // b` (built on first use, with sympy)."""

    class FloorDiv(sympy.Function):
        """`a // b` on positive integers; simplifies when `b` divides every term of `a` or both are numbers."""

        is_integer = True

        @classmethod
        def eval(cls, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr | None:
            if b == 1:
                return a
            if a.is_Integer and b.is_Integer and b != 0:
                return sympy.Integer(int(a) // int(b))
            if b.is_Integer and b > 0:
                # (12*n + 8) // 4 -> 3*n + 2 when b divides every coefficient; (n*k)//k -> n.
                terms = sympy.Add.make_args(sympy.expand(a))
                if all(_divisible(t, b) for t in terms):
                    return sympy.expand(a / b)
                # Multiples of b move out, and the constant into [0, b): (w - 2)//2 -> w//2 - 1, (h + 9)//4 -> (h + 1)//4 + 2.
                whole = [t for t in terms if _divisible(t, b)]
                rest = [t for t in terms if not _divisible(t, b)]
                const = sum((t for t in rest if t.is_Integer), sympy.Integer(0))
                rest = [t for t in rest if not t.is_Integer]
                q, r = divmod(int(const), int(b))
                if whole or q:
                    return sympy.expand(sympy.Add(*whole) / b) + q + cls(sympy.Add(*rest) + r, b)
            if a == b:
                return sympy.Integer(1)
            if not b.is_Integer and sympy.simplify(a / b).is_integer:
                return sympy.simplify(a / b)
            return None

    return FloorDiv


def __getattr__(name: str) -> object:  # `symbolic.FloorDiv` without importing sympy before it is needed
    if name == "FloorDiv":
        return _floordiv_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _divisible(term: sympy.Expr, b: sympy.Integer) -> bool:
    coeff, _ = term.as_coeff_Mul()
    return coeff.is_Integer and int(coeff) % int(b) == 0


@functools.cache
def symbol(name: str) -> sympy.Symbol:
    """The sympy symbol of a named dim: a positive integer."""
    return sympy.Symbol(name, integer=True, positive=True)


def to_sympy(d: Dim) -> sympy.Expr | None:
    """The sympy expression of a dim; None for UNKNOWN."""
    if isinstance(d, (int,)) and not isinstance(d, bool):
        return sympy.Integer(d)
    if isinstance(d, Sym):
        return symbol(d.name)
    if isinstance(d, SymExpr):
        return d.expr
    if isinstance(d, Unknown):
        return None
    raise TypeError(f"not a dim: {d!r}")


def _round_up(e: sympy.Expr) -> sympy.Expr:
    """`r + (-r) % k` (a size padded to a multiple of k, as exporters compute it) is `k*((r + k - 1)//k)`."""
    if not e.is_Add:
        return e
    for m in e.args:
        if isinstance(m, sympy.Mod) and m.args[1].is_Integer and m.args[1] > 0:
            k, rest = m.args[1], e - m
            if all(_divisible(t, k) for t in sympy.Add.make_args(sympy.expand(m.args[0] + rest))):
                return k * _floordiv_class()(rest + k - 1, k)
    return e


def from_sympy(e: sympy.Expr) -> Dim:
    """The simplest dim for an expression: int, Sym or SymExpr."""
    e = _round_up(sympy.sympify(e))
    if e.is_Integer:
        return int(e)
    if e.is_Symbol:
        return Sym(e.name)
    if e.is_number:
        raise ValueError(f"a dim must be an integer, got {e}")
    return SymExpr(e)


def _lift(fn: Callable[..., sympy.Expr], on_ints: Callable[..., int]) -> Callable[..., Dim]:
    """A dim operation from a sympy operation; UNKNOWN in, UNKNOWN out; ints stay plain ints.

    `on_ints` computes the same on plain ints, so static shapes never touch sympy (it is ~100x slower).
    """

    @functools.lru_cache(maxsize=16384)
    def symbolic(*dims: Dim) -> Dim:  # the layers of a model repeat the same arithmetic: computed once
        return from_sympy(fn(*(to_sympy(d) for d in dims)))

    @functools.wraps(fn)
    def op(*dims: Dim) -> Dim:
        if all(type(d) is int for d in dims):
            return on_ints(*dims)
        if any(isinstance(d, Unknown) for d in dims):
            return UNKNOWN
        return symbolic(*dims)

    return op


add = _lift(lambda a, b: a + b, operator.add)
sub = _lift(lambda a, b: a - b, operator.sub)
mul = _lift(lambda a, b: a * b, operator.mul)
floordiv = _lift(lambda a, b: _floordiv_class()(a, b), operator.floordiv)
ceildiv = _lift(lambda a, b: _floordiv_class()(a + b - 1, b), lambda a, b: -(-a // b))
mod = _lift(lambda a, b: sympy.Mod(a, b), operator.mod)
def _nonnegative(e: sympy.Expr) -> bool:
    """Whether `e >= 0` for all positive integer symbols; floors count at their lower bound (a - k + 1)/k."""
    e = sympy.expand(e)
    if e.is_nonnegative:
        return True
    floors = [f for f in e.atoms(_floordiv_class()) if f.args[1].is_Integer and f.args[1] > 0]
    if not floors:
        return False
    dummies = {f: sympy.Dummy() for f in floors}
    linear = e.xreplace(dummies)
    for d in dummies.values():  # each floor must appear alone with a positive coefficient
        c = linear.coeff(d)
        if not (c.is_number and c > 0) or d in sympy.expand(linear - c * d).free_symbols:
            return False
    lower = linear.xreplace({d: (f.args[0] - f.args[1] + 1) / f.args[1] for f, d in dummies.items()})
    return bool(sympy.expand(lower).is_nonnegative)


def _min(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    # min(h, 7*((h + 6)//7)) is h: sympy's Min does not see through floors.
    return a if _nonnegative(b - a) else b if _nonnegative(a - b) else sympy.Min(a, b)


def _max(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    return b if _nonnegative(b - a) else a if _nonnegative(a - b) else sympy.Max(a, b)


dmax = _lift(_max, max)
dmin = _lift(_min, min)


def product(dims: Iterable[Dim]) -> Dim:
    """The product of dims (1 for none)."""
    out: Dim = 1
    for d in dims:
        out = mul(out, d)
    return out


def is_static(d: Dim) -> bool:
    return isinstance(d, int)


def equal(a: Dim, b: Dim) -> bool | None:
    """True when a and b are provably the same size, False when provably different, None when unknown."""
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if a == b:
        return True
    if isinstance(a, Sym) and isinstance(b, Sym):
        return None  # two names: the same size only if something proves it
    if isinstance(a, Sym) and type(b) is int or isinstance(b, Sym) and type(a) is int:
        # A named size is a positive integer: no size below 1 equals it, any other may (sympy says the same,
        # and a mostly static model need not import it for this).
        return False if (a if type(a) is int else b) < 1 else None
    return _equal_exprs(to_sympy(a), to_sympy(b))


@functools.lru_cache(maxsize=8192)
def _equal_exprs(a: sympy.Expr, b: sympy.Expr) -> bool | None:
    # expand() settles what canonical forms can (sympy.simplify is ~100x slower and rarely decides more).
    diff = sympy.expand(a - b)
    if diff == 0:
        return True
    if diff.is_number or diff.is_positive or diff.is_negative:
        return False
    return None


def free_symbols(d: Dim) -> frozenset[str]:
    """Names of the symbols a dim depends on."""
    if isinstance(d, Sym):
        return frozenset((d.name,))
    if isinstance(d, SymExpr):
        return frozenset(s.name for s in d.expr.free_symbols)
    return frozenset()


def substitute(d: Dim, values: Mapping[str, Dim]) -> Dim:
    """`d` with symbols replaced by dims (ints, other symbols or expressions)."""
    names = free_symbols(d) & values.keys()
    if not names:
        return d
    if isinstance(d, Sym):
        return values[d.name]
    repl = {symbol(n): to_sympy(values[n]) for n in names}
    if any(v is None for v in repl.values()):
        return UNKNOWN
    return from_sympy(d.expr.xreplace(repl))  # type: ignore[union-attr]


def evaluate(d: Dim, env: Mapping[str, int]) -> int:
    """The integer value of a dim for concrete symbol sizes; KeyError names a missing symbol."""
    if isinstance(d, int):
        return d
    if isinstance(d, Unknown):
        raise ValueError("an unknown dim has no value")
    missing = free_symbols(d) - env.keys()
    if missing:
        raise KeyError(sorted(missing)[0])
    result = substitute(d, {n: env[n] for n in free_symbols(d)})
    if not isinstance(result, int):
        raise ValueError(f"{d} did not evaluate to an integer with {dict(env)}")
    return result


# -- text -------------------------------------------------------------------------------------------


def _name(name: str) -> str:
    return name if _BARE.fullmatch(name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_PREC = {"atom": 4, "mul": 3, "add": 2}


def _fmt(e: sympy.Expr, leaf: Callable[[str], str], spaced: bool) -> tuple[str, int]:
    """Canonical text of an expression and its precedence: `+ -` (2) < `* // %` (3) < atoms (4)."""
    if e.is_Integer:
        v = int(e)
        return str(v), _PREC["atom"] if v >= 0 else _PREC["add"]
    if e.is_Symbol:
        return leaf(e.name), _PREC["atom"]
    if e.is_Add:
        terms = e.as_ordered_terms()
        # Positive terms first and constants last, as people write them: `seq - batch`, `h + 6`.
        def negative(t: sympy.Expr) -> bool:
            coeff = t.as_coeff_Mul()[0]
            return bool(coeff.is_number and coeff < 0)

        symbolic = [t for t in terms if not t.is_number]
        terms = [t for t in symbolic if not negative(t)] + [t for t in symbolic if negative(t)]
        terms += [t for t in e.as_ordered_terms() if t.is_number]
        out = ""
        for i, t in enumerate(terms):
            coeff, rest = t.as_coeff_Mul()
            negative = coeff.is_number and coeff < 0
            body = -t if negative else t
            text, prec = _fmt(body, leaf, spaced)
            if i == 0:
                out = ("-" if negative else "") + (text if prec > _PREC["add"] or not negative else f"({text})")
            else:
                out += (" - " if negative else " + ") + (text if prec > _PREC["add"] else f"({text})")
        return out, _PREC["add"]
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        if coeff == -1:
            text, prec = _fmt(rest, leaf, spaced)
            return "-" + (text if prec >= _PREC["mul"] else f"({text})"), _PREC["add"]
        factors = e.as_ordered_factors()
        parts = []
        for f in factors:
            if f.is_Pow and f.exp.is_Integer and f.exp > 0:
                parts += [f.base] * int(f.exp)
            else:
                parts.append(f)
        texts = []
        for f in parts:
            text, prec = _fmt(f, leaf, spaced)
            texts.append(text if prec > _PREC["mul"] else f"({text})")
        return "*".join(texts) if not spaced else " * ".join(texts), _PREC["mul"]
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        return _fmt(sympy.Mul(*([e.base] * int(e.exp)), evaluate=False), leaf, spaced)
    if isinstance(e, sympy.Mod):
        a, pa = _fmt(e.args[0], leaf, spaced)
        b, pb = _fmt(e.args[1], leaf, spaced)
        op = " % " if spaced else "%"
        return (a if pa >= _PREC["mul"] else f"({a})") + op + (b if pb > _PREC["mul"] else f"({b})"), _PREC["mul"]
    if isinstance(e, _floordiv_class()):
        a, pa = _fmt(e.args[0], leaf, spaced)
        b, pb = _fmt(e.args[1], leaf, spaced)
        op = " // " if spaced else "//"
        return (a if pa >= _PREC["mul"] else f"({a})") + op + (b if pb > _PREC["mul"] else f"({b})"), _PREC["mul"]
    if isinstance(e, (sympy.Max, sympy.Min)):
        fn = "max" if isinstance(e, sympy.Max) else "min"
        args = sorted(e.args, key=sympy.default_sort_key)
        return fn + "(" + ", ".join(_fmt(a, leaf, spaced)[0] for a in args) + ")", _PREC["atom"]
    raise ValueError(f"cannot print dim expression {e} ({type(e).__name__})")


def expr_text(e: sympy.Expr) -> str:
    """The canonical IR text of an expression (inside `?( )`): `12*b`, `(h + 6)//7`, `max(a, b)`."""
    return _fmt(e, _name, spaced=False)[0]


def to_python(d: Dim, name_of: Callable[[str], str]) -> str:
    """Python source computing a dim, each symbol written by `name_of` (e.g. `x.shape[1]`)."""
    if isinstance(d, int):
        return str(d)
    if isinstance(d, Unknown):
        raise ValueError("an unknown dim cannot be computed")
    return _fmt(to_sympy(d), name_of, spaced=True)[0]


class DimSyntaxError(ValueError):
    """A dim expression that does not parse; `offset` is the position of the problem."""

    def __init__(self, what: str, offset: int = 0) -> None:
        super().__init__(what)
        self.what, self.offset = what, offset


_BINOPS: dict[type, Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: _floordiv_class()(a, b),
    ast.Mod: lambda a, b: sympy.Mod(a, b),
}


def _build(node: ast.AST) -> sympy.Expr:
    if isinstance(node, ast.Expression):
        return _build(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return sympy.Integer(node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted symbol name
        return symbol(node.value)
    if isinstance(node, ast.Name):
        return symbol(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_build(node.left), _build(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_build(node.operand)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("max", "min")
        and len(node.args) >= 2
        and not node.keywords
    ):
        fn = sympy.Max if node.func.id == "max" else sympy.Min
        return fn(*(_build(a) for a in node.args))
    raise DimSyntaxError(f"unexpected '{ast.unparse(node)}' in a dim expression "
                         "(allowed: integers, symbols, + - * // %, min(), max())",
                         getattr(node, "col_offset", 0))


@functools.lru_cache(maxsize=4096)
def parse_expr(text: str) -> Dim:
    """A dim from expression text (`12*b`, `(h + 6)//7`, `"max len" + 1`)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise DimSyntaxError(f"bad dim expression '{text}': {e.msg}", max(0, (e.offset or 1) - 1)) from None
    return from_sympy(_build(tree))


def parse_dim(text: str) -> Dim:
    """A dim from its IR text: `3`, `?`, `?N`, `?"max len"`, `?(12*b)`."""
    text = text.strip()
    if text == "?":
        return UNKNOWN
    if text.startswith("?("):
        if not text.endswith(")"):
            raise DimSyntaxError(f"unbalanced parentheses in dim '{text}'")
        return parse_expr(text[2:-1])
    if text.startswith('?"'):
        return Sym(ast.literal_eval(text[1:]))
    if text.startswith("?"):
        return Sym(text[1:])
    try:
        return int(text)
    except ValueError:
        raise DimSyntaxError(f"bad dim '{text}'") from None


__all__ = [
    "DimSyntaxError", "add", "ceildiv", "dmax", "dmin", "equal", "evaluate", "expr_text",
    "floordiv", "free_symbols", "from_sympy", "is_static", "mod", "mul", "parse_dim", "parse_expr",
    "product", "sub", "substitute", "symbol", "to_python", "to_sympy",
]
