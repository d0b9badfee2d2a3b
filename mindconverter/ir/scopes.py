"""Module paths from source node names: the scopes that structure-modules turns into Cells.

Two naming styles reach us:

- torch export (`/layer1/layer1.0/conv1/Conv`): a leading `/`, nested scopes that repeat their parent
  (`layer1`, `layer1.0`), the op last. Path: ("layer1", "0", "conv1").
- TensorFlow / Keras through tf2onnx (`mobilenetv2_1.00_224/block_1_expand_BN_1/batchnorm/mul_1`):
  the model's name first, then the Keras layer, then TF's own sub-scopes of the layer's ops
  (`batchnorm/`, `convolution/`), the op last. Keras layers are flat, but their names carry the
  blocks of keras.applications: `block_1_expand` is layer `expand` of block `block_1`,
  `conv2_block1_1_conv` layer `conv1` of block `block1` of stage `conv2`, `block1a_dwconv`
  (EfficientNet), `block1_conv1` (VGG).

`SourceScopes.of(names)` looks at all node names of a graph once (the model-name prefix and Keras' call
suffix `_1` are facts about the whole graph) and then gives each name its path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from mindconverter.ir.core import Op

Path = tuple[str, ...]

#: The module attribute holding the attention dropout p of each torch nn.MultiheadAttention by module path
#: (`[["encoder.layers.0.self_attn", 0.1], ...]`; the ONNX frontend reads it from the torch frontend's metadata,
#: fuse-multihead-attention gives each fused block the p of its module).
MHA_DROPOUT_ATTR = "multihead_attention_dropout"

#: The module attribute listing the source weights that train (torch: the parameters with requires_grad, each
#: state_dict key; buffers such as a positional table or rotary frequencies are not among them). When present,
#: a checkpoint Parameter trains only if its source weight is listed: constants folded from buffers or from no
#: weight at all (an LSTM's zero initial state) stay fixed, as in the source.
TRAINABLE_ATTR = "trainable_weights"

#: A Keras layer name inside a block: optional stage, the block, the layer.
_KERAS_BLOCK = re.compile(r"(?:(?P<stage>[A-Za-z][A-Za-z0-9]*)_)?(?P<block>block_?\d+[a-z]?)_(?P<layer>\w+)")
#: Lowercase sub-scopes TF and Keras put under a layer for the ops computing it (CamelCase ones,
#: `Conv2D`, `BiasAdd`, `FusedBatchNormV3`, are op names and are dropped too).
_TF_OP_SCOPES = frozenset({
    "batchnorm", "convolution", "depthwise", "separable_conv2d", "moments", "truediv", "mul", "add", "sub",
    "Tensordot", "clip_by_value", "transpose", "reshape", "strided_slice", "concat", "split", "merged_input",
})
#: A suffix every Keras layer name gets when a model is called inside another (`dense_1`).
_CALL_SUFFIX = re.compile(r".*(_\d+)")


def torch_path(name: str) -> Path:
    """The module path of a torch export name: `/layer1/layer1.0/conv1/Conv` -> ("layer1", "0", "conv1").

    Scopes that extend the previous one (`layer1` then `layer1.0`) are merged; the last part (the
    op) is dropped; a name without `/` has no scope.
    """
    parts = [p for p in name.split("/") if p]
    if len(parts) <= 1:
        return ()
    path: list[str] = []
    for seg in parts[:-1]:
        if path and seg.startswith(".".join(path) + "."):
            path = seg.split(".")
        elif path and seg.startswith(path[-1] + "."):
            path[-1:] = seg.split(".")
        else:
            path.extend(seg.split("."))
    return tuple(p for p in path if p)


def keras_layer_path(layer: str) -> Path:
    """A Keras layer name as (stage, block, layer): `conv2_block1_1_conv` -> ("conv2", "block1", "conv1")."""
    m = _KERAS_BLOCK.fullmatch(layer)
    if m is None:
        return (layer,)
    leaf = m["layer"]
    numbered = re.fullmatch(r"(\d+)_(\w+)", leaf)  # ResNet's `1_conv`, `0_bn` -> conv1, bn0
    if numbered:
        leaf = f"{numbered[2]}{numbered[1]}"
    return tuple(p for p in (m["stage"], m["block"], leaf) if p)


@attrs.define
class SourceScopes:
    """How the node names of one graph map to module paths."""

    #: "torch" (leading `/`) or "tf" (tf2onnx from a TensorFlow/Keras graph).
    style: str = "torch"
    #: The model-name scope every TF name starts with (dropped), if any.
    prefix: str | None = None
    #: The call suffix every Keras layer name ends with (dropped), if any.
    suffix: str | None = None

    @classmethod
    def of(cls, names: Iterable[str]) -> SourceScopes:
        scoped = [n for n in names if "/" in n]
        if not scoped or any(n.startswith("/") for n in scoped):
            return cls("torch")
        parts = [n.split("/") for n in scoped]
        prefix = None
        firsts = {p[0] for p in parts}
        if len(firsts) == 1 and all(len(p) >= 3 for p in parts):
            prefix = parts[0][0]  # every node is inside one scope: the model's name
            parts = [p[1:] for p in parts]
        layers = {p[0] for p in parts if len(p) >= 2}
        suffixes = {m[1] if (m := _CALL_SUFFIX.fullmatch(layer)) else None for layer in layers}
        suffix = suffixes.pop() if len(suffixes) == 1 and len(layers) >= 3 else None
        return cls("tf", prefix, suffix)

    def path(self, name: str) -> Path:
        """The module path of node `name` (empty when it has no scope)."""
        if self.style == "torch":
            return torch_path(name)
        parts = [p for p in name.split("/") if p][:-1]
        if parts and self.prefix is not None and parts[0] == self.prefix:
            parts = parts[1:]
        if not parts:
            return ()
        # The first part is a layer (Keras) or an outer scope (TF-slim `block1/unit_1/...`); later
        # parts that are TF's scopes of one layer's ops (`batchnorm/`, `Conv2D/`) are not modules.
        layer, *inner = parts
        if self.suffix and layer.endswith(self.suffix) and len(layer) > len(self.suffix):
            layer = layer[: -len(self.suffix)]
        inner = [p for p in inner if p not in _TF_OP_SCOPES and not p[0].isupper()]
        return keras_layer_path(layer) + tuple(inner)


def op_path(op: Op, scopes: SourceScopes | None = None) -> Path:
    """The common scope of every source node a (possibly fused) op comes from.

    `scopes` is the naming of the op's graph (`SourceScopes.of` its node names); without it each
    name is read on its own.
    """
    paths = [(scopes or SourceScopes.of([name])).path(name) for name in op.loc]
    if scopes is not None and scopes.style == "tf" and not any(paths):
        # tf2onnx names the ops it makes itself `Conv__66` (a Conv with its BatchNorm folded in);
        # their weights keep the layer's name (`model/block_1_expand/convolution/merged_input:0`).
        keys = [v.op.attrs["key"] for v in op.operands if v is not None and v.op is not None and v.op.name == "ir.param"]
        paths = [p for p in (scopes.path(k) for k in keys) if p][:1]
    paths = [p for p in paths if p] or paths  # a fused op's unscoped parts (tf2onnx's `Pad__5`) do not place it
    if not paths:
        return ()
    common = paths[0]
    for p in paths[1:]:
        n = 0
        while n < min(len(common), len(p)) and common[n] == p[n]:
            n += 1
        common = common[:n]
    return common
