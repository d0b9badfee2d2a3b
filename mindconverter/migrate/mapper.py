"""The API-table call mapper: every torch call the table knows becomes its MindSpore call.

Names are resolved through the file's import bindings (bindings._ImportCollector), so `import torch.nn as tnn`,
`from torch import nn as tnn` and `import torch.nn.functional as F` all find `torch.nn.*` entries.

Tensor methods (`x.view(...)`, `x.size(1)`) are mapped when the receiver is known to be a tensor:
a name bound to a torch function's result, a module's output, a forward/construct argument, an
argument annotated `Tensor`, or an expression built from those. When the receiver is unknown the
call is left as written: if the mapping would not change it (MindSpore's Tensor has the same
method) it counts as converted with the note "probably a Tensor method"; otherwise it is reported
as unconverted ("probably torch.Tensor.NAME") with the suggestion, never silently rewritten.

A torch call the table does not know, or cannot map (unsupported argument, `*args`), stays as
written with a trailing `# [UnConvert] ...` comment. References to torch names that remain are
recorded so the import fix-up keeps exactly the torch imports still needed.
"""

from __future__ import annotations

import re

import libcst as cst
from libcst.metadata import PositionProvider

from mindconverter.migrate.bindings import MapStats, Pending, _dotted, _ImportCollector, _root_name
from mindconverter.migrate.callargs import _arg_text, _fix_commas, _fold, _kwarg, _norm, _paren, _sig, _split, code
from mindconverter.migrate.names import MS_ALIASES, alias_of, is_mindspore_reference
from mindconverter.migrate.registry import MigrationContext
from mindconverter.migrate.special import Unconvertible, load_specials
from mindconverter.migrate.table import ApiEntry, ApiTable

_TORCH_ROOTS = ("torch", "torchvision")
#: attributes of a tensor that are tensors again
_TENSOR_ATTRS = {"T", "mT", "H", "data", "grad", "real", "imag"}


