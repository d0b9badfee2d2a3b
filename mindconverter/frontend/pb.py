"""TensorFlow frontend: a frozen GraphDef (`.pb`) becomes ONNX through tf2onnx, then IR through the ONNX frontend.

tf2onnx runs in process at CANONICAL_OPSET. What it would lose is kept:

- Names: ONNX tensors keep the TF names (`model/conv1/Conv2D`), so source locations, scopes and the
  weight map's `source_weight` are TensorFlow's. Graph inputs and outputs drop the `:0` of a
  node's first output (`input_1`, `predictions/Softmax`).
- BatchNorm: Keras 3 writes an inference BatchNormalization as `batchnorm/{add,Rsqrt,mul,mul_1,
  mul_2,sub,add_1}` over the moving statistics, which grappler and tf2onnx fold into the Conv. On a
  4-D NHWC input that subgraph is rewritten into one `FusedBatchNormV3` over the same constants
  before conversion, and tf2onnx's Conv+BatchNormalization fusion is switched off, so the layer
  reaches the IR as `onnx.BatchNormalization` with its moving mean and variance.
- Batch size: a `None` dim of a placeholder stays symbolic (`?batch` for dim 0, `?<name>_<i>` else)
  unless `--shape` fixes it.

TensorFlow and tf2onnx are the `mindconverter[tf]` extra; they are imported only here (and by the
TensorFlow reference runner), never for ONNX inputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import onnx

from mindconverter.errors import ArgumentError, ModelLoadError
from mindconverter.frontend.onnx import OnnxSource, load_onnx, parse_shape
from mindconverter.ir.onnx_bridge import CANONICAL_OPSET

log = logging.getLogger("mindconverter")

#: Passes the default pipeline runs for a .pb model before simplify-reshapes: tf2onnx computes shapes
#: at run time (Shape/Gather/Concat) that fold only once shape inference knows the input sizes, and
#: sink-transposes cancels the NHWC<->NCHW transposes tf2onnx's own optimizer left.
PIPELINE_ADDITIONS = ("fold-constants", "cleanup", "dce", "infer-shapes", "sink-transposes")
#: Op types that never are a model's output (nothing consumes them, but they compute nothing to return).
_NOT_OUTPUTS = frozenset({"NoOp", "Const", "Placeholder", "VarHandleOp", "Assert", "SaveV2", "RestoreV2"})
#: Keras 3's scope of the ops of one inference BatchNormalization (`model/bn1/batchnorm/add_1`).
_BN_OUTPUT = re.compile(r"(?P<scope>.*)/batchnorm/add_1")
#: Keras' dropout layer scopes (`dropout`, `dropout_3`, `attention_dropout`), as restore-dropout reads them.
_DROPOUT_SCOPE = re.compile(r"(.*[_.])?dropout(_\d+)?", re.IGNORECASE)


def import_tf() -> Any:
    """The tensorflow module, or a coded error naming the extra that installs it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
        import tf2onnx  # noqa: F401 - checked here so the error names both
    except ImportError as exc:
        raise ArgumentError(
            f"converting a TensorFlow .pb model needs tensorflow and tf2onnx ({exc.name} is not installed)",
            fix="install the TensorFlow extra: pip install 'mindconverter[tf]'",
        ) from exc
    return tf


@attrs.define
class PbSource:
    """A converted GraphDef: the ONNX frontend's result, and what TensorFlow needs to run the original."""

    onnx: OnnxSource
    graph_def: Any
    #: TF tensor names fed and fetched (`input_1:0`), in the IR's input and output order.
    input_tensors: list[str]
    output_tensors: list[str]
    #: BatchNorm scopes rebuilt from Keras' decomposed form.
    batchnorms: list[str]
    #: Dropout Identity nodes kept for restore-dropout.
    dropouts: list[str]


@attrs.frozen
class _Placeholder:
    name: str
    dtype: str
    shape: tuple[int | None, ...] | None

    def describe(self) -> str:
        dims = "unknown rank" if self.shape is None else "[" + ", ".join("None" if d is None else str(d) for d in self.shape) + "]"
        return f"{self.name}:0 ({self.dtype}, {dims})"


def split_node_names(names: Sequence[str] | None) -> list[str]:
    """`["a:0 b", "c"]` -> `["a:0", "b", "c"]`: names may be separated by spaces or commas."""
    return [n for item in names or () for n in re.split(r"[\s,]+", item.strip()) if n]


