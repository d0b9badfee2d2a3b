"""Tensor methods whose MindSpore form is not a call."""

from __future__ import annotations

from mindconverter.migrate.special import SpecialRewrite, register_special


@register_special("tensor-size")
class TensorSize(SpecialRewrite):
    """x.size() -> x.shape; x.size(d) -> x.shape[d] (mindspore.Tensor.size is the element count)."""

    def convert(self, entry, args, target):
        return f"{args['self']}.shape" if args["dim"] is None else f"{args['self']}.shape[{args['dim']}]"
