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
    is_any,
    keep_parens,
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
    2. MindSpore appends `.ckpt` to a checkpoint name lacking it, so in a script that saves or loads
       checkpoints every string (and f-string part) ending in `.pth`/`.pt`/`.pkl`/`.bin`/`.tar` ends in
       `.ckpt` instead: paths reach `torch.save` through constants, defaults and arguments, and
       the saving and the loading script must agree.
    3. `torch.save` of anything but one `state_dict()` (a dict bundling optimizer state, epoch ...) stays
       with `# [UnConvert]`: MindSpore saves such extras with `append_dict=`.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._checkpoints = False  # does the script save or load torch checkpoints?
        self._unconverted: set[int] = set()  # id() of original torch.save calls left as written

    def visit_Module(self, node: cst.Module) -> None:
        rw = self

        class _Uses(cst.CSTVisitor):
            def visit_Call(self, c: cst.Call) -> None:
                rw._checkpoints |= is_any(rw, c.func, TORCH_SAVE + TORCH_LOAD)

        node.visit(_Uses())

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString) -> cst.SimpleString:
        text = updated_node.raw_value
        if self._checkpoints and TORCH_SUFFIX.search(text):
            quote = updated_node.quote
            return updated_node.with_changes(
                value=f"{updated_node.prefix}{quote}{TORCH_SUFFIX.sub('.ckpt', text)}{quote}"
            )
        return updated_node

    def leave_FormattedStringText(
        self, original_node: cst.FormattedStringText, updated_node: cst.FormattedStringText
    ) -> cst.FormattedStringText:
        if self._checkpoints and TORCH_SUFFIX.search(updated_node.value):
            return updated_node.with_changes(value=TORCH_SUFFIX.sub(".ckpt", updated_node.value))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return keep_parens(updated_node, self._call(original_node, updated_node))

    def _call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
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
                return original_node  # as written, its path too
            self.ctx.imports_needed.add(MS_IMPORT)
            self.ctx.report(line, col, "torch.save", True, "-> ms.save_checkpoint")
            return cst.Call(
                func=cst.parse_expression("ms.save_checkpoint"),
                args=[cst.Arg(state.func.value, comma=obj.comma), cst.Arg(path.value)],
            )
        if is_any(self, original_node.func, TORCH_LOAD):
            path = arg(updated_node, 0, "f")
            if path is None:
                return updated_node
            self.ctx.imports_needed.add(MS_IMPORT)
            self.ctx.report(line, col, "torch.load", True, "-> ms.load_checkpoint (a name -> Parameter dict)")
            new = cst.Call(func=cst.parse_expression("ms.load_checkpoint"), args=[cst.Arg(path.value)])
            return new
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
