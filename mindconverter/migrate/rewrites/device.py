"""Remove device placement (`.to(device)`, `.cuda()`, `.cpu()`); an explicit device becomes `ms.set_context`."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import (
    MS_IMPORT,
    BodyRewrite,
    assign_of_stmt,
    code_of,
    is_any,
    keep_parens,
    method_call,
    position,
    splice,
    stmt,
)

TORCH_DEVICE = ("torch.device",)
TARGETS = {"cuda": "GPU", "cpu": "CPU", "npu": "Ascend"}


def _literal_device(node: cst.BaseExpression) -> str | None:
    """'cuda' / 'cpu' / 'npu' for a string literal naming a device ('cuda:0' too), else None."""
    if isinstance(node, cst.SimpleString):
        kind = node.evaluated_value.split(":")[0].strip().lower()
        return kind if kind in TARGETS else None
    return None


@register_rewrite("device", order=30)
class Device(BodyRewrite):
    """`x.to(device)` / `x.cuda()` / `x.cpu()` -> `x`; `device = torch.device("cuda")` -> `ms.set_context(device_target="GPU")`.

    1. MindSpore places every tensor and Cell on the context's device, so moves are dropped. `.to(...)`
       counts as a move when its argument is a device: a `torch.device(...)` call, a 'cuda'/'cpu' string,
       a name bound to one of those, or a name/attribute called like `device`; `.to(device, dtype)` keeps
       the dtype conversion for the API table (`.to(dtype)`).
    2. A statement left doing nothing (`model.to(device)`, `x = x`) is removed; its comments stay.
    3. `device = torch.device(...)` goes when every use of the name was such a move: an explicit device
       ('cuda', 'cpu', 'npu') becomes `ms.set_context(device_target=...)`, a choice made at run time
       ('cuda' if available else 'cpu') is dropped (MindSpore runs on the installed backend).
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._device_names: dict[str, int] = {}  # name bound to a device -> uses not yet removed

    def visit_Module(self, node: cst.Module) -> None:
        rw = self

        class _Scan(cst.CSTVisitor):
            def visit_Assign(self, a: cst.Assign) -> None:
                if len(a.targets) == 1 and isinstance(a.targets[0].target, cst.Name) and rw._binds_device(a.value):
                    rw._device_names[a.targets[0].target.value] = 0

        node.visit(_Scan())

        class _Uses(cst.CSTVisitor):
            def visit_Attribute(self, a: cst.Attribute) -> bool:
                a.value.visit(self)  # `torch.device`: the attribute name is not a use
                return False

            def visit_Name(self, n: cst.Name) -> None:
                if n.value in rw._device_names:
                    rw._device_names[n.value] += 1

            def visit_AssignTarget(self, t: cst.AssignTarget) -> None:
                if isinstance(t.target, cst.Name) and t.target.value in rw._device_names:
                    rw._device_names[t.target.value] -= 1  # the binding itself is not a use

        node.visit(_Uses())

    def _binds_device(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.Call) and is_any(self, value.func, TORCH_DEVICE):
            return True
        if isinstance(value, cst.IfExp):
            return self._binds_device(value.body) and self._binds_device(value.orelse)
        return _literal_device(value) is not None

    def _is_device(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self._device_names or "device" in node.value.lower()
        if isinstance(node, cst.Attribute):
            return "device" in node.attr.value.lower()
        if isinstance(node, cst.Call):
            return is_any(self, node.func, TORCH_DEVICE)
        return _literal_device(node) is not None

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        call = method_call(updated_node, ("to", "cuda", "cpu"))
        if call is None or not isinstance(original_node.func, cst.Attribute):
            return updated_node
        method = call.func.attr.value
        if method == "to":
            moved = [
                i
                for i, a in enumerate(original_node.args)
                if (a.keyword is None or a.keyword.value == "device") and not a.star and self._is_device(a.value)
            ]
            if not moved:
                return updated_node
            for i in moved:
                if (
                    isinstance(original_node.args[i].value, cst.Name)
                    and original_node.args[i].value.value in self._device_names
                ):
                    self._device_names[original_node.args[i].value.value] -= 1
            rest = [
                a
                for i, a in enumerate(call.args)
                if i not in moved and (a.keyword is None or a.keyword.value != "non_blocking")
            ]
            if rest:
                rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                new: cst.BaseExpression = call.with_changes(args=rest)
            else:
                new = call.func.value
        elif method == "cuda" or (method == "cpu" and not call.args):
            for a in original_node.args:
                if isinstance(a.value, cst.Name) and a.value.value in self._device_names:
                    self._device_names[a.value.value] -= 1
            new = call.func.value
        else:
            return updated_node
        line, col = position(self, original_node)
        self.ctx.report(
            line, col, f"torch.Tensor.{method}", True, "removed: MindSpore places tensors on the context's device"
        )
        return keep_parens(updated_node, new)

    def rewrite_body(
        self, original: Sequence[cst.BaseStatement], body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        out = list(body)
        for i in reversed(range(len(out))):
            orig, node = original[i], out[i]
            if self._does_nothing(orig, node):
                out = splice(out, i, [])
                continue
            assign = assign_of_stmt(orig)
            if assign is None or len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
                continue
            name = assign.targets[0].target.value
            if self._device_names.get(name) != 0 or not self._binds_device(assign.value):
                continue
            kind = self._explicit(assign.value)
            line, col = position(self, assign.value)
            if kind is None:
                self.ctx.report(line, col, "torch.device", True, "removed: MindSpore runs on the installed backend")
                out = splice(out, i, [])
            else:
                self.ctx.imports_needed.add(MS_IMPORT)
                self.ctx.report(line, col, "torch.device", True, f"-> ms.set_context(device_target={TARGETS[kind]!r})")
                new = stmt(f'ms.set_context(device_target="{TARGETS[kind]}")\n')
                out = splice(out, i, [new])
        return out, []

    def _explicit(self, value: cst.BaseExpression) -> str | None:
        if isinstance(value, cst.Call) and value.args:
            return _literal_device(value.args[0].value)
        return _literal_device(value)

    @staticmethod
    def _does_nothing(orig: cst.BaseStatement, node: cst.BaseStatement) -> bool:
        """A statement the moves emptied: a bare name/attribute, or `a, b = a, b`."""
        if orig.deep_equals(node) or not isinstance(node, cst.SimpleStatementLine) or len(node.body) != 1:
            return False
        small = node.body[0]
        if isinstance(small, cst.Expr):
            return isinstance(small.value, (cst.Name, cst.Attribute))
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            return code_of(small.targets[0].target).replace("(", "").replace(")", "").replace(" ", "") == code_of(
                small.value
            ).replace("(", "").replace(")", "").replace(" ", "")
        return False