def tensor_name(name: str) -> str:
    """`input_1` and `input_1:0` -> `input_1:0`; a leading `^` (control input) is dropped."""
    name = name.lstrip("^")
    return name if re.fullmatch(r".*:\d+", name) else f"{name}:0"


def _node_of(tensor: str) -> str:
    return tensor.lstrip("^").rsplit(":", 1)[0] if re.fullmatch(r".*:\d+", tensor.lstrip("^")) else tensor.lstrip("^")


def read_graph_def(path: Path) -> Any:
    """Parse a binary (or text) GraphDef file."""
    tf = import_tf()
    graph_def = tf.compat.v1.GraphDef()
    data = path.read_bytes()
    try:
        graph_def.ParseFromString(data)
    except Exception:  # noqa: BLE001 - protobuf raises DecodeError and friends
        from google.protobuf import text_format

        try:
            text_format.Merge(data.decode("utf-8"), graph_def)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(
                f"cannot parse '{path.name}' as a TensorFlow GraphDef: {exc}",
                where=str(path),
                fix="give a frozen graph written by tf.io.write_graph (see docs/cli.md, 'TensorFlow frozen graphs')",
            ) from exc
    if not graph_def.node:
        raise ModelLoadError(f"'{path.name}' holds an empty GraphDef", where=str(path),
                             fix="freeze the model first (see docs/cli.md, 'TensorFlow frozen graphs')")
    return graph_def


def placeholders(graph_def: Any) -> list[_Placeholder]:
    """The graph's Placeholder nodes with their dtype and (possibly partial) shape."""
    tf = import_tf()
    found = []
    for node in graph_def.node:
        if node.op != "Placeholder":
            continue
        dtype = tf.dtypes.as_dtype(node.attr["dtype"].type).name if "dtype" in node.attr else "?"
        shape = None
        if "shape" in node.attr and not node.attr["shape"].shape.unknown_rank:
            shape = tuple(None if d.size < 0 else int(d.size) for d in node.attr["shape"].shape.dim)
        found.append(_Placeholder(node.name, dtype, shape))
    return found


def likely_outputs(graph_def: Any) -> list[str]:
    """Nodes whose outputs nothing consumes (graph order), as `name:0`."""
    used = {_node_of(i) for node in graph_def.node for i in node.input}
    return [f"{n.name}:0" for n in graph_def.node if n.name not in used and n.op not in _NOT_OUTPUTS]


def _candidates(graph_def: Any) -> str:
    ph = placeholders(graph_def)
    outs = likely_outputs(graph_def)
    more = f" (+{len(outs) - 8} more)" if len(outs) > 8 else ""
    return (f"placeholders: {', '.join(p.describe() for p in ph) or '(none)'}; "
            f"likely outputs (consumed by nothing): {', '.join(outs[:8]) or '(none)'}{more}")


def resolve_nodes(graph_def: Any, input_nodes: Sequence[str] | None, output_nodes: Sequence[str] | None,
                  path: Path) -> tuple[list[str], list[str]]:
    """Check --input_nodes/--output_nodes against the graph; returns them as tensor names (`name:0`)."""
    nodes = {n.name: n for n in graph_def.node}
    ins, outs = split_node_names(input_nodes), split_node_names(output_nodes)
    for flag, given in (("--input_nodes", ins), ("--output_nodes", outs)):
        if not given:
            raise ArgumentError(
                f"a TensorFlow .pb model needs {flag}",
                where=f"{path.name}: {_candidates(graph_def)}",
                fix=f"name them, e.g. {flag} {(placeholders(graph_def)[0].name if flag == '--input_nodes' and placeholders(graph_def) else (likely_outputs(graph_def) or ['NAME:0'])[0])}",
            )
        for name in given:
            if _node_of(name) not in nodes:
                raise ArgumentError(
                    f"{flag} names '{name}', which is not a node of the graph",
                    where=f"{path.name}: {_candidates(graph_def)}",
                    fix=f"use node names from the graph (with or without ':0') in {flag}",
                )
    return [tensor_name(n) for n in ins], [tensor_name(n) for n in outs]


def _const_value(tf: Any, nodes: dict[str, Any], tensor: str) -> tuple[str, np.ndarray] | None:
    """The Const a tensor reads (through Identity chains): its tensor name and value."""
    name = _node_of(tensor)
    seen = 0
    while name in nodes and nodes[name].op == "Identity" and seen < 8:
        name, seen = _node_of(nodes[name].input[0]), seen + 1
    node = nodes.get(name)
    if node is None or node.op != "Const":
        return None
    return tensor_name(_node_of(tensor)), tf.make_ndarray(node.attr["value"].tensor)


