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
import onnx

from mindconverter.errors import ArgumentError, ModelLoadError
from mindconverter.frontend.onnx import OnnxSource, load_onnx, parse_shape
from mindconverter.frontend.tf_rewrites import (
    bias_before_tensordot_reshape,
    dropout_identities,
    import_tf,
    insert_batchnorms,
    keep_dropouts,
    node_of,
    read_variables_directly,
    restore_batchnorms,
    rewrite_erfc,
    tensor_name,
)
from mindconverter.ir.onnx_bridge import CANONICAL_OPSET

log = logging.getLogger("mindconverter")

#: Passes the default pipeline runs for a .pb model before simplify-reshapes: tf2onnx computes shapes
#: at run time (Shape/Gather/Concat) that fold only once shape inference knows the input sizes, and
#: sink-transposes cancels the NHWC<->NCHW transposes tf2onnx's own optimizer left.
PIPELINE_ADDITIONS = ("fold-constants", "cleanup", "dce", "infer-shapes", "sink-transposes")
#: Op types that never are a model's output (nothing consumes them, but they compute nothing to return).
_NOT_OUTPUTS = frozenset({"NoOp", "Const", "Placeholder", "VarHandleOp", "Assert", "SaveV2", "RestoreV2"})


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
    used = {node_of(i) for node in graph_def.node for i in node.input}
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
            if node_of(name) not in nodes:
                raise ArgumentError(
                    f"{flag} names '{name}', which is not a node of the graph",
                    where=f"{path.name}: {_candidates(graph_def)}",
                    fix=f"use node names from the graph (with or without ':0') in {flag}",
                )
    return [tensor_name(n) for n in ins], [tensor_name(n) for n in outs]


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

    read_variables_directly(graph_def, {node_of(t) for t in [*ins, *outs]})
    ranks = _tensor_ranks(tf, graph_def)
    flat: list[dict[str, Any]] = []
    batchnorms = restore_batchnorms(graph_def, ranks, flat)
    if batchnorms:
        log.info("kept %d BatchNormalization layer(s) that Keras wrote as Mul/Add", len(batchnorms))
    rewrite_erfc(graph_def)
    bias_before_tensordot_reshape(graph_def, {node_of(t) for t in outs})
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
        ph = known.get(node_of(name))
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