class ApiMapper(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, table: ApiTable, ctx: MigrationContext, to_source=lambda line, col: (line, col)) -> None:
        super().__init__()
        self.table = table
        self.ctx = ctx
        self.target = ctx.target
        self.to_source = to_source  # (line, col) of the rewritten module -> the source script's
        self.specials = load_specials()
        self.stats = MapStats()
        self._tensors: list[set[str]] = [set()]  # names known to be tensors, per function scope
        self._modules: list[set[str]] = [set()]  # names / self.attrs known to be torch modules
        self._module_classes: set[str] = set()
        self._comments: list[list[str]] = []  # per statement being visited: [UnConvert] comments
        self._inner: set[int] = set()  # id() of names/attributes that are part of a longer dotted name or a callee
        self.import_lines: dict[int, int] = {}  # index in module.body of a top-level import -> its source line
        self.imports: dict[str, set[str]] = {}  # binding -> qualified names it is imported as

    def visit_Module(self, node: cst.Module) -> None:
        collector = _ImportCollector()
        node.visit(collector)
        self.imports = collector.bindings
        for i, stmt in enumerate(node.body):
            if isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
                self.import_lines[i] = self._position(stmt)[0]

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._inner.add(id(node.value))
        self._inner.add(id(node.attr))

    def visit_Call(self, node: cst.Call) -> None:
        self._inner.add(id(node.func))


    # ---------------------------------------------------------------- names
    def qualified(self, node: cst.CSTNode) -> str | None:
        """The torch name a Name/Attribute refers to through the file's imports (None: not torch)."""
        dotted = _dotted(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        for origin in sorted(self.imports.get(head, ())):
            if origin.split(".", 1)[0] in _TORCH_ROOTS:
                return f"{origin}.{rest}" if rest else origin
        return None

    def _position(self, node: cst.CSTNode) -> tuple[int, int]:
        try:
            pos = self.get_metadata(PositionProvider, node).start
        except KeyError:
            return 0, 1
        line, col = self.to_source(pos.line, pos.column)
        return line, col + 1

    # ------------------------------------------------------------ tensor tracking
    def is_tensor(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self._tensors[-1] or node.value in self._tensors[0]
        if isinstance(node, cst.Attribute):
            dotted = _dotted(node)
            if dotted is not None and dotted in self._tensors[-1]:
                return True
            return node.attr.value in _TENSOR_ATTRS and self.is_tensor(node.value)
        if isinstance(node, cst.Call):
            return self._call_returns(node) in ("tensor", "tensors")
        if isinstance(node, cst.BinaryOperation):
            return self.is_tensor(node.left) or self.is_tensor(node.right)
        if isinstance(node, cst.UnaryOperation):
            return self.is_tensor(node.expression)
        if isinstance(node, cst.Subscript):
            return self.is_tensor(node.value)
        if isinstance(node, cst.IfExp):
            return self.is_tensor(node.body) and self.is_tensor(node.orelse)
        return False

    def is_module(self, node: cst.BaseExpression) -> bool:
        dotted = _dotted(node)
        return dotted is not None and (dotted in self._modules[-1] or dotted in self._modules[0])

    def _call_returns(self, call: cst.Call) -> str:
        name = self.qualified(call.func)
        if name is not None:
            entry = self.table.get(name)
            return entry.returns_kind if entry else ("tensor" if name.count(".") == 1 else "other")
        if isinstance(call.func, cst.Name) and call.func.value in self._module_classes:
            return "module"
        dotted = _dotted(call.func) or ""
        if dotted.startswith("nn.") and dotted.rsplit(".", 1)[1][:1].isupper() and is_mindspore_reference(dotted):
            return "module"  # a Cell a structural rewrite already wrote (nn.Flatten under `from mindspore import nn`)
        if self.is_module(call.func):
            return "tensor"
        if isinstance(call.func, cst.Attribute) and self.is_tensor(call.func.value):
            entry = self.table.method(call.func.attr.value)
            return entry.returns_kind if entry else "other"
        return "other"

    def _bind_targets(self, target: cst.BaseExpression, kind: str) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            if kind == "tensors":
                for el in target.elements:
                    self._bind_targets(el.value, "tensor")
            return
        dotted = _dotted(target)
        if dotted is None:
            return
        for scope, wanted in ((self._tensors[-1], ("tensor", "tensors")), (self._modules[-1], ("module",))):
            if kind in wanted:
                scope.add(dotted)
            else:
                scope.discard(dotted)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        for base in node.bases:
            last = (_dotted(base.value) or "").rsplit(".", 1)[-1]
            if last in ("Module", "Cell", "Sequential", "SequentialCell") or (_dotted(base.value) or "") in self._module_classes:
                self._module_classes.add(node.name.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        tensors: set[str] = set()
        params = list(node.params.params)
        is_forward = node.name.value in ("forward", "construct")
        for i, p in enumerate(params):
            annotated = p.annotation is not None and (
                (_dotted(p.annotation.annotation) or "").rsplit(".", 1)[-1] == "Tensor"
            )
            if annotated or (is_forward and i > 0):
                tensors.add(p.name.value)
        # self.<attr> modules assigned in __init__ stay known in the class's other methods
        self._tensors.append(tensors)
        self._modules.append({m for m in self._modules[-1] if m.startswith("self.")})

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self._tensors.pop()
        selfs = {m for m in self._modules.pop() if m.startswith("self.")}
        self._modules[-1].update(selfs)  # visible to the class's later methods
        return updated

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self._modules[-1] = {m for m in self._modules[-1] if not m.startswith("self.")}
        return updated

    def visit_Assign(self, node: cst.Assign) -> None:
        kind = self._kind(node.value)
        for t in node.targets:
            self._bind_targets(t.target, kind)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind_targets(node.target, self._kind(node.value))

    def _kind(self, value: cst.BaseExpression) -> str:
        if isinstance(value, cst.Call):
            return self._call_returns(value)
        return "tensor" if self.is_tensor(value) else "other"

    # ----------------------------------------------------------- statements
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._comments.append([])

    def leave_SimpleStatementLine(self, original, updated):
        notes = self._comments.pop()
        return self._with_comments(updated, notes, lambda u, tw: u.with_changes(trailing_whitespace=tw), updated.trailing_whitespace)

    def _visit_compound(self, node) -> None:
        self._comments.append([])

    def _leave_compound(self, original, updated):
        notes = self._comments.pop()
        body = updated.body
        if not isinstance(body, cst.IndentedBlock):
            return updated
        return self._with_comments(updated, notes, lambda u, tw: u.with_changes(body=body.with_changes(header=tw)), body.header)

    visit_For = visit_While = visit_If = visit_With = _visit_compound
    leave_For = leave_While = leave_If = leave_With = _leave_compound

    def _with_comments(self, updated, notes, apply, tw: cst.TrailingWhitespace):
        if not notes:
            return updated
        text = "  ".join(dict.fromkeys(notes))
        if tw.comment is not None:
            comment = cst.Comment(f"{tw.comment.value}  {text}")
        else:
            comment = cst.Comment(text)
        return apply(updated, tw.with_changes(whitespace=cst.SimpleWhitespace("  "), comment=comment))

    def visit_Import(self, node) -> bool:
        return False

    def visit_ImportFrom(self, node) -> bool:
        return False

    # ----------------------------------------------------------------- calls
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        name = self.qualified(original.func)
        receiver_known = True
        if name is not None:
            entry = self.table.get(name)
            if entry is None:
                if is_mindspore_reference(code(original.func)):
                    self.stats.aliases.add(code(original.func).split(".", 1)[0])
                    return updated
                self._unconverted(original, Pending(name, False, message="not in the API table"))
                return self._residual(original.func, updated)
            if entry.is_attribute:  # e.g. torch.Tensor(...) as a constructor: the reference maps
                return updated.with_changes(func=self._attribute(original.func, entry))
            return self._map(original, updated, entry, None)
        if isinstance(original.func, cst.Attribute):
            method = self.table.method(original.func.attr.value)
            receiver = original.func.value
            if (method is None or self.is_module(original.func) or self.is_module(receiver) or self.qualified(receiver)
                    or (isinstance(receiver, cst.Name) and receiver.value == "self")):
                return updated  # a module called, a module's / the class's own method, or a torch namespace
            receiver_known = self.is_tensor(original.func.value)
            return self._map(original, updated, method, updated.func.value, receiver_known)
        return updated

    def _map(self, original: cst.Call, updated: cst.Call, entry: ApiEntry, receiver, receiver_known=True):
        view = entry.for_target(self.target)
        try:
            new = self._convert(view, updated, receiver)
        except Unconvertible as why:
            if not receiver_known:
                return updated  # most likely not a tensor at all (a list, a str, a user object)
            self._unconverted(original, Pending(entry.name, False, message=str(why), suggestion=self._suggest(view)))
            return self._residual(original.func, updated) if receiver is None else updated
        new_code = code(new)
        if not receiver_known:
            if new_code == code(updated):
                self._report(original, Pending(entry.name, True, view.ms, "probably a Tensor method; mindspore.Tensor has the same method"))
                return updated
            self._unconverted(original, Pending(
                entry.name, False, message=f"probably a Tensor method ('{code(original.func)}'): the receiver is not known to be a tensor",
                suggestion=self._suggest(view)))
            return updated
        self._note_aliases(new_code)
        self._report(original, Pending(entry.name, True, view.ms or view.template, view.note))
        return new

    def _note_aliases(self, text: str) -> None:
        for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\.", text):
            if m.group(1) in MS_ALIASES:
                self.stats.aliases.add(m.group(1))

    def _suggest(self, entry: ApiEntry) -> str:
        if not entry.has_target:
            entry = self.table.get(entry.name).for_target("mint") if self.table.get(entry.name) else entry
        target = entry.ms or entry.template
        if not target:
            return ""
        if target.startswith("."):
            return f"mindspore.Tensor{target}"
        alias = alias_of(target)
        return f"{MS_ALIASES[alias][0]}{target[len(alias):]}" if alias else target

    # --------------------------------------------------------- argument mapping
    def _bind(self, entry: ApiEntry, call: cst.Call, receiver) -> dict[str, cst.Arg | list[cst.Arg]]:
        params = list(entry.params)
        bound: dict[str, cst.Arg | list[cst.Arg]] = {}
        if receiver is not None:
            if not params:
                raise Unconvertible(f"table entry {entry.name} has no parameters")
            bound[params[0].name] = cst.Arg(receiver)
            params = params[1:]
        positional = [p for p in params if p.kind == "normal"]
        varargs = next((p for p in params if p.kind == "varargs"), None)
        i = 0
        for arg in call.args:
            if arg.star == "**":
                raise Unconvertible("'**kwargs' cannot be matched to parameters")
            if arg.keyword is None:
                if arg.star == "*" and varargs is None:
                    raise Unconvertible("'*args' cannot be matched to parameters")
                if i < len(positional) and arg.star != "*":
                    bound[positional[i].name] = arg
                    i += 1
                elif varargs is not None:
                    bound.setdefault(varargs.name, []).append(arg)  # type: ignore[union-attr]
                    i = len(positional)
                else:
                    raise Unconvertible(f"too many positional arguments for {entry.name}({_sig(entry)})")
            else:
                key = arg.keyword.value
                if entry.param(key) is None or entry.param(key).kind == "varargs":
                    raise Unconvertible(f"unknown keyword '{key}' for {entry.name}({_sig(entry)})")
                if key in bound:
                    raise Unconvertible(f"'{key}' given twice")
                bound[key] = arg
        missing = [p.name for p in params if p.required and p.name not in bound]
        if missing:
            raise Unconvertible(f"missing argument(s) {', '.join(missing)}")
        return bound

    def _convert(self, entry: ApiEntry, call: cst.Call, receiver) -> cst.BaseExpression:
        if not entry.has_target:  # mapped for --target mint only
            raise Unconvertible(entry.note or f"no mapping for --target {self.target}")
        bound = self._bind(entry, call, receiver)
        for pname, reason in entry.unsupported.items():
            arg = bound.get(pname)
            if arg is not None and not isinstance(arg, list):
                default = entry.param(pname).default
                if default is None or _norm(code(arg.value)) != _norm(default):
                    raise Unconvertible(f"argument '{pname}={code(arg.value)}' is not supported: {reason}")
        if entry.special:
            special = self.specials.get(entry.special)
            if special is None:
                raise Unconvertible(f"special rewrite '{entry.special}' is not registered")
            texts = {p.name: _arg_text(bound.get(p.name)) for p in entry.params}
            return cst.parse_expression(special.convert(entry, texts, self.target))
        if entry.template:
            values = {}
            for p in entry.params:
                arg = bound.get(p.name)
                values[p.name] = _arg_text(arg) if arg is not None else (p.default if p.default is not None else "None")
                if p.name in entry.convert and arg is not None:
                    values[p.name] = entry.convert[p.name].format(_paren(values[p.name]))
            return cst.parse_expression(entry.template.format(**values))
        return self._build_call(entry, call, bound, receiver)

    def _build_call(self, entry: ApiEntry, call: cst.Call, bound, receiver) -> cst.Call:
        is_method_target = entry.ms.startswith(".")
        params = list(entry.params)
        if receiver is not None:
            params = params[1:]
        required = [p for p in params if p.required and p.kind == "normal"]
        n_pos = len(required) if entry.positional is None else entry.positional
        varargs = next((p for p in params if p.kind == "varargs"), None)
        out: list[cst.Arg] = []
        if receiver is not None and not is_method_target:
            out.append(cst.Arg(receiver))
        # the leading (required) parameters are written positionally, in torch order, whatever the
        # source did: MindSpore's names for them vary (input, x, input_x) but their order does not
        lead = []
        for p in [p for p in params if p.kind == "normal"][:n_pos]:
            if p.name not in bound or p.name in entry.drop or p.name in entry.unsupported:
                break
            lead.append(p.name)
        for pname in lead:
            arg = bound[pname]
            out.append(arg.with_changes(value=self._value(entry, pname, arg.value), keyword=None,
                                        equal=cst.MaybeSentinel.DEFAULT))
        if varargs is not None and varargs.name in bound:
            out.extend(self._varargs(bound[varargs.name], is_method_target or entry.spread))
        by_id = {id(a): name for name, a in bound.items() if not isinstance(a, list)}
        for arg in call.args:
            pname = by_id.get(id(arg))
            if pname is None or pname in lead or pname in entry.drop or pname in entry.unsupported:
                continue
            if pname in entry.split:
                out += _split(entry.split[pname], arg.value)
                continue
            out.append(arg.with_changes(
                value=self._value(entry, pname, arg.value), keyword=cst.Name(entry.rename.get(pname, pname)),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))))
        for pname, source in entry.default_from.items():
            arg = bound.get(pname)
            if (arg is None or code(arg.value).strip() == "None") and isinstance(bound.get(source), cst.Arg):
                out = [a for a in out if a.keyword is None or a.keyword.value != entry.rename.get(pname, pname)]
                out.append(_kwarg(entry.rename.get(pname, pname), code(bound[source].value)))
        for pname in entry.explicit:
            if pname not in bound and pname in entry.split:
                out += _split(entry.split[pname], cst.parse_expression(entry.param(pname).default))
            elif pname not in bound:
                p = entry.param(pname)
                value = p.default if pname not in entry.convert else _fold(entry.convert[pname].format(_paren(p.default)))
                out.append(_kwarg(entry.rename.get(pname, pname), value))
        for key, value in entry.add.items():
            out.append(_kwarg(key, value))
        out = _fix_commas(out, call)
        if is_method_target:
            func = cst.Attribute(value=receiver if receiver is not None else call.func.value, attr=cst.Name(entry.ms[1:]))
        else:
            func = cst.parse_expression(entry.ms)
        return call.with_changes(func=func, args=out)

    def _value(self, entry: ApiEntry, pname: str, value: cst.BaseExpression) -> cst.BaseExpression:
        if pname in entry.convert:
            return cst.parse_expression(_fold(entry.convert[pname].format(_paren(code(value)))))
        return value

    def _varargs(self, args: list[cst.Arg], keep_spread: bool) -> list[cst.Arg]:
        if keep_spread or (len(args) == 1 and args[0].star == ""):
            return [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in args]
        if len(args) == 1 and args[0].star == "*":
            return [cst.Arg(args[0].value)]
        elements = [cst.Element(a.value) for a in args]
        return [cst.Arg(cst.Tuple(elements))]

    # ------------------------------------------------------------- references
    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        return self._reference(original, updated)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return self._reference(original, updated)

    def _reference(self, original, updated):
        if id(original) in self._inner:
            return updated  # part of a longer dotted name, or a callee (leave_Call decides)
        name = self.qualified(original)
        if name is None:
            dotted = _dotted(original)
            if dotted and dotted.split(".", 1)[0] in MS_ALIASES and is_mindspore_reference(dotted):
                self.stats.aliases.add(dotted.split(".", 1)[0])
            return updated
        entry = self.table.get(name)
        if entry is not None and entry.is_attribute:
            new = self._attribute(original, entry)
            self._report(original, Pending(name, True, entry.for_target(self.target).ms))
            return new
        if is_mindspore_reference(code(original)):
            self.stats.aliases.add(code(original).split(".", 1)[0])
            return updated
        if entry is not None:  # a callable used as a value (e.g. passed as an argument): not mapped
            self._unconverted(original, Pending(name, False, message="used as a value, not called",
                                                suggestion=self._suggest(entry.for_target(self.target))))
        return self._residual(original, updated)

    def _attribute(self, original, entry: ApiEntry) -> cst.BaseExpression:
        target = entry.for_target(self.target).ms
        self._note_aliases(target + ".")
        return cst.parse_expression(target)

    def _residual(self, original_ref: cst.BaseExpression, updated):
        """A torch reference that stays: keep its import, and spell it in full where our aliases clash."""
        root = _root_name(original_ref)
        if root is None:
            return updated
        name = self.qualified(original_ref)
        if root in MS_ALIASES and name is not None:
            # `nn` (bound to torch.nn) will be MindSpore's nn: write the torch name in full
            self.stats.need_torch_import |= name.startswith("torch")
            self.stats.need_torchvision_import |= name.startswith("torchvision")
            full = cst.parse_expression(name)
            if isinstance(updated, cst.Call):
                return updated.with_changes(func=full)
            return full
        self.stats.residual_bindings.add(root)
        return updated

    # ----------------------------------------------------------------- report
    def _report(self, node, pending: Pending) -> None:
        line, col = self._position(node)
        self.ctx.report(line, col, pending.api, pending.converted, pending.message or pending.target, pending.suggestion)

    def _unconverted(self, node, pending: Pending) -> None:
        self._report(node, pending)
        text = f"# [UnConvert] '{pending.api}' didn't convert."
        if pending.suggestion:
            text += f" Maybe could convert to {pending.suggestion}."
        if self._comments:
            self._comments[-1].append(text)