def _op(nodes: dict[str, Any], tensor: str, *types: str) -> Any:
    node = nodes.get(_node_of(tensor))
    return node if node is not None and node.op in types else None


def restore_batchnorms(graph_def: Any, ranks: dict[str, int], flat: list[dict[str, Any]] | None = None) -> list[str]:
    """Rewrite Keras' decomposed inference BatchNormalization on 4-D NHWC inputs into FusedBatchNormV3.

    On a 2-D input (after a Dense), which FusedBatchNormV3 does not take, the subgraph is cut out
    and described in `flat` (input tensor, statistics, epsilon) for `insert_batchnorms` to put back
    as one ONNX BatchNormalization after conversion; its input must feed nothing else.

    The pattern is tf.nn.batch_normalization: `inv = rsqrt(var + eps) [* gamma]`,
    `y = x * inv + (beta - mean * inv)` (or `+ -(mean * inv)` without beta), all statistics
    constants. The FusedBatchNormV3 reads the same constants, so their TF names stay the weights' names.
    Returns the scopes rewritten. `ranks` gives the rank of tensors (`name:0`).
    """
    tf = import_tf()
    nodes = {n.name: n for n in graph_def.node}
    rewritten: dict[str, str] = {}
    uses: dict[str, int] = {}
    for node in graph_def.node:
        for name in node.input:
            if not name.startswith("^"):
                uses[tensor_name(name)] = uses.get(tensor_name(name), 0) + 1
    for node in list(graph_def.node):
        if node.op not in ("AddV2", "Add") or not _BN_OUTPUT.fullmatch(node.name):
            continue
        match = _match_batchnorm(tf, nodes, node)
        if match is None or ranks.get(tensor_name(match["x"])) not in (2, 4):
            continue
        scope = _BN_OUTPUT.fullmatch(node.name)["scope"]
        channels = match["mean"][1].shape
        if len(channels) != 1 or match["var"][1].shape != channels:
            continue
        if ranks.get(tensor_name(match["x"])) == 2:
            if flat is None or uses.get(tensor_name(match["x"])) != 1:
                continue
            flat.append(dict(match, scope=scope, x=tensor_name(match["x"])))
            rewritten[node.name] = match["x"]
            continue
        fused = graph_def.node.add()
        fused.op = "FusedBatchNormV3"
        fused.name = f"{scope}/FusedBatchNormV3"
        while fused.name in nodes:
            fused.name += "_"
        params = []
        for role, fill in (("gamma", 1.0), ("beta", 0.0)):
            if match[role] is not None:
                params.append(match[role][0])
                continue
            const = graph_def.node.add()
            const.op, const.name = "Const", f"{scope}/{role}"
            const.attr["dtype"].type = tf.float32.as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.full(channels, fill, np.float32)))
            nodes[const.name] = const
            params.append(const.name)
        fused.input.extend([match["x"], *params, match["mean"][0], match["var"][0]])
        for attr in ("T", "U"):
            fused.attr[attr].type = tf.float32.as_datatype_enum
        fused.attr["epsilon"].f = float(match["eps"])
        fused.attr["data_format"].s = b"NHWC"
        fused.attr["is_training"].b = False
        fused.attr["exponential_avg_factor"].f = 1.0
        nodes[fused.name] = fused
        rewritten[node.name] = fused.name
    for node in graph_def.node:
        for i, name in enumerate(node.input):
            target = rewritten.get(name) or (rewritten.get(name[:-2]) if name.endswith(":0") else None)
            if target is not None:
                node.input[i] = target
    return [_BN_OUTPUT.fullmatch(name)["scope"] for name in rewritten]


