"""Statement emission: one `CellWriter` per Cell class turns the ops of a block into members and statements.

Each op's emitter gives the expression of its results (through `EmitContext`); the writer records
the members it declares (layers, parameters, constant tensors), their checkpoint entries, and one
`Statement` per op. Ops without an emitter (or whose emitter gives up) become placeholder Cells.
"""

from __future__ import annotations

import os
import re
import weakref

import attrs
import numpy as np

from mindconverter.backend.calls import Call, Code, array_value
from mindconverter.backend.context import MS_DTYPES, EmitContext, EmitError, Inline, WeightRef
from mindconverter.backend.generated import CheckpointEntry, UnsupportedOp, comment_text, shape_text
from mindconverter.backend.naming import (
    GENERIC_NAME,
    Namer,
    identifier,
    layer_name,
    meaningless,
    module_path,
    op_type_name,
)
from mindconverter.backend.registry import find_emitter
from mindconverter.backend.render import member_lines, render_script
from mindconverter.ir.core import Module, Op, Value, const_array, is_param
from mindconverter.ir.dialect import DIALECT
from mindconverter.ir.scopes import TRAINABLE_ATTR, SourceScopes, op_path
from mindconverter.ir.types import DType

#: Constant tensors up to this many elements are written into the script; larger ones go to the checkpoint.
INLINE_TENSOR_LIMIT = 16


@attrs.define
class Statement:
    targets: list[str]
    expr: str
    comment: str
    guard: str | None = None  # an optional sub-cell: `if self.<guard> is not None:`, else `fallback`
    fallback: str = ""
    new_members: list[str] = attrs.field(factory=list)  # members the op declared (one layer: a Sequential element)


@attrs.define(eq=False)
class SubCellRef:
    """A member that is a nested cell; its constructor code is known once its class is settled."""

    op: Op


def _same_weights(a: dict[str, WeightRef], b: dict[str, WeightRef]) -> bool:
    """Whether two layers' weights are the same source tensors, taken the same way (a second call of one module)."""
    return a.keys() == b.keys() and all(
        a[k].source and a[k].source == b[k].source and a[k].array.shape == b[k].array.shape
        and (a[k].array is b[k].array or np.array_equal(a[k].array, b[k].array)) for k in a)


def _is_causal_mask(array: np.ndarray) -> bool:
    """Whether `array` is an additive causal mask: 0 on and below the diagonal of its last two axes, very negative above."""
    if array.dtype.kind != "f" or array.ndim < 2 or array.shape[-1] != array.shape[-2] or array.shape[-1] < 2:
        return False
    above = np.triu(np.ones(array.shape[-2:], bool), 1)
    return bool(np.all(array[..., above] <= -1e4) and np.all(array[..., ~above] == 0))


def says_more(st: Statement) -> bool:
    """Whether a statement's source-node comment says more than its own names (`avgpool = ...  # /avgpool/...` does not)."""
    if not st.comment or st.expr.startswith("self.") or meaningless(identifier(st.comment)):
        return False  # `# n5` says nothing
    source = re.sub(r"[^0-9a-z]+", "_", st.comment.lower())
    return not any(re.sub(r"_\d+$", "", t).lower() in source for t in st.targets)


def _folded_from(op: Op) -> str:
    """`folded from <node>` for a constant fold-constants computed from a source expression (named after the
    node of its last op, `/attention/Sqrt`), else "": a number says nothing of where it came from."""
    node = op.loc_name
    kind = re.sub(r"_\d+$", "", node.rsplit("/", 1)[-1])
    if kind in ("Constant", "Identity") or op.attrs.get("key") == node or not op_type_name(kind):
        return ""  # a literal of the source, or an initializer (named after itself)
    return f"folded from {node}"


def _instance_kind(part: str) -> str:
    return re.sub(r"\d+", "#", part)


