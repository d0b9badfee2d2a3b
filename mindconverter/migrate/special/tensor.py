"""Tensor methods whose MindSpore form is not a call."""

from __future__ import annotations

from mindconverter.migrate.special import SpecialRewrite, Unconvertible, register_special


@register_special("tensor-size")
class TensorSize(SpecialRewrite):
    """x.size() -> x.shape; x.size(d) -> x.shape[d] (mindspore.Tensor.size is the element count)."""

    def convert(self, entry, args, target):
        return f"{args['self']}.shape" if args["dim"] is None else f"{args['self']}.shape[{args['dim']}]"


@register_special("fill-dtype")
class FillDtype(SpecialRewrite):
    """torch.full(size, v): torch infers the dtype from v (float32 / int64 / bool); MindSpore's ops.full
    infers int64 even for floats, so the inferred dtype is written when the call gives none."""

    def convert(self, entry, args, target):
        fn = "mint.full" if target == "mint" else "ops.full"
        dtype = args.get("dtype")
        if dtype is None:
            fill = (args["fill_value"] or "").strip()
            if fill in ("True", "False"):
                dtype = "ms.bool_"
            elif fill.lstrip("-").isdigit():
                dtype = "ms.int64"
            else:
                dtype = "ms.float32"
        return f"{fn}({args['size']}, {args['fill_value']}, dtype={dtype})"


@register_special("vector-norm")
class VectorNorm(SpecialRewrite):
    """torch.linalg.vector_norm: without dim the input is flattened (ops.norm would take a matrix norm)."""

    def convert(self, entry, args, target):
        x = args["x"] if args["dim"] is not None else f"{args['x']}.reshape(-1)"
        parts = [x, f"ord={args['ord'] or 2}"]
        if args["dim"] is not None:
            parts.append(f"dim={args['dim']}")
        if args["keepdim"] is not None:
            if args["dim"] is None:
                raise Unconvertible("keepdim without dim: reshape the result to the input's rank")
            parts.append(f"keepdim={args['keepdim']}")
        return f"ops.norm({', '.join(parts)})"