def insert_batchnorms(model: onnx.ModelProto, flat: list[dict[str, Any]]) -> list[str]:
    """Put the 2-D BatchNorms `restore_batchnorms` cut out back, as ONNX BatchNormalization on their input.

    The statistics become initializers named after their TF constants. Returns the scopes put back.
    """
    graph = model.graph
    produced = {o for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    names = {i.name for i in graph.initializer}
    done = []
    for bn in flat:
        x = bn["x"]
        if x not in produced or x in outputs:
            raise ModelLoadError(  # it was cut out of the GraphDef: going on would drop it
                f"cannot put back the BatchNormalization '{bn['scope']}': its input '{x}' is not a tensor of the converted graph",
                fix="this is a bug in frontend/pb.py; report the model",
            )
        channels = bn["mean"][1].shape
        inputs = []
        for role, fill in (("gamma", 1.0), ("beta", 0.0), ("mean", None), ("var", None)):
            name, value = bn[role] if bn[role] is not None else (f"{bn['scope']}/{role}", np.full(channels, fill, np.float32))
            if name not in names:
                graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value, np.float32), name))
                names.add(name)
            inputs.append(name)
        out = f"{bn['scope']}/batchnorm/add_1:0"
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name == x:
                    node.input[i] = out
        at = next(i for i, n in enumerate(graph.node) if x in n.output) + 1
        graph.node.insert(at, onnx.helper.make_node(
            "BatchNormalization", [x, *inputs], [out], name=f"{bn['scope']}/BatchNormalization", epsilon=bn["eps"]))
        done.append(bn["scope"])
    return done


def _match_batchnorm(tf: Any, nodes: dict[str, Any], add_1: Any) -> dict[str, Any] | None:
    """x * inv + (beta - mean * inv), inv = rsqrt(var + eps) [* gamma]; None when `add_1` is not that."""
    for a, b in ((0, 1), (1, 0)):
        mul_1 = _op(nodes, add_1.input[a], "Mul")
        shift = _op(nodes, add_1.input[b], "Sub", "Neg")
        if mul_1 is not None and shift is not None:
            break
    else:
        return None
    for xi in (0, 1):
        inv_node = _op(nodes, mul_1.input[1 - xi], "Mul", "Rsqrt")
        if inv_node is not None and _inv_parts(tf, nodes, inv_node) is not None:
            x, inv_tensor = mul_1.input[xi], mul_1.input[1 - xi]
            break
    else:
        return None
    var, eps, gamma = _inv_parts(tf, nodes, inv_node)
    if shift.op == "Sub":
        beta = _const_value(tf, nodes, shift.input[0])
        mul_2 = _op(nodes, shift.input[1], "Mul")
        if beta is None:
            return None
    else:
        beta, mul_2 = None, _op(nodes, shift.input[0], "Mul")
    if mul_2 is None or _node_of(inv_tensor) not in map(_node_of, mul_2.input):
        return None
    mean_in = [t for t in mul_2.input if _node_of(t) != _node_of(inv_tensor)]
    mean = _const_value(tf, nodes, mean_in[0]) if mean_in else None
    if mean is None:
        return None
    return {"x": x, "var": var, "eps": eps, "gamma": gamma, "beta": beta, "mean": mean}


def _inv_parts(tf: Any, nodes: dict[str, Any], inv: Any) -> tuple[Any, float, Any] | None:
    """(var, eps, gamma) of `rsqrt(var + eps) [* gamma]`."""
    gamma = None
    if inv.op == "Mul":
        for ri in (0, 1):
            rsqrt = _op(nodes, inv.input[ri], "Rsqrt")
            gamma = _const_value(tf, nodes, inv.input[1 - ri])
            if rsqrt is not None and gamma is not None:
                break
        else:
            return None
    else:
        rsqrt = inv
    add = _op(nodes, rsqrt.input[0], "AddV2", "Add")
    if add is None:
        return None
    for vi in (0, 1):
        var = _const_value(tf, nodes, add.input[vi])
        eps = _const_value(tf, nodes, add.input[1 - vi])
        if var is not None and eps is not None and eps[1].size == 1:
            return var, float(eps[1].reshape(())), gamma
    return None


def read_variables_directly(graph_def: Any, keep: set[str]) -> int:
    """Consumers of `Identity(Const)` read the Const itself, so weights are named after their variables.

    TF1 freezing turns variable `conv1/kernel` into a Const of that name, read through the Identity
    `conv1/Conv2D/ReadVariableOp`; the variable's name is the one users know. TF2 freezing names the
    Const after the captured resource (`.../ReadVariableOp/resource`): there the Identity's name is the better one.
    """
    nodes = {n.name: n for n in graph_def.node}
    bypass = {}
    for node in graph_def.node:
        if node.op != "Identity" or node.name in keep or len([i for i in node.input if not i.startswith("^")]) != 1:
            continue
        source = nodes.get(_node_of(node.input[0]))
        if source is not None and source.op == "Const" and not source.name.endswith("/resource"):
            bypass[node.name] = source.name
    for node in graph_def.node:
        for i, name in enumerate(node.input):
            if not name.startswith("^") and _node_of(name) in bypass and tensor_name(name).endswith(":0"):
                node.input[i] = bypass[_node_of(name)]
    return len(bypass)