def _relative(name: str, prefix: str) -> str | None:
    """`name` (dotted) relative to the cell `prefix`: `out_proj` for `a.layer_1.attn.out_proj` in `a.layer_1.attn`.

    A path of another instance of the same kind counts as the cell's own (`a.layer_0.attn.in_proj` in
    `a.layer_1.attn`): an exporter names a weight that instances share by value (a zero bias) once.
    "" when `name` is the cell itself; None when it is not inside it.
    """
    parts, own = name.split("."), prefix.split(".")
    if len(parts) < len(own) or any(a != b and _instance_kind(a) != _instance_kind(b) for a, b in zip(parts[: len(own)], own, strict=True)):
        return None
    return ".".join(parts[len(own):])


class CellWriter:
    """Accumulates members, statements and checkpoint entries for one Cell class."""

    def __init__(self, module: Module, prefix: str = "") -> None:
        self.module = module
        self.prefix = prefix  # the dotted source path of the cell being written ("" for the top level)
        # what the source names of this cell's weights share (`layer1.0.`, see hierarchy._origin_prefix); at the
        # top level the namespace every weight of the model is in (Caffe2's `gpu_0/`), see namespace_prefix
        self.origin_prefix = "" if prefix else namespace_prefix(module)
        self.sub_cells: list[tuple[str, Op]] = []  # (member name, mc.cell op) in program order
        self.weights = module.weights
        self.opset = int(module.attrs.get("opset", 17))
        listed = module.attrs.get(TRAINABLE_ATTR)
        self.trainable = None if listed is None else frozenset(listed)
        self.members: list[tuple[str, Call | SubCellRef, str]] = []  # (name, constructor call, comment)
        self.member_names = Namer()
        self.local_names = Namer()
        self.statements: list[Statement] = []
        self.checkpoint: list[CheckpointEntry] = []
        self.unsupported: list[UnsupportedOp] = []
        self.vars: dict[Value, str] = {}
        self.output_names: dict[Value, str] = {}  # names for the values the top-level construct returns, see returned_names
        self.const_members: dict[Value, str] = {}
        # (source module, constructor code, weights' sources) -> member, see add_member
        self.stateless: dict[tuple[str, str, tuple], str] = {}
        self.layer_weights: dict[str, tuple[dict[str, WeightRef], str]] = {}  # a shared layer: (weights, path), by member
        self.user: Op | None = None  # the op being emitted (the user of the constants it asks for)
        self.imports: set[str] = set()
        self.support_classes: dict[str, str] = {}
        self.scopes = scopes_of(module)

    def returned_vars(self) -> set[str]:
        """The locals holding the named outputs (kept as statements of their own, not folded into `return`)."""
        return {self.vars[v] for v in self.output_names if isinstance(self.vars.get(v), str)}

    def _generic(self, path: str) -> bool:
        """Whether a source path is an exporter's node name (`Conv_3`, `n61`) rather than a module's.

        Paths read from TF names are Keras layers, whatever they look like (`Conv1`).
        """
        return self.scopes.style != "tf" and bool(GENERIC_NAME.fullmatch(path))

    def _path(self, op: Op) -> str:
        """The dotted source module path of `op` (`layer1.0.conv1`; for TF names as structure-modules reads them).

        A fused TF op is named after its last source node (the Conv of a Pad + Conv), not the block
        both share.
        """
        if not op.loc:
            return ""
        if self.scopes.style == "tf":
            return ".".join(self.scopes.path(op.loc[-1]) or op_path(op, self.scopes))
        return module_path(op.loc_name)

    # -- members ---------------------------------------------------------------------------------

    def _hint(self, op: Op, hint: str | None) -> str:
        """A member name for op's layer: the source scope, else its weight's source name, else the op type."""
        if hint:
            return hint
        path = self._path(op)
        if self.prefix and path.startswith(self.prefix + "."):
            path = path[len(self.prefix) + 1:]
        elif self.prefix and path == self.prefix:
            path = ""
        if path and not self._generic(path):
            return path
        for v in op.operands[1:3]:  # the weight's name, else (a folded weight named after the cell) the bias's
            key = v.op.attrs.get("key") if v is not None and v.op is not None else None
            origin = self.weights.origin.get(key, key) if key else None
            if origin:
                name = layer_name(origin)
                relative = _relative(name, self.prefix) if self.prefix else None
                if relative:
                    return relative  # `out_proj` in the cell `...self_attention`
                if relative == "":
                    continue  # named after the cell itself
                if self.origin_prefix and name.startswith(self.origin_prefix):
                    name = name[len(self.origin_prefix):]
                    if name[:1].isdigit():  # `inception_3a/1x1` -> `conv_1x1`
                        name = f"{op.op_type.lower()}_{name}"
                return name
        return op.op_type.lower()

    def _source_module(self, op: Op) -> str | None:
        """The source module whose call `op` is, relative to this cell; None for ops without one.

        Every call of a module gives the same path: torch names the second call of `self.drop` in
        `layers.0` `/layers.0/drop_1/Dropout`, so a torch-style scope (`/...`) loses its `_<n>` suffix.
        """
        name = op.loc_name
        if "/" not in name:
            return None
        path = self._path(op)
        if self.prefix:
            if not path.startswith(self.prefix + "."):
                return None  # an op of the cell itself, not of one of its modules
            path = path[len(self.prefix) + 1:]
        if name.startswith("/"):
            path = re.sub(r"_\d+$", "", path)
        return path or None

    def source_module(self, op: Op) -> str | None:
        """`_source_module`, but None where the path is only an exporter's node name (`Relu`, `n12`)."""
        source = self._source_module(op)
        return None if source is None or self._generic(source) else source

    def add_member(self, op: Op, code: Call, weights: dict[str, WeightRef], hint: str | None, shared: bool = False) -> str:
        # A layer called again from the same source module is the same member, as in the source
        # (`self.drop` used twice; `self.fc(x) + self.fc(y)`): for a layer with weights, only when its
        # weights are the same source tensors, so that training updates one weight as torch does.
        # Tied weights of different modules (GPT-2's wte and lm_head) stay two layers with a copy each.
        # `shared` (EmitContext.shared_layer): ops without a source scope share one member per cell.
        source = self._source_module(op)
        if source is None and shared and not weights and "/" not in op.loc_name:
            source = ""  # the cell's own: named after what it is (`relu`), it says nothing about a value it computes
        key = None if source is None else (source, str(code), tuple((k, r.source) for k, r in weights.items()))
        if key is not None and key in self.stateless:
            name = self.stateless[key]
            if not weights or self._called_again(op, weights, *self.layer_weights[name]):
                return f"self.{name}"
        name = self.member_names(self._hint(op, hint), "layer")
        if key is not None and (not weights or all(r.source for r in weights.values())):
            self.stateless[key] = name
            self.layer_weights[name] = (weights, self._path(op))

        self.members.append((name, code, op.loc_name))
        for pname, ref in weights.items():
            self.checkpoint.append(CheckpointEntry(f"{name}.{pname}", ref))
        return f"self.{name}"

    def _called_again(self, op: Op, weights: dict[str, WeightRef], first: dict[str, WeightRef], path: str) -> bool:
        """Whether `op` is a second call of the layer first seen at `path` with `first` weights.

        torch names the second call of `fc` `/fc_1/Gemm`, but a module may be named `ln_1` too, and torch's
        export reads identical tensors (LayerNorms' initial ones/zeros) from one initializer: the first call
        must be the module itself (`fc`, not `ln_1` before `ln_2`), and a module the source lists
        parameters for (`norm_1.weight`) is a module of its own.
        """
        again = self._path(op)
        if re.sub(r"_\d+$", "", again) != path or not _same_weights(weights, first):
            return False
        listed = self.module.attrs.get(TRAINABLE_ATTR) or ()
        return not any(name.startswith(again + ".") for name in listed)

    def add_parameter(self, op: Op, ref: WeightRef, hint: str | None, trainable: bool, note: str = "") -> str:
        name = self.member_names(hint or (ref.source or "weight"), "weight")
        dtype = MS_DTYPES[DType.from_numpy(ref.array.dtype)]
        grad = {} if trainable else {"requires_grad": False}
        code = Call("Parameter", [Call("ops.zeros", [tuple(ref.shape), Code(dtype)])], {"name": name, **grad}, note=note)
        self.members.append((name, code, ref.source or op.loc_name))
        self.checkpoint.append(CheckpointEntry(name, ref))
        return f"self.{name}"

    def add_tensor(self, op: Op, array: np.ndarray, hint: str, note: str = "") -> str:
        if array.dtype == object:
            raise EmitError("string tensors have no MindSpore equivalent")
        dtype = MS_DTYPES[DType.from_numpy(array.dtype)]
        if array.size <= INLINE_TENSOR_LIMIT:
            name = self.member_names(hint, "const")
            self.members.append((name, Call("ms.Tensor", [array_value(array), Code(dtype)], note=note), op.loc_name))
            return f"self.{name}"
        ref = WeightRef(array, None, tuple(array.shape), str(array.dtype))
        return self.add_parameter(op, ref, hint, trainable=False, note=note)

    def functional_members(self) -> set[str]:
        """The members standing for a function of an unscoped export (`self.relu`, see add_member)."""
        return {name for (source, *_), name in self.stateless.items() if source == ""}

    def arg_name(self, hint: str, fallback: str = "x") -> str:
        """A local name for an input of construct, without the model's namespace (`data_0`, not `gpu_0_data_0`)."""
        if not self.prefix and self.origin_prefix and hint.startswith(self.origin_prefix) and len(hint) > len(self.origin_prefix):
            hint = hint[len(self.origin_prefix):]
        return self.local_names(hint, fallback)

    def value_expr(self, v: Value) -> str:
        """Python expression for an IR value used in construct."""
        if v in self.vars:
            return self.vars[v]
        if v in self.const_members:
            return self.const_members[v]
        op = v.op
        if op is not None and op.name in ("ir.param", "ir.const"):
            array = np.asarray(self.weights.get(op.attrs["key"]) if is_param(v) else const_array(v, self.weights))
            hint = self._path(op) if op.loc else (v.name or "const")
            if not hint:  # a TF graph's constant named by tf2onnx (`const_fold_opt__110`)
                hint = self._use_name(v, array)
            # `blocks.0.scale` is `scale` inside the blocks.0 cell, and so inside blocks.1 (a constant the instances
            # share is located in the first: each instance names it alike, so one class serves them all)
            relative = _relative(hint, self.prefix) if self.prefix else None
            if relative:
                hint = relative
            elif op_type_name(hint) or relative == "":
                hint = self._use_name(v, array)  # `Where` (the exporter's node), or the cell itself: says nothing
            elif self.origin_prefix and hint.startswith(self.origin_prefix) and len(hint) > len(self.origin_prefix):
                hint = hint[len(self.origin_prefix):]
            elif not self.prefix and meaningless(hint) and is_param(v) and not meaningless(self._origin(v)):
                hint = layer_name(self._origin(v))  # `n456` -> the source weight it was folded from
            elif self.prefix and meaningless(hint):
                # `n9` differs between the instances of a class: name it the same way in each
                hint = "weight" if is_param(v) else "const"
            if is_param(v):
                key = op.attrs["key"]
                ref = WeightRef(array, self.weights.origin.get(key, key), tuple(array.shape), str(array.dtype))
                # a folded causal mask is not a weight, nor is a buffer of the source: they stay fixed in training
                trainable = not _is_causal_mask(array) and self._trains(ref.source)
                expr = self.add_parameter(op, ref, hint, trainable, "" if trainable else _folded_from(op))
            else:
                expr = self.add_tensor(op, array, hint, _folded_from(op))
            self.const_members[v] = expr
            return expr
        raise EmitError(f"value {v!r} is used before it is computed")

    def _trains(self, source: str | None) -> bool:
        """Whether the source weight trains: any weight, unless the source lists those that do (TRAINABLE_ATTR)."""
        return self.trainable is None or source in self.trainable

    def _origin(self, v: Value) -> str:
        key = v.op.attrs["key"]
        return self.weights.origin.get(key, key)

    def _use_name(self, v: Value, array: np.ndarray) -> str:
        """A name for constant `v` from what it is for: `causal_mask`, the `mask` of an attention, `<module>_<role>`, `const`."""
        if _is_causal_mask(array):
            return "causal_mask"
        user = self.user
        if user is None or not any(u is v for u in user.operands):
            return "const"
        index = next(i for i, u in enumerate(user.operands) if u is v)
        roles = getattr(DIALECT.get(user.name), "operands", ())
        role = roles[index].rstrip("?") if index < len(roles) else "const"
        if user.name == "mc.attention":
            return role
        module = self._source_module(user)
        return f"{module}_{role}" if module and not self._generic(module) else role

    # -- statements --------------------------------------------------------------------------------

    def emit_op(self, op: Op) -> None:
        outer, self.user = self.user, op  # emit_region emits nested ops while op's emitter runs
        try:
            self._emit_op(op)
        finally:
            self.user = outer

    def _emit_op(self, op: Op) -> None:
        if op.name == "mc.cell":
            self._sub_cell(op)
            return
        spec = find_emitter(op.name, self.opset)
        reason = None
        if spec is None:
            reason = f"no emitter for '{op.name}'" + (f" at opset {self.opset}" if op.dialect == "onnx" else "")
        else:
            snapshot = (len(self.members), len(self.checkpoint), self.member_names.mark(), len(self.const_members),
                        len(self.stateless))
            try:
                out = spec.fn(op, EmitContext(self, op))
            except EmitError as exc:
                reason = str(exc)
                # Undo members the emitter declared before giving up.
                del self.members[snapshot[0]:]
                del self.checkpoint[snapshot[1]:]
                self.member_names.rollback(snapshot[2])
                _truncate(self.const_members, snapshot[3])
                _truncate(self.stateless, snapshot[4])
            else:
                if isinstance(out, Inline):  # substituted at each use: no statement of its own
                    self.vars[op.results[0]] = out
                    return
                exprs = [out] if isinstance(out, str) else list(out)
                if len(exprs) != len(op.results) and len(exprs) != 1:  # one expression may yield a tuple
                    raise EmitError(f"emitter {spec.fn.__name__} returned {len(exprs)} expressions for {len(op.results)} results")
                first = len(self.statements)
                self._assign(op, exprs)
                for st in self.statements[first:]:
                    st.new_members = [m[0] for m in self.members[snapshot[0]:]]
                return
        self._placeholder(op, reason or "unknown")

    def _sub_cell(self, op: Op) -> None:
        """A nested mc.cell: a member (its code is settled once every instance of its class is known) and a call."""
        leaf = op.attrs["name"].rsplit(".", 1)[-1]
        name = self.member_names(leaf, "cell")
        self.members.append((name, SubCellRef(op), op.loc_name if op.loc else op.attrs["name"]))
        self.sub_cells.append((name, op))
        args = [self.value_expr(v) for v in op.operands if v is not None]
        # locals are lowercase: a member `Skip` of class `Skip` gives the local `skip`, never the class's name
        local = name.lower()
        targets = [self.local_names(self.output_names.get(r) or (local if i == 0 else f"{local}_{i}"), "x")
                   for i, r in enumerate(op.results)]
        for r, t in zip(op.results, targets, strict=True):
            self.vars[r] = t
        guard = name if op.attrs.get("optional") else None
        self.statements.append(Statement(targets, f"self.{name}({', '.join(args)})", "", guard=guard, fallback=args[0] if args else ""))

    def _assign(self, op: Op, exprs: list[str]) -> None:
        if len(exprs) == 1 and len(op.results) == 1:
            target = self._var_for(op, op.results[0])
            self.statements.append(Statement([target], exprs[0], op.loc_name))
            return
        if len(exprs) == 1:  # one expression yielding a tuple
            targets = [self._var_for(op, r) for r in op.results]
            self.statements.append(Statement(targets, exprs[0], op.loc_name))
            return
        for r, e in zip(op.results, exprs, strict=True):
            self.statements.append(Statement([self._var_for(op, r)], e, op.loc_name))

    def _var_for(self, op: Op, v: Value) -> str:
        path = self._path(op)
        if self._generic(path):
            path = ""  # `n61` says nothing; `concat` does
        if self.prefix and (path == self.prefix or not path.startswith(self.prefix + ".")):
            path = ""  # an op of the cell itself: named after what it does (`matmul`), not the cell
        base = (path.rsplit(".", 1)[-1] if path else op.op_type).lower()
        hint = self.output_names.get(v) or (base if v.index == 0 else f"{base}_{v.index}")
        name = self.local_names(hint, "x")
        self.vars[v] = name
        return name

    def _placeholder(self, op: Op, reason: str) -> None:
        in_shapes = [shape_text(v.type) if v is not None else "none" for v in op.operands]
        out_shapes = [shape_text(r.type) for r in op.results]
        member = self.member_names(f"unsupported_{op.op_type}", "unsupported")
        self.unsupported.append(UnsupportedOp(op.name, op.loc_name, reason, in_shapes, out_shapes, member=member))
        code = Call("UnsupportedOp", [op.name, op.loc_name, in_shapes, out_shapes, reason])
        self.members.append((member, code, op.loc_name))
        args = ", ".join(self.value_expr(v) for v in op.operands if v is not None)
        self.imports.add("placeholder")
        targets = [self._var_for(op, r) for r in op.results]
        self.statements.append(Statement(targets, f"self.{member}({args})", op.loc_name))

    # -- the whole class -------------------------------------------------------------------------------

    def render(self, class_name: str, inputs: list[str], outputs: list[str]) -> str:
        """Imports and classes (the module docstring is added by Generated.code): one statement per op."""
        init = [line for name, code, _ in self.members for line in member_lines(name, code)]
        construct = [f"{', '.join(st.targets)} = {st.expr}" + (f"  # {comment_text(st.comment)}" if says_more(st) else "")
                     for st in self.statements]
        construct.append(f"return {', '.join(outputs)}")
        return render_script(class_name, inputs, init, construct, [], self.support_classes, "placeholder" in self.imports)


