"""Check that a module is well formed: SSA structure, the `ir.*` op rules, ONNX schemas of `onnx.*` ops and the `mc.*` declarations."""

from __future__ import annotations

import functools
from numbers import Real
from typing import Any, NamedTuple

import numpy as np

from mindconverter.errors import VerifyError
from mindconverter.ir.core import TERMINATORS, Block, Dense, Func, Module, Op, Value
from mindconverter.ir.printer import dense_type, format_loc, value_names
from mindconverter.ir.types import Sym, SymExpr, Unknown

DEFAULT_OPSET = 17
_BUG = "if a pass produced this IR, this is a bug in that pass (rerun with --dump-ir to find it)"


def verify(module: Module) -> None:
    """Raise VerifyError (what, where, fix) for the first malformed thing in `module`."""
    opset = module.attrs.get("opset", DEFAULT_OPSET)
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise VerifyError(
            f"module attribute 'opset' must be an integer, got {opset!r}",
            where=f"module @{module.name}",
            fix="set opset to the ONNX opset the ops follow, e.g. opset = 17",
        )
    seen: set[str] = set()
    for func in module.funcs:
        if func.name in seen:
            raise VerifyError(
                f"func @{func.name} is defined twice", where=f"module @{module.name}", fix="rename one of the funcs"
            )
        seen.add(func.name)
        _FuncVerifier(module, func, opset).run()