def rewrite_erfc(graph_def: Any) -> int:
    """`Erfc`, which tf2onnx lacks, becomes Erf: `erfc(-u) = 1 + erf(u)`, else `erfc(x) = 1 - erf(x)`.

    Keras' exact GELU is `0.5 * x * erfc(-x * (1 / sqrt 2))`; as `0.5 * x * (1 + erf(x * (1 / sqrt 2)))`
    fuse-gelu recognises it. The Add/Sub keeps the Erfc's name, so consumers and locations are unchanged.
    """
    tf = import_tf()
    nodes = {n.name: n for n in graph_def.node}
    count = 0
    for node in list(graph_def.node):
        if node.op != "Erfc":
            continue
        dtype = node.attr["T"].type
        arg, negated = node.input[0], False
        source = nodes.get(_node_of(arg))
        if source is not None and source.op == "Neg":
            arg, negated = source.input[0], True
        elif source is not None and source.op == "Mul":
            for k in (0, 1):
                neg = nodes.get(_node_of(source.input[k]))
                if neg is not None and neg.op == "Neg":
                    scaled = _new_node(graph_def, nodes, "Mul", f"{node.name}/arg", [neg.input[0], source.input[1 - k]], dtype)
                    arg, negated = scaled.name, True
                    break
        erf = _new_node(graph_def, nodes, "Erf", f"{node.name}/erf", [arg], dtype)
        one = _new_node(graph_def, nodes, "Const", f"{node.name}/one", [], None)
        one.attr["dtype"].type = dtype
        one.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(1, tf.dtypes.as_dtype(dtype).as_numpy_dtype)))
        node.op = "AddV2" if negated else "Sub"
        del node.input[:]
        node.input.extend([one.name, erf.name])
        count += 1
    return count


def _new_node(graph_def: Any, nodes: dict[str, Any], op: str, name: str, inputs: list[str], dtype: int | None) -> Any:
    if name in nodes:
        raise ModelLoadError(f"cannot rewrite the graph: node name '{name}' is taken",
                             fix="rename the node, or report the model")
    node = graph_def.node.add()
    node.op, node.name = op, name
    node.input.extend(inputs)
    if dtype is not None:
        node.attr["T"].type = dtype
    nodes[name] = node
    return node


def bias_before_tensordot_reshape(graph_def: Any, keep: set[str]) -> int:
    """`BiasAdd(Reshape(MatMul(...)), b)` (Keras Dense on a 3-D input: `Tensordot`) -> `Reshape(BiasAdd(MatMul, b))`.

    The bias then follows the MatMul, and fuse-dense makes one `nn.Dense` with its bias. Only for a
    1-D constant bias over the MatMul's columns (the Reshape keeps the last dim).
    """
    tf = import_tf()
    nodes = {n.name: n for n in graph_def.node}
    consumers: dict[str, list[Any]] = {}
    for node in graph_def.node:
        for name in node.input:
            consumers.setdefault(_node_of(name), []).append(node)
    count = 0
    for add in list(graph_def.node):
        if add.op not in ("BiasAdd", "AddV2", "Add") or add.name in keep or len(add.input) != 2:
            continue
        reshape = nodes.get(_node_of(add.input[0]))
        if reshape is None or reshape.op != "Reshape" or not reshape.name.endswith("Tensordot") or tensor_name(add.input[0]) != f"{reshape.name}:0":
            continue
        matmul = nodes.get(_node_of(reshape.input[0]))
        bias = _const_value(tf, nodes, add.input[1])
        if matmul is None or matmul.op != "MatMul" or bias is None or bias[1].ndim != 1:
            continue
        if len(consumers.get(reshape.name, [])) != 1 or add.attr["data_format"].s not in (b"", b"NHWC"):
            continue
        for user in consumers.get(add.name, []):
            for i, name in enumerate(user.input):
                if _node_of(name) == add.name and not name.startswith("^"):
                    user.input[i] = reshape.name
        add.input[0] = reshape.input[0]
        reshape.input[0] = add.name
        count += 1
    return count