_SCOPES: weakref.WeakKeyDictionary[Module, SourceScopes] = weakref.WeakKeyDictionary()
_NAMESPACES: weakref.WeakKeyDictionary[Module, str] = weakref.WeakKeyDictionary()


def namespace_prefix(module: Module) -> str:
    """The namespace all of the model's named weights are in, up to its `/` or `.` (`gpu_0/` of Caffe2's
    `gpu_0/conv1_w_0`, `gpu_0/res2_0_branch2a_w_0`, ...), or "".

    It says nothing about any one layer, so the top level leaves it out of its names as a cell leaves
    out its own path (`self.conv1`, `construct(self, data_0)`); the weight map still gives the source names.
    """
    cached = _NAMESPACES.get(module)
    if cached is None:
        names = {layer_name(module.weights.origin.get(op.attrs["key"], op.attrs["key"]))
                 for op in module.ops() if op.name == "ir.param"}
        names = {n for n in names if n and not meaningless(n)}  # a folded constant's node name (`r9`) is in none
        common = os.path.commonprefix(list(names)) if len(names) > 1 else ""
        cached = _NAMESPACES[module] = common[: max(common.rfind("/"), common.rfind(".")) + 1]
    return cached


def scopes_of(module: Module) -> SourceScopes:
    """How the module's source names map to module paths (computed once per module, for all its cells)."""
    scopes = _SCOPES.get(module)
    if scopes is None:
        scopes = _SCOPES[module] = SourceScopes.of(n for op in module.ops() if op.name not in NOT_SOURCE_OPS for n in op.loc)
    return scopes


NOT_SOURCE_OPS = ("ir.param", "ir.const", "ir.return", "ir.yield", "mc.cell")


def _truncate(table: dict, size: int) -> None:
    """Remove the entries added after `table` had `size` of them (dicts keep insertion order)."""
    while len(table) > size:
        table.popitem()
