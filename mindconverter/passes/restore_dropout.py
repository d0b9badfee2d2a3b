"""restore-dropout: Identity nodes left where the source had a dropout layer become onnx.Dropout again (nn.Dropout)."""

from __future__ import annotations

import re

import attrs
import numpy as np

from mindconverter.ir.core import Builder, Module, replace_uses
from mindconverter.passes.manager import PassContext, register_pass

#: Keras/TF scopes of dropout layers (`dropout`, `dropout_3`, `attention_dropout`, `hidden_dropout`), any case.
_DROPOUT_SCOPE = re.compile(r"(.*[_.])?dropout(_\d+)?", re.IGNORECASE)


def _scope(loc_name: str) -> str:
    """The scope of a node name: `model/dropout_1/Identity` -> `model/dropout_1`, `/layers.0/drop/Identity` -> `/layers.0/drop`."""
    return loc_name.rsplit("/", 1)[0] if "/" in loc_name else ""


@attrs.define
class DropoutOptions:
    """Options of restore-dropout."""

    dropout_rate: float = attrs.field(default=0.5, converter=float, metadata={"help": "p of a dropout scope not in dropout-rates"})
    dropout_rates: dict[str, float] = attrs.field(factory=dict, converter=lambda v: dict(v or {}),
                                                  metadata={"help": "scope -> p (the torch API fills it from nn.Dropout)"})


@register_pass("restore-dropout", options=DropoutOptions)
def restore_dropout(module: Module, ctx: PassContext) -> bool:
    """Replace an onnx.Identity in a dropout scope by onnx.Dropout(x, ratio, training_mode=False).

    1. TF/Keras inference graphs keep a dropout layer only as `<scope>/Identity`; a scope whose last
       part is `dropout`, `dropout_N` or ends in `_dropout` counts. Its rate is not in the graph: it
       comes from the option `dropout-rates` (scope -> p), else `dropout-rate` (default 0.5).
    2. Scopes listed in `dropout-rates` (e.g. by the torch API, from the module's nn.Dropout layers)
       count whatever their name.
    3. Must run before `cleanup`, which removes Identity ops. The Dropout is an identity in
       inference, so parity is unaffected; in training it drops like the source.
    """
    options = ctx.options_of(DropoutOptions)
    rates, default = options.dropout_rates, options.dropout_rate
    changed = False
    for func in module.funcs:
        for op in list(func.walk()):
            if op.name != "onnx.Identity" or not op.loc:
                continue
            scope = _scope(op.loc_name)
            key = scope.strip("/")
            last = key.rsplit("/", 1)[-1]
            if key in rates or scope in rates:
                p = float(rates.get(key, rates.get(scope)))
            elif last and _DROPOUT_SCOPE.fullmatch(last):
                p = default
            else:
                continue
            x = op.operands[0]
            b = Builder.before(op)
            ratio = b.const(np.array(p, np.float32), module.weights)
            training = b.const(np.array(False), module.weights)
            drop = b.op1("onnx.Dropout", [x, ratio, training], op.result.type, op.loc)
            drop.name = op.result.name
            replace_uses(func, {op.result: drop})
            op.parent.ops.remove(op)
            op.parent = None
            ctx.log.debug("restore-dropout: %s -> Dropout(p=%s)", op.loc_name, p)
            changed = True
    return changed
