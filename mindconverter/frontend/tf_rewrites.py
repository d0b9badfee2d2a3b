"""GraphDef rewrites before tf2onnx, and ONNX fix-ups after it, that keep Keras layers whole.

- `restore_batchnorms`: Keras 3's decomposed inference BatchNormalization becomes FusedBatchNormV3
  (4-D), or is cut out and put back by `insert_batchnorms` as one ONNX BatchNormalization (2-D).
- `read_variables_directly`: weights are named after TF1 variables rather than their readers.
- `rewrite_erfc`: Erfc (tf2onnx has no converter) as Erf, in the form fuse-gelu recognises.
- `bias_before_tensordot_reshape`: a Dense on a 3-D input keeps its bias next to its MatMul.
- `dropout_identities` / `keep_dropouts`: a Keras 2 dropout's Identity survives tf2onnx.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import onnx

from mindconverter.errors import ArgumentError, ModelLoadError

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


def tensor_name(name: str) -> str:
    """`input_1` and `input_1:0` -> `input_1:0`; a leading `^` (control input) is dropped."""
    name = name.lstrip("^")
    return name if re.fullmatch(r".*:\d+", name) else f"{name}:0"


def node_of(tensor: str) -> str:
    return tensor.lstrip("^").rsplit(":", 1)[0] if re.fullmatch(r".*:\d+", tensor.lstrip("^")) else tensor.lstrip("^")


def _const_value(tf: Any, nodes: dict[str, Any], tensor: str) -> tuple[str, np.ndarray] | None:
    """The Const a tensor reads (through Identity chains): its tensor name and value."""
    name = node_of(tensor)
    seen = 0
    while name in nodes and nodes[name].op == "Identity" and seen < 8:
        name, seen = node_of(nodes[name].input[0]), seen + 1
    node = nodes.get(name)
    if node is None or node.op != "Const":
        return None
    return tensor_name(node_of(tensor)), tf.make_ndarray(node.attr["value"].tensor)


def _op(nodes: dict[str, Any], tensor: str, *types: str) -> Any:
    node = nodes.get(node_of(tensor))
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
    if mul_2 is None or node_of(inv_tensor) not in map(node_of, mul_2.input):
        return None
    mean_in = [t for t in mul_2.input if node_of(t) != node_of(inv_tensor)]
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
        source = nodes.get(node_of(node.input[0]))
        if source is not None and source.op == "Const" and not source.name.endswith("/resource"):
            bypass[node.name] = source.name
    for node in graph_def.node:
        for i, name in enumerate(node.input):
            if not name.startswith("^") and node_of(name) in bypass and tensor_name(name).endswith(":0"):
                node.input[i] = bypass[node_of(name)]
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
        source = nodes.get(node_of(arg))
        if source is not None and source.op == "Neg":
            arg, negated = source.input[0], True
        elif source is not None and source.op == "Mul":
            for k in (0, 1):
                neg = nodes.get(node_of(source.input[k]))
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
            consumers.setdefault(node_of(name), []).append(node)
    count = 0
    for add in list(graph_def.node):
        if add.op not in ("BiasAdd", "AddV2", "Add") or add.name in keep or len(add.input) != 2:
            continue
        reshape = nodes.get(node_of(add.input[0]))
        if reshape is None or reshape.op != "Reshape" or not reshape.name.endswith("Tensordot") or tensor_name(add.input[0]) != f"{reshape.name}:0":
            continue
        matmul = nodes.get(node_of(reshape.input[0]))
        bias = _const_value(tf, nodes, add.input[1])
        if matmul is None or matmul.op != "MatMul" or bias is None or bias[1].ndim != 1:
            continue
        if len(consumers.get(reshape.name, [])) != 1 or add.attr["data_format"].s not in (b"", b"NHWC"):
            continue
        for user in consumers.get(add.name, []):
            for i, name in enumerate(user.input):
                if node_of(name) == add.name and not name.startswith("^"):
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