class _FuncVerifier:
    """Walks one func in program order, tracking which values are defined and which are visible."""

    def __init__(self, module: Module, func: Func, opset: int) -> None:
        self.module, self.func, self.opset = module, func, opset
        self.defined: set[Value] = set()
        self.visible: set[Value] = set()
        # Text parsed for a pass test has no weights; keys are checked only when weights are loaded.
        self.check_keys = len(module.weights) > 0

    @functools.cached_property
    def names(self) -> dict[Value, str]:
        """Printed value names, computed only when a message needs them."""
        return value_names(self.func)

    def run(self) -> None:
        body = self.func.body
        if not body.ops or body.ops[-1].name != "ir.return":
            last = f"its last op is '{body.ops[-1].name}'" if body.ops else "it has no ops"
            raise VerifyError(
                f"func @{self.func.name} does not end with 'ir.return' ({last})",
                where=f"func @{self.func.name}",
                fix=f'end the func with "ir.return"(...) giving its outputs; {_BUG}',
            )
        self._block(body)

    # -- structure --------------------------------------------------------------------------

    def _block(self, block: Block) -> None:
        for i, arg in enumerate(block.args):
            if arg.owner is not block or arg.index != i:
                raise self._error(
                    None,
                    f"block argument {self._name(arg)} has owner/index that do not point back "
                    f"to its block (argument {i})",
                    "create block arguments through Block(args=...)",
                )
            self._define(arg, None)
        for op in block.ops:
            self._op(op, block)
        for arg in block.args:
            self.visible.discard(arg)
        for op in block.ops:
            self.visible.difference_update(op.results)

    def _define(self, value: Value, op: Op | None) -> None:
        if value in self.defined:
            raise self._error(op, f"value {self._name(value)} is defined twice", f"define every value once; {_BUG}")
        self.defined.add(value)
        self.visible.add(value)
        dims = value.type.dims
        if dims is not None:
            for i, d in enumerate(dims):
                if type(d) is int and d >= 0 or isinstance(d, (Sym, SymExpr, Unknown)):
                    continue
                raise self._error(
                    op,
                    f"dim {i} of {self._name(value)} is {d!r}; a dim is a size >= 0, a symbol, an expression or unknown",
                    f"build dims with mindconverter.ir.symbolic (it returns ints, Sym or SymExpr); {_BUG}",
                )

    def _op(self, op: Op, block: Block) -> None:
        if op.parent is not block:
            raise self._error(
                op,
                f"'{op.name}' has a wrong parent (op.parent is not the block that holds it)",
                f"insert ops with Builder, which sets op.parent; {_BUG}",
            )
        if op.name in TERMINATORS and op is not block.ops[-1]:
            raise self._error(op, f"'{op.name}' is not the last op of its block", f"remove the ops after it; {_BUG}")
        for i, value in enumerate(op.operands):
            if value is not None and value not in self.visible:
                raise self._error(op, self._undefined(value, i), f"define it before this op; {_BUG}")
        for i, region in enumerate(op.regions):
            if region.parent is not op:
                raise self._error(
                    op,
                    f"region {i} of '{op.name}' has a wrong parent (region.parent is not the op)",
                    f"set region.parent to the op (Builder.create does it); {_BUG}",
                )
            if not region.ops or region.ops[-1].name != "ir.yield":
                raise self._error(
                    op,
                    f"region {i} of '{op.name}' does not end with 'ir.yield'",
                    f'end every region with "ir.yield"(...) giving its results; {_BUG}',
                )
            self._block(region)
        for i, result in enumerate(op.results):
            if result.owner is not op or result.index != i:
                raise self._error(
                    op,
                    f"result {i} of '{op.name}' has owner/index that do not point back to the op",
                    f"create results with Builder.create, which sets owner and index; {_BUG}",
                )
            self._define(result, op)
        for key, value in op.attrs.items():
            if not _storable(value):
                raise self._error(
                    op,
                    f"attribute '{key}' of '{op.name}' is a {type(value).__name__}, which IR text cannot hold",
                    "use an int, float, bool, string, Dense, or a list of those",
                )
        check = _OP_CHECKS.get(op.name)
        if check is not None:
            check(self, op)
        elif op.name.startswith("onnx."):
            self._onnx(op)
        elif op.name.startswith("mc."):
            self._mc(op)

    def _undefined(self, value: Value, index: int) -> str:
        """Why operand `index` (`value`) cannot be used here."""
        if value in self.defined:
            owner = value.owner if isinstance(value.owner, Block) else value.owner.parent if value.owner else None
            region_op = owner.parent if owner is not None else None
            inside = f"a region of '{region_op.name}'" if isinstance(region_op, Op) else "a region"
            return f"operand {index} ({self._name(value)}) is defined inside {inside} and is not visible here"
        if value in self.names:
            return f"operand {index} ({self.names[value]}) is used before its definition"
        source = value.op
        origin = f"a result of '{source.name}'{format_loc(source.loc)}" if source is not None else "a block argument"
        return (
            f"operand {index} (of type {value.type}) is not defined in func @{self.func.name}; it is {origin} "
            "that is not in this func (erased, or from another func)"
        )

    # -- ir.* ops ---------------------------------------------------------------------------

    def _terminator(self, op: Op) -> None:
        if op.results:
            raise self._error(
                op, f"'{op.name}' has {len(op.results)} results; terminators have none", f"remove its results; {_BUG}"
            )
        if None in op.operands:
            i = op.operands.index(None)
            raise self._error(
                op,
                f"operand {i} of '{op.name}' is none; every output must be a value",
                f"pass a value (an 'ir.const' if it is constant); {_BUG}",
            )

    def _arity(self, op: Op, operands: int, results: int) -> None:
        if len(op.operands) != operands or len(op.results) != results:
            raise self._error(
                op,
                f"'{op.name}' must have {operands} operands and {results} result, got "
                f"{len(op.operands)} and {len(op.results)}",
                _BUG,
            )

    def _key(self, op: Op, what: str) -> None:
        key = op.attrs.get("key")
        if not isinstance(key, str):
            raise self._error(
                op, f"'{op.name}' needs a string attribute 'key', got {key!r}", f'name the {what} with key = "..."'
            )
        if self.check_keys and key not in self.module.weights:
            raise self._error(
                op,
                f"{what} key '{key}' is not in the weight store",
                f"store the array under '{key}', or fix the key; {_BUG}",
            )

    def _param(self, op: Op) -> None:
        self._arity(op, 0, 1)
        self._key(op, "weight")

    def _const(self, op: Op) -> None:
        self._arity(op, 0, 1)
        has_value, has_key = "value" in op.attrs, "key" in op.attrs
        if has_value == has_key:
            got = "both" if has_value else "neither"
            raise self._error(
                op,
                f"'ir.const' needs exactly one of 'value' and 'key', got {got}",
                'give value = dense<...> for small constants or key = "..." for stored ones',
            )
        if has_key:
            self._key(op, "constant")
            return
        value, result_type = op.attrs["value"], op.results[0].type
        if not isinstance(value, Dense):
            raise self._error(
                op,
                f"'ir.const' value must be a Dense, got {type(value).__name__}",
                "wrap the array: Dense(np.asarray(...))",
            )
        if dense_type(value) != result_type:
            raise self._error(
                op,
                f"'ir.const' value is {dense_type(value)} but its result type is {result_type}",
                f"make the result type match the value; {_BUG}",
            )

    # -- mc.* ops ----------------------------------------------------------------------------

    def _mc(self, op: Op) -> None:
        from mindconverter.ir.dialect_verify import verify_op  # the dialect imports this module's neighbours

        problem = verify_op(op)
        if problem is not None:
            raise self._error(op, problem, f"see the op's declaration in mindconverter/ir/dialect.py; {_BUG}")

    # -- onnx.* ops -------------------------------------------------------------------------

    def _onnx(self, op: Op) -> None:
        schema = _onnx_schema(op.op_type, self.opset)
        if schema is None:
            since = _onnx_since(op.op_type, self.opset)
            what = f"unknown ONNX op '{op.op_type}' (opset {self.opset})"
            fix = "check the spelling; our own ops use the mc.* dialect"
            if since is not None:
                what = f"'{op.name}' needs opset {since} or more, but the module has opset {self.opset}"
                fix = f"set the module opset to {since} or more, or decompose '{op.op_type}' into older ops"
            raise self._error(op, what, fix)
        if not schema.min_inputs <= len(op.operands) <= schema.max_inputs:
            self._count(op, "input", len(op.operands), schema.min_inputs, schema.max_inputs, schema.input_names)
        if not schema.min_outputs <= len(op.results) <= schema.max_outputs:
            self._count(op, "output", len(op.results), schema.min_outputs, schema.max_outputs, schema.output_names)
        for i, value in enumerate(op.operands) if None in op.operands else ():
            if value is None and not schema.optional[min(i, len(schema.optional) - 1)]:
                name = schema.input_names[min(i, len(schema.input_names) - 1)]
                raise self._error(
                    op,
                    f"input {i} ('{name}') of '{op.name}' is none, but it is not optional",
                    f"pass a value for '{name}'; {_BUG}",
                )
        if len(op.regions) != len(schema.graphs):
            graphs = ", ".join(schema.graphs) or "none"
            raise self._error(
                op,
                f"'{op.name}' has {len(op.regions)} regions, but it takes {len(schema.graphs)} "
                f"(one per graph attribute: {graphs})",
                _BUG,
            )
        for name in schema.required:
            if name not in op.attrs:
                raise self._error(
                    op, f"'{op.name}' needs attribute '{name}' (opset {self.opset})", f"add {name} = ...; {_BUG}"
                )
        for name in op.attrs if not op.attrs.keys() <= schema.attribute_set else ():
            if name not in schema.attributes:
                known = ", ".join(schema.attributes) or "none"
                raise self._error(
                    op,
                    f"'{op.name}' has no attribute '{name}' (opset {self.opset}; known: {known})",
                    f"remove '{name}', or use an op of our own (mc.*) that takes it",
                )

    def _count(self, op: Op, what: str, got: int, low: int, high: int, names: tuple[str, ...]) -> None:
        if low <= got <= high:
            return
        expected = str(low) if low == high else f"at least {low}" if high >= _VARIADIC else f"{low} to {high}"
        plural = "" if expected in ("1", "at least 1") else "s"
        listed = f" ({', '.join(names)})" if names else ""
        raise self._error(
            op,
            f"'{op.name}' takes {expected} {what}{plural}{listed}, got {got}",
            f"check the op against the ONNX spec for opset {self.opset}; {_BUG}",
        )

    # -- messages ---------------------------------------------------------------------------

    def _name(self, value: Value) -> str:
        return self.names.get(value, f"<value of type {value.type}>")

    def _error(self, op: Op | None, what: str, fix: str) -> VerifyError:
        where = f"func @{self.func.name}"
        if op is not None:
            results = ", ".join(self._name(r) for r in op.results)
            head = f"{results} = " if results else ""
            where = f"{head}'{op.name}'{format_loc(op.loc)} in {where}"
        return VerifyError(what, where=where, fix=fix)


