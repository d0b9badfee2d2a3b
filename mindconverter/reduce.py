"""`mindconverter reduce`: shrink a model whose conversion fails or diverges to a small ONNX file.

    mindconverter reduce --model_file big.onnx --output small.onnx [conversion flags...]

Like polygraphy's `debug reduce`: the failure is whatever error code the conversion of the whole
model raises (a parity mismatch, a crashing pass, unsupported ops...). The model's nodes are put
in topological order, then
1. the end is cut: the smallest prefix whose last node's outputs (as graph outputs, with only the
   nodes they need) still fail, found by bisection;
2. the start is cut: the latest node from which the rest (its missing inputs becoming graph inputs,
   typed by ONNX shape inference) still fails, found by bisection;
and both repeat until nothing shrinks. Every candidate is converted in a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from mindconverter.logs import console_logger

EXIT_OK, EXIT_ERROR = 0, 1
log = logging.getLogger("mindconverter")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mindconverter reduce",
        description="Shrink a model whose conversion fails (or fails the parity check) to the smallest "
        "subgraph that still fails the same way, and write it as an ONNX file.",
        epilog="example: mindconverter reduce --model_file model.onnx --output reduced.onnx --check each",
    )
    p.add_argument("--model_file", required=True, metavar="FILE", help="the model whose conversion fails (.onnx)")
    p.add_argument("--output", required=True, metavar="FILE.onnx", help="where to write the reduced model")
    p.add_argument("--shape", nargs="+", metavar="SHAPE", help="input shapes, as for mindconverter")
    p.add_argument("--input_nodes", nargs="+", metavar="NAME", help="input names the --shape values apply to")
    p.add_argument("--check", choices=("end", "each"), default="end", help="parity check used on every candidate")
    p.add_argument("--passes", metavar="LIST", help="pass pipeline, as for mindconverter")
    p.add_argument("--pass-plugin", action="append", default=[], metavar="FILE", help="a .py file registering passes")
    p.add_argument("--rtol", type=float, help="relative tolerance")
    p.add_argument("--atol", type=float, help="absolute tolerance")
    p.add_argument("--match", metavar="REGEX", help="the failure must also match this regex (default: same error code)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log every candidate; tracebacks of errors")
    return p


def topo_nodes(graph) -> list:
    """The graph's nodes in a topological order (ONNX requires one; this re-sorts defensively)."""
    produced = {o: i for i, n in enumerate(graph.node) for o in n.output if o}
    order, done = [], set()

    def visit(i: int, stack: set[int]) -> None:
        if i in done or i in stack:
            return
        stack.add(i)
        for name in _inputs_of(graph.node[i]):
            if name in produced:
                visit(produced[name], stack)
        done.add(i)
        order.append(graph.node[i])

    for i in range(len(graph.node)):
        visit(i, set())
    return order