def dropout_identities(graph_def: Any) -> dict[str, str]:
    """`<scope>/Identity` nodes of dropout scopes (how a Keras 2 Dropout looks in inference) -> the tensor they read.

    Only those whose input feeds nothing else: that tensor then stands for the dropout's output.
    """
    consumers: dict[str, int] = {}
    for node in graph_def.node:
        for name in node.input:
            if not name.startswith("^"):
                consumers[tensor_name(name)] = consumers.get(tensor_name(name), 0) + 1
    found = {}
    for node in graph_def.node:
        scope, _, leaf = node.name.rpartition("/")
        if node.op != "Identity" or leaf != "Identity" or not _DROPOUT_SCOPE.fullmatch(scope.rsplit("/", 1)[-1]):
            continue
        source = tensor_name(node.input[0])
        if consumers.get(source) == 1:
            found[node.name] = source
    return found


def keep_dropouts(model: onnx.ModelProto, identities: dict[str, str]) -> list[str]:
    """Put each dropout's Identity back after the tensor it read (tf2onnx removes Identity nodes).

    restore-dropout turns them into Dropout layers. Returns the Identity names put back.
    """
    graph = model.graph
    outputs = {o.name for o in graph.output}
    produced = {o for n in graph.node for o in n.output}
    kept = []
    for name, source in identities.items():
        if source not in produced or source in outputs:
            continue
        new_output = f"{name}:0"
        for node in graph.node:
            for i, inp in enumerate(node.input):
                if inp == source:
                    node.input[i] = new_output
        at = next(i for i, n in enumerate(graph.node) if source in n.output) + 1
        graph.node.insert(at, onnx.helper.make_node("Identity", [source], [new_output], name=name))
        kept.append(name)
    return kept


@contextlib.contextmanager
def _no_conv_batchnorm_fusion() -> Iterator[None]:
    """tf2onnx's back-to-back optimizer folds BatchNormalization into Conv; keep the layer instead."""
    from tf2onnx.optimizer import back_to_back_optimizer as b2b

    key = ("Conv", "BatchNormalization")
    handler = b2b._func_map.pop(key, None)
    try:
        yield
    finally:
        if handler is not None:
            b2b._func_map[key] = handler


@contextlib.contextmanager
def _quiet_tf2onnx() -> Iterator[None]:
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    if not log.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _tensor_ranks(tf: Any, graph_def: Any) -> dict[str, int]:
    """Rank of every tensor whose rank TensorFlow's shape inference knows."""
    ranks: dict[str, int] = {}
    with tf.Graph().as_default() as graph:
        try:
            tf.graph_util.import_graph_def(graph_def, name="")
        except Exception as exc:  # noqa: BLE001 - TF raises many types for bad graphs
            raise ModelLoadError(
                f"TensorFlow cannot import the graph: {str(exc).splitlines()[0]}",
                fix="check that the .pb is a frozen GraphDef of this TensorFlow version's ops",
            ) from exc
        for op in graph.get_operations():
            for t in op.outputs:
                if t.shape.rank is not None:
                    ranks[t.name] = t.shape.rank
    return ranks