_OP_CHECKS = {
    "ir.param": _FuncVerifier._param,
    "ir.const": _FuncVerifier._const,
    "ir.return": _FuncVerifier._terminator,
    "ir.yield": _FuncVerifier._terminator,
}


#: Attribute value types IR text holds, looked up by exact type before the (slower) isinstance checks.
_PLAIN_TYPES = frozenset((int, float, str, bool, Dense, np.bool_))


def _storable(value: Any) -> bool:
    """Whether IR text can hold this attribute value (see printer.format_attr)."""
    if type(value) in _PLAIN_TYPES:
        return True
    if isinstance(value, (list, tuple)):
        return all(type(x) in _PLAIN_TYPES or _storable(x) for x in value)
    return isinstance(value, (Real, str, Dense, np.bool_))


# ----------------------------------------------------------------------------------------------
# ONNX schemas


_VARIADIC = 2**31 - 1  # what onnx reports as max_input of a variadic op


class _Schema(NamedTuple):
    """What the verifier needs from an onnx OpSchema."""

    min_inputs: int
    max_inputs: int
    input_names: tuple[str, ...]
    optional: tuple[bool, ...]  # per formal input; the last repeats for variadic inputs
    min_outputs: int
    max_outputs: int
    output_names: tuple[str, ...]
    attributes: tuple[str, ...]
    required: tuple[str, ...]
    graphs: tuple[str, ...]  # graph attributes, held as regions in the IR
    attribute_set: frozenset[str]  # `attributes` for membership tests


