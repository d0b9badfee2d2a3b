"""Rewrite torch checkpoints (`torch.save/torch.load` of a `state_dict`) into MindSpore checkpoints."""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import (
    MS_IMPORT,
    BodyRewrite,
    arg,
    call_of_stmt,
    code_of,
    is_any,
    method_call,
    position,
    unconvert_comment,
    with_marker,
)

TORCH_SAVE = ("torch.save",)
TORCH_LOAD = ("torch.load",)
TORCH_SUFFIX = re.compile(r"\.(pth|pt|pkl|bin|tar)$")


@register_rewrite("checkpoint", order=35)
class Checkpoint(BodyRewrite):
    """`torch.save(net.state_dict(), p)` -> `ms.save_checkpoint(net, p)`;
    `net.load_state_dict(torch.load(p))` -> `ms.load_param_into_net(net, ms.load_checkpoint(p))`.

    1. `torch.load(p)` alone -> `ms.load_checkpoint(p)` (a name -> Parameter dict, as a state_dict is a
       name -> tensor dict); `map_location`/`weights_only` are dropped. `net.load_state_dict(sd)` ->
       `ms.load_param_into_net(net, sd)`.
    2. MindSpore appends `.ckpt` to a checkpoint name lacking it, so a `.pth`/`.pt` suffix in the path
       literal (or f-string, `os.path.join` last part, or the module constant the path names) becomes
       `.ckpt`, keeping save and load in agreement.
    3. `torch.save` of anything but one `state_dict()` (a dict bundling optimizer state, epoch ...) stays
       with `# [UnConvert]`: MindSpore saves such extras with `append_dict=`.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._path_names: set[str] = set()  # module constants used as checkpoint paths
        self._unconverted: set[int] = set()  # id() of original torch.save calls left as written

    def visit_Module(self, node: cst.Module) -> None:
        rw = self

        class _Paths(cst.CSTVisitor):
            def visit_Call(self, c: cst.Call) -> None:
                if is_any(rw, c.func, TORCH_SAVE + TORCH_LOAD):
                    p = arg(c, 1 if is_any(rw, c.func, TORCH_SAVE) else 0, "f")
                    if p is not None and isinstance(p.value, cst.Name):
                        rw._path_names.add(p.value.value)

        node.visit(_Paths())

    def _ckpt_path(self, node: cst.BaseExpression) -> cst.BaseExpression:
        """The path with a torch suffix turned into `.ckpt` where it is written literally."""
        if isinstance(node, cst.SimpleString):
            quote = node.quote
            text = node.raw_value
            if TORCH_SUFFIX.search(text):
                return node.with_changes(value=f"{node.prefix}{quote}{TORCH_SUFFIX.sub('.ckpt', text)}{quote}")
        elif (
            isinstance(node, cst.FormattedString) and node.parts and isinstance(node.parts[-1], cst.FormattedStringText)
        ):
            last = node.parts[-1]
            if TORCH_SUFFIX.search(last.value):
                return node.with_changes(
                    parts=[*node.parts[:-1], last.with_changes(value=TORCH_SUFFIX.sub(".ckpt", last.value))]
                )
        elif isinstance(node, cst.Call) and node.args and code_of(node.func).endswith("path.join"):
            return node.with_changes(
                args=[*node.args[:-1], node.args[-1].with_changes(value=self._ckpt_path(node.args[-1].value))]
            )
        return node

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if len(updated_node.targets) == 1 and isinstance(updated_node.targets[0].target, cst.Name):
            if updated_node.targets[0].target.value in self._path_names:
                return updated_node.with_changes(value=self._ckpt_path(updated_node.value))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        line, col = position(self, original_node)
        if is_any(self, original_node.func, TORCH_SAVE):
            obj, path = arg(updated_node, 0, "obj"), arg(updated_node, 1, "f")
            state = method_call(obj.value, "state_dict") if obj is not None else None
            if state is None or path is None or state.args:
                self._unconverted.add(id(original_node))
                self.ctx.report(
                    line,
                    col,
                    "torch.save",
                    False,
                    "saves more than one state_dict",
                    "ms.save_checkpoint(net, path, append_dict={...})",
                )
                return updated_node
            self.ctx.imports_needed.add(MS_IMPORT)
            self.ctx.report(line, col, "torch.save", True, "-> ms.save_checkpoint")
            return cst.Call(
                func=cst.parse_expression("ms.save_checkpoint"),
                args=[cst.Arg(state.func.value, comma=obj.comma), cst.Arg(self._ckpt_path(path.value))],
            )
        if is_any(self, original_node.func, TORCH_LOAD):
            path = arg(updated_node, 0, "f")
            if path is None:
                return updated_node
            self.ctx.imports_needed.add(MS_IMPORT)
            self.ctx.report(line, col, "torch.load", True, "-> ms.load_checkpoint (a name -> Parameter dict)")
            return cst.Call(
                func=cst.parse_expression("ms.load_checkpoint"), args=[cst.Arg(self._ckpt_path(path.value))]
            )
        load = method_call(updated_node, "load_state_dict")
        if load is not None and load.args:
            self.ctx.imports_needed.add(MS_IMPORT)
            self.ctx.report(line, col, "torch.nn.Module.load_state_dict", True, "-> ms.load_param_into_net")
            state = load.args[0].with_changes(
                keyword=None, equal=cst.MaybeSentinel.DEFAULT, comma=cst.MaybeSentinel.DEFAULT
            )
            return cst.Call(
                func=cst.parse_expression("ms.load_param_into_net"),
                args=[cst.Arg(load.func.value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), state],
            )
        return updated_node

    def rewrite_body(
        self, original: Sequence[cst.BaseStatement], body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        out = []
        for orig, node in zip(original, body, strict=True):
            call = call_of_stmt(orig)
            if call is not None and id(call) in self._unconverted:
                node = with_marker(
                    node,
                    unconvert_comment(
                        "torch.save",
                        "saves more than one state_dict",
                        "ms.save_checkpoint(net, path, append_dict={...})",
                    ),
                )
            out.append(node)
        return out, []
