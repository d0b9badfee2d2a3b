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


@register_special("layer-norm")
class LayerNorm(SpecialRewrite):
    """torch.nn.LayerNorm(normalized_shape, eps): MindSpore takes a tuple and calls eps `epsilon` (default
    1e-7); several normalised axes need begin_norm_axis = rank - len (CPU rejects negative values), so
    only a one-axis normalized_shape converts."""

    def convert(self, entry, args, target):
        shape = args["normalized_shape"]
        eps = args["eps"] or "1e-05"
        try:
            value = __import__("ast").literal_eval(shape)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, int):
            return f"nn.LayerNorm(({shape},), epsilon={eps})"
        if isinstance(value, (tuple, list)) and len(value) == 1:
            return f"nn.LayerNorm({shape}, epsilon={eps})"
        if isinstance(value, (tuple, list)):
            raise Unconvertible(f"normalized_shape {shape} spans {len(value)} axes: MindSpore needs begin_norm_axis = "
                                f"begin_params_axis = rank - {len(value)} (non-negative), which depends on the input's rank")
        # a name: one normalised axis unless it is a sequence at run time
        raise Unconvertible(f"normalized_shape '{shape}' is not a literal: write nn.LayerNorm(tuple, begin_norm_axis=-len, "
                            "begin_params_axis=-len, epsilon=eps)")


@register_special("conv")
class Conv(SpecialRewrite):
    """torch.nn.ConvNd: as the table says (pad_mode='pad', has_bias written), except padding='same'/'valid',
    which becomes pad_mode."""

    def convert(self, entry, args, target):
        names = {"in_channels": None, "out_channels": None, "kernel_size": None}
        parts = [args[n] for n in names]
        pad = args.get("padding")
        pad_mode = "'pad'"
        if pad is not None and pad.strip("'\"") in ("same", "valid"):
            pad_mode, pad = repr(pad.strip("'\"")), None
        for torch_name, ms_name in (("stride", "stride"), ("padding", "padding"), ("dilation", "dilation"), ("groups", "group")):
            value = pad if torch_name == "padding" else args.get(torch_name)
            if value is not None:
                parts.append(f"{ms_name}={value}")
        parts.append(f"has_bias={args.get('bias') or 'True'}")
        parts.append(f"pad_mode={pad_mode}")
        return f"{entry.ms}({', '.join(parts)})"


def _call(fn: str, positional: list[str], keywords: dict[str, str | None]) -> str:
    parts = positional + [f"{k}={v}" for k, v in keywords.items() if v is not None]
    return f"{fn}({', '.join(parts)})"


@register_special("bce-logits")
class BCEWithLogits(SpecialRewrite):
    """F.binary_cross_entropy_with_logits: MindSpore's CPU kernel needs weight and pos_weight tensors."""

    def convert(self, entry, args, target):
        x, t = args["input"], args["target"]
        weight = args["weight"] or f"ops.ones_like({x})"
        pos = args["pos_weight"] or f"ops.ones_like({x})"
        return _call("ops.binary_cross_entropy_with_logits", [x, t], {"weight": weight, "pos_weight": pos, "reduction": args["reduction"]})


@register_special("batch-norm-fn")
class BatchNormFn(SpecialRewrite):
    """F.batch_norm: MindSpore needs weight and bias tensors (torch: optional)."""

    def convert(self, entry, args, target):
        mean = args["running_mean"]
        weight = args["weight"] or f"ops.ones_like({mean})"
        bias = args["bias"] or f"ops.zeros_like({mean})"
        return _call("ops.batch_norm", [args["input"], mean, args["running_var"], weight, bias],
                     {"training": args["training"], "momentum": args["momentum"], "eps": args["eps"]})


@register_special("fold-fn")
class FoldFn(SpecialRewrite):
    """F.fold: MindSpore takes output_size as an int32 tensor."""

    def convert(self, entry, args, target):
        size = f"ms.tensor({args['output_size']}, ms.int32)"
        return _call("ops.fold", [args["input"], size, args["kernel_size"]],
                     {"dilation": args["dilation"], "padding": args["padding"], "stride": args["stride"]})


@register_special("one-hot")
class OneHot(SpecialRewrite):
    """F.one_hot(t, n): MindSpore needs the class count and the on/off values (int64 like torch's result)."""

    def convert(self, entry, args, target):
        n = args["num_classes"]
        if n is None or n.strip() == "-1":
            raise Unconvertible("num_classes=-1 (inferred from the data) has no MindSpore form: pass the class count")
        return f"ops.one_hot({args['input']}, {n}, ms.Tensor(1, ms.int64), ms.Tensor(0, ms.int64))"