@functools.cache
def _onnx_schema(op_type: str, opset: int) -> _Schema | None:
    """The schema of ONNX op `op_type` at `opset` (default domain), or None when there is none."""
    from onnx import defs  # only the verifier of onnx.* ops needs onnx

    try:
        s = defs.get_schema(op_type, opset, "")
    except defs.SchemaError:
        return None
    graph = defs.OpSchema.AttrType.GRAPH
    attrs = s.attributes
    return _Schema(
        s.min_input,
        s.max_input,
        tuple(p.name for p in s.inputs),
        tuple(p.option == defs.OpSchema.FormalParameterOption.Optional for p in s.inputs) or (False,),
        s.min_output,
        s.max_output,
        tuple(p.name for p in s.outputs),
        tuple(name for name, a in attrs.items() if a.type != graph),
        tuple(name for name, a in attrs.items() if a.required and a.type != graph),
        tuple(name for name, a in attrs.items() if a.type == graph),
        frozenset(name for name, a in attrs.items() if a.type != graph),
    )


def _onnx_since(op_type: str, opset: int) -> int | None:
    """The first opset after `opset` that has ONNX op `op_type`, or None when none has it."""
    from onnx import defs

    for version in range(opset + 1, defs.onnx_opset_version() + 1):
        if defs.has(op_type, version, ""):
            return version
    return None