def _symbolic_inputs(model: onnx.ModelProto, fixed: set[str]) -> None:
    """Unknown input dims get names: `batch` for dim 0, `<input>_<i>` for others (tf2onnx writes `unk__N`)."""
    for inp in model.graph.input:
        if inp.name in fixed or not inp.type.tensor_type.HasField("shape"):
            continue
        base = re.sub(r"\W", "_", inp.name)
        for i, d in enumerate(inp.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            if not d.dim_param or d.dim_param.startswith("unk__"):
                d.dim_param = "batch" if i == 0 else f"{base}_{i}"


def load_pb(
    path: str | os.PathLike[str],
    shape: Sequence[str | Sequence[int]] | None = None,
    input_nodes: Sequence[str] | None = None,
    output_nodes: Sequence[str] | None = None,
    *,
    skip_tf2onnx_optimizers: Sequence[str] = (),
) -> PbSource:
    """Read a frozen GraphDef into IR through tf2onnx; `shape` (one per input node) fixes unknown dims.

    `skip_tf2onnx_optimizers` names tf2onnx optimizers not to run (`optimize_transpose`: leave every
    NHWC<->NCHW transpose to sink-transposes).
    """
    path = Path(path)
    tf = import_tf()
    from tf2onnx import optimizer, tf_loader
    from tf2onnx.convert import _convert_common

    graph_def = read_graph_def(path)
    ins, outs = resolve_nodes(graph_def, input_nodes, output_nodes, path)
    shapes = [parse_shape(s) if isinstance(s, str) else tuple(int(d) for d in s) for s in (shape or [])]
    if shapes and len(shapes) != len(ins):
        raise ArgumentError(
            f"--input_nodes names {len(ins)} input(s) but --shape gives {len(shapes)}",
            fix="give one --shape per --input_nodes entry, in the same order",
        )
    overrides = dict(zip(ins, shapes, strict=True)) if shapes else {}
    _check_shapes(graph_def, overrides, path)
    reference = type(graph_def)()
    reference.CopyFrom(graph_def)

    read_variables_directly(graph_def, {_node_of(t) for t in [*ins, *outs]})
    ranks = _tensor_ranks(tf, graph_def)
    flat: list[dict[str, Any]] = []
    batchnorms = restore_batchnorms(graph_def, ranks, flat)
    if batchnorms:
        log.info("kept %d BatchNormalization layer(s) that Keras wrote as Mul/Add", len(batchnorms))
    rewrite_erfc(graph_def)
    bias_before_tensordot_reshape(graph_def, {_node_of(t) for t in outs})
    dropouts = dropout_identities(graph_def)
    renames = {t: t[:-2] if t.endswith(":0") else t for t in [*ins, *outs]}
    try:
        with _quiet_tf2onnx(), _no_conv_batchnorm_fusion(), tf.device("/cpu:0"):
            with tf.Graph().as_default():
                optimized = tf_loader.tf_optimize(ins, [*outs, *(bn["x"] for bn in flat)], graph_def)
            # The inputs of cut-out BatchNorms are outputs while converting, so they keep their names.
            marked = [bn["x"] for bn in flat if bn["x"] not in outs]
            proto, _ = _convert_common(
                optimized, name=path.stem, opset=CANONICAL_OPSET, input_names=ins, output_names=[*outs, *marked],
                shape_override=overrides or None, tensors_to_rename=renames,
                optimizers={k: v for k, v in optimizer._get_optimizers().items() if k not in skip_tf2onnx_optimizers},
            )
    except ArgumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - tf2onnx raises many types
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelLoadError(
            f"tf2onnx cannot convert '{path.name}': {type(exc).__name__}: {first}",
            where=f"inputs {', '.join(ins)}; outputs {', '.join(outs)}",
            fix="check the node names and that the graph is frozen (no variables); rerun with -v for tf2onnx's log",
        ) from exc
    _symbolic_inputs(proto, {renames[t] for t in overrides})
    kept_outputs = [o for o in proto.graph.output if o.name not in marked]
    del proto.graph.output[:]
    proto.graph.output.extend(kept_outputs)
    kept = keep_dropouts(proto, dropouts)
    insert_batchnorms(proto, flat)
    with tempfile.TemporaryDirectory(prefix="mindconverter-pb-") as tmp:
        onnx_path = Path(tmp) / f"{path.stem}.onnx"
        onnx.save(proto, str(onnx_path))
        source = load_onnx(onnx_path)
    source.module.attrs["source"] = "pb"
    return PbSource(source, reference, ins, outs, batchnorms, kept)


def _check_shapes(graph_def: Any, overrides: dict[str, tuple[int, ...]], path: Path) -> None:
    known = {p.name: p for p in placeholders(graph_def)}
    for name, dims in overrides.items():
        ph = known.get(_node_of(name))
        if ph is None or ph.shape is None:
            continue
        if len(ph.shape) != len(dims):
            raise ArgumentError(
                f"--shape for '{name}' has rank {len(dims)} but the placeholder has rank {len(ph.shape)}",
                where=f"{path.name}: {ph.describe()}",
                fix="give one size per dim, e.g. --shape 1,224,224,3 for an NHWC image",
            )
        for i, (want, have) in enumerate(zip(dims, ph.shape, strict=True)):
            if have is not None and have != want:
                raise ArgumentError(
                    f"--shape for '{name}' sets dim {i} to {want}, but the graph fixes it to {have}",
                    where=f"{path.name}: {ph.describe()}",
                    fix=f"use {have} for dim {i}",
                )


__all__ = ["PbSource", "import_tf", "likely_outputs", "load_pb", "placeholders", "resolve_nodes", "tensor_name"]
