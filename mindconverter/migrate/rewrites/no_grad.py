"""Remove `with torch.no_grad():` (and its relatives): MindSpore computes gradients only when asked."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import BodyRewrite, as_lines, is_any, position, with_leading

NO_GRAD = (
    "torch.no_grad",
    "torch.autograd.no_grad",
    "torch.inference_mode",
    "torch.autograd.grad_mode.no_grad",
    "torch.enable_grad",
    "torch.set_grad_enabled",
)
AUTOCAST = ("torch.autocast", "torch.amp.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast")


@register_rewrite("no-grad", order=20)
class NoGrad(BodyRewrite):
    """`with torch.no_grad(): BODY` -> BODY, dedented; `@torch.no_grad()` decorators removed.

    1. MindSpore differentiates only what `value_and_grad`/`TrainOneStepCell` ask for, so plain
       calls already run without gradient tracking; `torch.inference_mode`, `torch.enable_grad` and
       `torch.set_grad_enabled(...)` used as context managers go the same way.
    2. Other context managers of the same `with` stay (`with torch.no_grad(), open(p) as f:`).
    3. `torch.autocast(...)` blocks go the same way (the script runs in float32; MindSpore sets mixed
       precision per network with `ms.amp.auto_mixed_precision`).
    4. Comments survive: the `with` line's own comments lead the body's first statement, the block's
       trailing comments follow the body.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def _is_no_grad(self, node: cst.BaseExpression) -> bool:
        target = node.func if isinstance(node, cst.Call) else node
        return is_any(self, target, NO_GRAD + AUTOCAST)

    def _found(self, node: cst.CSTNode, api_node: cst.BaseExpression) -> None:
        line, col = position(self, node)
        target = api_node.func if isinstance(api_node, cst.Call) else api_node
        api = next(iter(sorted(n for n in NO_GRAD + AUTOCAST if is_any(self, target, (n,)))), "torch.no_grad")
        if api in AUTOCAST:
            why = "removed: runs in float32 (MindSpore sets mixed precision per network: ms.amp.auto_mixed_precision)"
        else:
            why = "removed: MindSpore computes gradients only when asked"
        self.ctx.report(line, col, api, True, why)

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        kept, moved = [], []
        for orig, dec in zip(original_node.decorators, updated_node.decorators, strict=True):
            if self._is_no_grad(orig.decorator):
                self._found(orig, orig.decorator)
                moved.extend(dec.leading_lines)
            else:
                kept.append(dec.with_changes(leading_lines=[*moved, *dec.leading_lines]) if moved else dec)
                moved = []
        if len(kept) == len(updated_node.decorators):
            return updated_node
        return updated_node.with_changes(
            decorators=kept, lines_after_decorators=[*moved, *updated_node.lines_after_decorators]
        )

    def rewrite_body(
        self, original: Sequence[cst.BaseStatement], body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        out: list[cst.BaseStatement] = []
        pending: list[cst.EmptyLine] = []  # comments that must lead the next statement
        for orig, node in zip(original, body, strict=True):
            if pending:
                node, pending = with_leading(node, pending), []
            if not isinstance(node, cst.With):
                out.append(node)
                continue
            drop = [self._is_no_grad(item.item) for item in orig.items]
            if not any(drop):
                out.append(node)
                continue
            for item, dropped in zip(orig.items, drop, strict=True):
                if dropped:
                    self._found(item.item, item.item)
            items = [item for item, dropped in zip(node.items, drop, strict=True) if not dropped]
            if items:
                items[-1] = items[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                out.append(node.with_changes(items=items))
                continue
            inner = as_lines(node.body)
            lead = list(node.leading_lines)
            header = node.body.header if isinstance(node.body, cst.IndentedBlock) else None
            if header is not None and header.comment is not None:
                lead.append(cst.EmptyLine(comment=header.comment))
            inner[0] = with_leading(inner[0], lead)
            out.extend(inner)
            if isinstance(node.body, cst.IndentedBlock):
                pending = list(node.body.footer)
        return out, pending