def _inputs_of(node) -> list[str]:
    """Inputs of a node, with names used inside its subgraphs (If/Loop bodies) too."""
    import onnx

    names = [n for n in node.input if n]
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in graphs:
            inner = {o for n in g.node for o in n.output} | {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                names += [x for x in _inputs_of(n) if x not in inner]
    return names


def subgraph(model, nodes: list, outputs: list[str], types: dict):
    """A model of `nodes` (pruned to what `outputs` need); missing tensors become typed inputs."""
    import onnx
    from onnx import helper

    graph = model.graph
    needed, keep = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(_inputs_of(node))
    keep.reverse()
    produced = {o for n in keep for o in n.output}
    inits = {i.name: i for i in graph.initializer}
    used = [x for n in keep for x in _inputs_of(n)]
    inputs, seen = [], set()
    for name in used:
        if name in produced or name in inits or name in seen:
            continue
        seen.add(name)
        if name not in types:
            return None
        inputs.append(types[name])
    out_infos = [types.get(o) or helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outputs]
    new = helper.make_graph(keep, graph.name, inputs, out_infos, [inits[n] for n in dict.fromkeys(used) if n in inits])
    reduced = helper.make_model(new, opset_imports=list(model.opset_import), producer_name="mindconverter-reduce")
    reduced.ir_version = model.ir_version
    return reduced


def _types(model) -> dict:
    """Value infos (typed) of every tensor: graph inputs/outputs and shape-inferred intermediates."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - then only the declared types are known
        inferred = model
    g = inferred.graph
    types = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.elem_type and tt.HasField("shape"):
            if all(d.HasField("dim_value") for d in tt.shape.dim):
                types[vi.name] = vi
    return types


def _fix_shapes(model, shape, input_nodes) -> None:
    from mindconverter.frontend.onnx import parse_shape

    if not shape:
        return
    inits = {i.name for i in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    names = input_nodes or [i.name for i in ins]
    for name, text in zip(names, shape, strict=False):
        for vi in ins:
            if vi.name == name:
                dims = parse_shape(text)
                del vi.type.tensor_type.shape.dim[:]
                for d in dims:
                    vi.type.tensor_type.shape.dim.add().dim_value = d


class Oracle:
    """Converts a candidate model in a temporary folder; `fails(model)` is whether it fails like the original."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir, self.calls = args, workdir, 0
        self.code: int | None = None
        self.message = ""

    def failure(self, model) -> tuple[int, str] | None:
        import onnx

        from mindconverter.api import convert
        from mindconverter.errors import MindConverterError

        self.calls += 1
        folder = self.workdir / f"c{self.calls}"
        folder.mkdir()
        path = folder / "candidate.onnx"
        onnx.save(model, path)
        passes = [p.strip() for p in self.args.passes.split(",") if p.strip()] if self.args.passes else None
        try:
            convert(path, output=folder / "out", check=self.args.check, passes=passes, pass_plugins=self.args.pass_plugin,
                    rtol=self.args.rtol, atol=self.args.atol)
        except MindConverterError as exc:
            return exc.code, exc.render()
        except Exception as exc:  # noqa: BLE001 - an internal error is a failure too
            return 9000000, f"{type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return None

    def fails(self, model) -> bool:
        if model is None:
            return False
        got = self.failure(model)
        ok = got is not None and got[0] == self.code and (not self.args.match or re.search(self.args.match, got[1]))
        log.debug("candidate %d (%d nodes): %s", self.calls, len(model.graph.node), "fails" if ok else "passes")
        return bool(ok)


def _bisect(lo: int, hi: int, fails_at: Callable[[int], bool]) -> int:
    """The smallest k in [lo, hi] with fails_at(k), given fails_at(hi) (bisection, assumes monotony)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if fails_at(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def reduce_model(model, oracle: Oracle):
    """The smallest failing subgraph found by cutting the end, then the start, until nothing shrinks."""
    types = _types(model)
    current = model
    while True:
        nodes = topo_nodes(current.graph)
        n = len(nodes)

        def cut_end(k: int, nodes=nodes, src=current):
            return subgraph(src, nodes[: k + 1], [o for o in nodes[k].output if o], types)

        k = _bisect(0, n - 1, lambda k, f=cut_end: oracle.fails(f(k))) if n > 1 else 0
        candidate = cut_end(k)
        if not oracle.fails(candidate):
            candidate = current  # the whole model's failure needs several outputs
        nodes = topo_nodes(candidate.graph)
        outputs = [o.name for o in candidate.graph.output]

        def cut_start(s: int, nodes=nodes, src=candidate, outputs=outputs):
            return subgraph(src, nodes[s:], outputs, types)

        m = len(nodes)
        # Largest s that still fails = smallest (m-1-s) ... bisect on t = m-1-s.
        t = _bisect(0, m - 1, lambda t, f=cut_start, m=m: oracle.fails(f(m - 1 - t))) if m > 1 else 0
        smaller = cut_start(m - 1 - t)
        if smaller is not None and len(smaller.graph.node) < len(candidate.graph.node) and oracle.fails(smaller):
            candidate = smaller
        if len(candidate.graph.node) >= len(current.graph.node):
            return current
        current = candidate


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger = console_logger(logging.INFO)
    from mindconverter.errors import ArgumentError, MindConverterError, internal_error_message

    try:
        import onnx

        path = Path(args.model_file)
        if not path.is_file():
            raise ArgumentError(f"model file '{path}' does not exist", fix="check the --model_file path")
        model = onnx.load(str(path))
        _fix_shapes(model, args.shape, args.input_nodes)
        with tempfile.TemporaryDirectory(prefix="mc_reduce_") as tmp:
            logger.setLevel(logging.ERROR)  # the candidates' own conversion logs are noise here
            oracle = Oracle(args, Path(tmp))
            first = oracle.failure(model)
            if first is None:
                raise ArgumentError(
                    f"the conversion of '{path}' does not fail, so there is nothing to reduce",
                    fix="give the flags under which it fails (--check each, --passes, --pass-plugin, --rtol/--atol)",
                )
            oracle.code, oracle.message = first
            if args.match and not re.search(args.match, first[1]):
                raise ArgumentError(f"the conversion fails, but not matching --match '{args.match}'",
                                    where=first[1].splitlines()[0])
            logger.setLevel(logging.DEBUG if args.verbose else logging.ERROR)
            reduced = reduce_model(model, oracle)
        onnx.save(reduced, args.output)
        logger.setLevel(logging.INFO)
        log.info("failure: %s", first[1].splitlines()[0])
        log.info("reduced %d nodes to %d (%s) in %d conversions; wrote %s", len(model.graph.node), len(reduced.graph.node),
                 ", ".join(n.op_type for n in reduced.graph.node), oracle.calls, args.output)
        return EXIT_OK
    except MindConverterError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - never a traceback without -v
        if args.verbose:
            raise
        print(internal_error_message(exc), file=sys.stderr)
        return EXIT_ERROR
