"""Rewrite the `nn.Module` methods whose MindSpore `nn.Cell` counterpart has another name."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import PositionProvider

from mindconverter.migrate.registry import register_rewrite
from mindconverter.migrate.rewrites._common import SourceRewrite, code_of, method_call, position

RENAMED = {  # torch nn.Module method -> nn.Cell method, same arguments
    "parameters": "trainable_params",
    "named_parameters": "parameters_and_names",
    "state_dict": "parameters_dict",
}


@register_rewrite("module-methods", order=40)
class ModuleMethods(SourceRewrite):
    """`m.train()` -> `m.set_train(True)`, `m.train(mode)` -> `m.set_train(mode)`, `m.eval()` -> `m.set_train(False)`;
    `m.parameters()` -> `m.trainable_params()`, `m.named_parameters()` -> `m.parameters_and_names()`,
    `m.state_dict()` -> `m.parameters_dict()`.

    1. Only argument-free calls (and `train` with one mode argument) change: `x.eval(...)` with arguments or
       a bare `eval(...)` is not the nn.Module method.
    2. Runs after the checkpoint rewrite, which turns `torch.save(m.state_dict(), p)` into `ms.save_checkpoint(m, p)`.
    """

    METADATA_DEPENDENCIES = (PositionProvider,)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        call = method_call(updated_node, ("train", "eval", *RENAMED))
        if call is None:
            return updated_node
        method = call.func.attr.value
        nargs = len(call.args)
        if method == "train" and nargs <= 1 and not any(a.keyword and a.keyword.value != "mode" for a in call.args):
            mode = (
                call.args[0].with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)
                if nargs
                else cst.Arg(cst.Name("True"))
            )
            new = call.with_changes(
                func=call.func.with_changes(attr=cst.Name("set_train")),
                args=[mode.with_changes(comma=cst.MaybeSentinel.DEFAULT)],
            )
        elif method == "eval" and nargs == 0:
            new = call.with_changes(
                func=call.func.with_changes(attr=cst.Name("set_train")), args=[cst.Arg(cst.Name("False"))]
            )
        elif method in RENAMED and nargs == 0:
            new = call.with_changes(func=call.func.with_changes(attr=cst.Name(RENAMED[method])))
        else:
            return updated_node
        line, col = position(self, original_node)
        self.ctx.report(line, col, f"torch.nn.Module.{method}", True, f"-> {code_of(new.func)}")
        return new
