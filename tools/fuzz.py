"""Fuzz the mindconverter command with mutated models and odd arguments.

    .venv/bin/python tools/fuzz.py --cases 500 --seed 1 [--timeout 60] [--check-fraction 0.1] [--keep DIR]

A seeded mutator starts from small valid models (built here, plus examples/tiny_convnet.onnx) and
breaks them at the protobuf level (flipped, inserted and deleted bytes, truncation, cleared fields,
out-of-range enums, other message types) and at the graph level (the classes validate.py refuses,
hostile names: quotes, newlines, keywords, builtins, non-ASCII, `__import__('os').system(...)`,
external data pointing outside the folder), and adds odd arguments (--shape, --output_nodes,
--input_data, an --output that is a file, existing outputs without --overwrite).

Each case runs `mindconverter.cli.main` in a worker process (imports paid once) with a per-case
timeout. Acceptable outcomes only:
- `converted`: exit 0, all five outputs there, the script parses, imports, and its network
  instantiates with the checkpoint loaded;
- `coded`: exit 1 with one `error[NNNNNNN]` that is not 9000000, and the output folder as it was
  (except UnsupportedOpsError/ParityError, which write every output by design);
- `usage`: exit 2 from the argument parser.
Anything else is a finding: `traceback`, `internal`, `hang`, `crash` (the worker died), `partial`
(some outputs or a staging folder left), `changed` (an existing file changed without --overwrite),
`injection` (the canary file written, or the script's code names something the model put in a
name), `read-outside` (a file outside the model's folder opened), `broken-script`.
Findings are saved with their model and arguments under --keep for replay (`--replay DIR`).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import hashlib
import io
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
import tokenize
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCEPTABLE = ("converted", "coded", "usage")
OUTPUTS_BY_DESIGN = (3000002, 5000001)  # UnsupportedOpsError, ParityError: written, then reported
CANARY = "INJECTED"  # names in the model try to create this file in the working directory (the case folder)
OUTSIDE_CANARY = Path(tempfile.gettempdir()) / "mindconverter-fuzz-canary.bin"  # an absolute location to refuse
HOSTILE_NAMES = [
    'x"y', "x'y", 'a"""b', "a'''b", "a\nb", "a\r\nb", "a\\", "a\\nb", "class", "def", "return", "None", "True",
    "lambda", "import", "print", "len", "self", "super", "ms", "nn", "ops", "np", "mindspore", "__init__",
    "construct", "__class__", "__dict__", "ünïcødé", "名字", "🙂", "", " ", "0abc", "a-b.c/d:0", "{x}", "%s",
    "a" * 300, "\x00", "\t", "#comment", "*/", "x = 1", "a; b",
    "__import__('os').system('touch INJECTED')",
    "\"); __import__('os').system('touch INJECTED'); (\"",
    "'); __import__('os').system('touch INJECTED'); ('",
    "x\n__import__('os').system('touch INJECTED')\n#",
    "\"\"\"\n__import__('os').system('touch INJECTED')\n\"\"\"",
    "exec(\"open('INJECTED', 'w')\")",
]
#: NAME tokens that a generated script never needs; seeing one means a model name became code.
FORBIDDEN_NAMES = {"__import__", "system", "exec", "eval", "popen", "compile", "subprocess"}


# -- seed models ------------------------------------------------------------------------------


def seed_models() -> dict[str, bytes]:
    """Small valid models covering weights, attributes, several inputs/outputs and shapes."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def model(nodes, inputs, outputs, inits, opset=17):
        graph = helper.make_graph(
            nodes, "seed", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
            [numpy_helper.from_array(a.astype(np.float32), n) for n, a in inits.items()],
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        return onnx.shape_inference.infer_shapes(m).SerializeToString()

    cnn = model(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("Relu", ["c"], ["r"], name="relu"),
            helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
            helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
        ],
        [("x", [1, 3, 6, 6])], ["y"],
        {"w": rng.standard_normal((4, 3, 3, 3)), "b": rng.standard_normal(4), "fc_w": rng.standard_normal((5, 36)),
         "fc_b": rng.standard_normal(5)},
    )
    mlp = model(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
            helper.make_node("Add", ["h", "b1"], ["a"], name="add1"),
            helper.make_node("Sigmoid", ["a"], ["s"], name="act"),
            helper.make_node("Transpose", ["s"], ["t"], name="tr", perm=[1, 0]),
            helper.make_node("Softmax", ["t"], ["y"], name="sm", axis=-1),
            helper.make_node("Concat", ["x", "x"], ["z"], name="cat", axis=1),
        ],
        [("x", [2, 8])], ["y", "z"], {"w1": rng.standard_normal((8, 4)), "b1": rng.standard_normal(4)},
    )
    two_inputs = model(
        [
            helper.make_node("Mul", ["a", "b"], ["m"], name="mul"),
            helper.make_node("Reshape", ["m", "shape"], ["r"], name="reshape"),
            helper.make_node("ReduceMean", ["r"], ["y"], name="mean", keepdims=0, axes=[1]),
        ],
        [("a", [2, 3, 4]), ("b", [2, 3, 4])], ["y"], {"shape": np.array([2, 12])}, opset=13,
    )
    seeds = {"cnn": cnn, "mlp": mlp, "two_inputs": two_inputs}
    example = ROOT / "examples" / "tiny_convnet.onnx"
    if example.is_file():
        seeds["tiny_convnet"] = example.read_bytes()
    return seeds


# -- mutators ---------------------------------------------------------------------------------


def _repeated(field) -> bool:
    is_repeated = getattr(field, "is_repeated", None)
    return bool(is_repeated) if is_repeated is not None else field.label == field.LABEL_REPEATED


class Mutator:
    """Builds one case (model bytes, extra files, arguments) from a seeded random generator."""

    def __init__(self, rng: random.Random, seeds: dict[str, bytes]) -> None:
        self.rng, self.seeds = rng, seeds

    def case(self) -> dict[str, Any]:
        rng = self.rng
        seed_name = rng.choice(sorted(self.seeds))
        data = self.seeds[seed_name]
        case: dict[str, Any] = {"seed": seed_name, "mutations": [], "files": {}, "args": [], "links": {},
                                "file_name": "model.onnx", "existing": False, "overwrite": False}
        kind = rng.choices(["bytes", "fields", "graph", "names", "args"], weights=[2, 2, 4, 3, 2])[0]
        steps = {"bytes": [self._bytes], "fields": [self._fields], "names": [self._names], "args": [],
                 "graph": [self._graph] * rng.choice([1, 1, 1, 2, 3])}[kind]
        for step in steps:
            try:
                data = step(data, case)
            except (ValueError, TypeError, IndexError, AttributeError) as exc:  # protobuf refused the mutation
                case["mutations"].append(f"refused:{type(exc).__name__}")
        if kind == "args" or rng.random() < 0.15:
            self._args(data, case)
        case["kind"] = kind
        case["model"] = data
        return case

    # protobuf level

    def _bytes(self, data: bytes, case) -> bytes:
        rng = self.rng
        buf = bytearray(data)
        how = rng.choice(["flip", "truncate", "insert", "delete", "duplicate", "other-message", "empty", "garbage"])
        case["mutations"].append(f"bytes:{how}")
        if how == "flip":
            for _ in range(rng.randint(1, 12)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif how == "truncate":
            del buf[rng.randrange(len(buf)):]
        elif how == "insert":
            at = rng.randrange(len(buf))
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif how == "delete":
            at = rng.randrange(len(buf))
            del buf[at:at + rng.randint(1, 32)]
        elif how == "duplicate":
            at = rng.randrange(len(buf))
            buf[at:at] = buf[at:at + rng.randint(1, 64)]
        elif how == "other-message":
            import onnx

            m = onnx.ModelProto.FromString(data)
            parts = [m.graph, m.graph.node[0], m.graph.initializer[0] if m.graph.initializer else m.graph.input[0],
                     m.graph.input[0], m.opset_import[0]]
            return rng.choice(parts).SerializeToString()
        elif how == "empty":
            return b""
        else:
            return bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
        return bytes(buf)

    def _messages(self, msg) -> list:
        """Every message in the tree (iteratively)."""
        out, todo = [], [msg]
        while todo:
            m = todo.pop()
            out.append(m)
            for field, value in m.ListFields():
                if field.type == field.TYPE_MESSAGE:
                    if _repeated(field):
                        todo.extend(value)
                    else:
                        todo.append(value)
        return out

    def _fields(self, data: bytes, case) -> bytes:
        import onnx

        rng = self.rng
        model = onnx.ModelProto.FromString(data)
        for _ in range(rng.randint(1, 3)):
            msg = rng.choice(self._messages(model))
            fields = msg.ListFields()
            if not fields:
                continue
            field, value = rng.choice(fields)
            name = f"{msg.DESCRIPTOR.name}.{field.name}"
            how = rng.choice(["clear", "enum", "int", "string"])
            if how == "clear" or _repeated(field):
                msg.ClearField(field.name)
                case["mutations"].append(f"fields:clear:{name}")
            elif field.type == field.TYPE_ENUM or field.type in (field.TYPE_INT32, field.TYPE_INT64):
                v = rng.choice([-1, 0, 1, 2, 7, 17, 99, 2**31 - 1, -(2**31)])
                try:
                    setattr(msg, field.name, v)
                    case["mutations"].append(f"fields:set:{name}={v}")
                except (ValueError, TypeError):
                    msg.ClearField(field.name)
            elif field.type == field.TYPE_STRING:
                setattr(msg, field.name, self._hostile(case))
                case["mutations"].append(f"fields:string:{name}")
            else:
                msg.ClearField(field.name)
                case["mutations"].append(f"fields:clear:{name}")
        return model.SerializeToString()

    # graph level

    def _hostile(self, case) -> str:
        return self.rng.choice(HOSTILE_NAMES)

    def _names(self, data: bytes, case) -> bytes:
        """Rename values, nodes, initializers, the graph (consistently, so the model stays valid)."""
        import onnx

        rng = self.rng
        model = onnx.ModelProto.FromString(data)
        g = model.graph
        values = sorted({n for node in g.node for n in [*node.input, *node.output] if n} | {i.name for i in g.input})
        for _ in range(rng.randint(1, 4)):
            what = rng.choice(["value", "node", "graph", "doc", "file", "value", "node"])
            new = self._hostile(case)
            case["mutations"].append(f"names:{what}={new[:40]!r}")
            if what == "value" and values:
                old = rng.choice(values)
                for node in g.node:
                    node.input[:] = [new if n == old else n for n in node.input]
                    node.output[:] = [new if n == old else n for n in node.output]
                for vi in [*g.input, *g.output, *g.value_info]:
                    if vi.name == old:
                        vi.name = new
                for init in g.initializer:
                    if init.name == old:
                        init.name = new
            elif what == "node" and g.node:
                rng.choice(g.node).name = new
            elif what == "graph":
                g.name = new
            elif what == "doc":
                (rng.choice(g.node) if g.node else g).doc_string = new
            else:
                stem = "".join(c for c in new if c not in "/\x00\n\r")[:60] or "m"
                case["file_name"] = f"{stem}.onnx"
        return model.SerializeToString()

    def _graph(self, data: bytes, case) -> bytes:
        import numpy as np
        import onnx
        from onnx import AttributeProto, TensorProto, helper

        rng = self.rng
        try:
            model = onnx.ModelProto.FromString(data)
        except Exception:  # noqa: BLE001 - an earlier mutation broke it; keep the bytes
            return data
        g = model.graph
        if not g.node:
            return data
        node = rng.choice(g.node)
        values = [n for nd in g.node for n in nd.output if n] + [i.name for i in g.input]
        how = rng.choice([
            "dup-producer", "dup-output", "cycle", "dangling", "drop-node", "swap-nodes", "dup-node", "op-type",
            "domain", "attr-type", "attr-value", "attr-value", "attr-add", "attr-drop", "init-raw", "init-dims",
            "init-type", "external", "external", "input-dims", "input-type", "drop-input", "opset", "ir-version",
            "output-extra", "subgraph", "metadata",
        ])
        case["mutations"].append(f"graph:{how}")
        if how == "dup-producer" and len(values) > 1:
            node.output[0] = rng.choice(values)
        elif how == "dup-output":
            g.output.append(copy.deepcopy(g.output[0]))
        elif how == "cycle":
            g.node[0].input.append(g.node[-1].output[0])
            g.node[0].input[0] = g.node[-1].output[0]
        elif how == "dangling" and node.input:
            node.input[rng.randrange(len(node.input))] = rng.choice(["ghost", self._hostile(case)])
        elif how == "drop-node":
            g.node.remove(node)
        elif how == "swap-nodes" and len(g.node) > 1:
            i, j = rng.sample(range(len(g.node)), 2)
            a, b = copy.deepcopy(g.node[i]), copy.deepcopy(g.node[j])
            g.node[i].CopyFrom(b)
            g.node[j].CopyFrom(a)
        elif how == "dup-node":
            g.node.append(copy.deepcopy(node))
        elif how == "op-type":
            node.op_type = rng.choice(["Relu", "Conv", "Foo", "", "Loop", "If", "Gemm", "Softmax", self._hostile(case)])
        elif how == "domain":
            node.domain = rng.choice(["com.evil", "ai.onnx.ml", "ai.onnx", self._hostile(case)])
        elif how in ("attr-type", "attr-value", "attr-drop") and node.attribute:
            attr = rng.choice(node.attribute)
            if how == "attr-drop":
                node.attribute.remove(attr)
            elif how == "attr-type":
                new = rng.choice([1.5, "text", [1, 2], [0.5], 3])
                replacement = helper.make_attribute(attr.name, new)
                attr.CopyFrom(replacement)
                if rng.random() < 0.2:
                    attr.type = rng.choice([0, AttributeProto.GRAPH, AttributeProto.TENSOR, AttributeProto.TYPE_PROTO])
            else:
                big = rng.choice([0, -1, -7, 2**40, 3, 1])
                if attr.type == AttributeProto.INT:
                    attr.i = big
                elif attr.type == AttributeProto.INTS:
                    attr.ints[:] = [big] * max(1, len(attr.ints) + rng.choice([-1, 0, 0, 1]))
                elif attr.type == AttributeProto.FLOAT:
                    attr.f = rng.choice([float("nan"), float("inf"), -1e30, 0.0])
        elif how == "attr-add":
            name = rng.choice(["group", "strides", "axis", "perm", "pads", "kernel_shape", "dilations", "blocksize"])
            del_at = [i for i, a in enumerate(node.attribute) if a.name == name]
            for i in reversed(del_at):
                del node.attribute[i]
            node.attribute.append(helper.make_attribute(name, rng.choice([0, 3, -1, [0, 0], [1, 2, 3], [7, 7], 2**33])))
        elif how.startswith("init") and g.initializer:
            init = rng.choice(g.initializer)
            if how == "init-raw":
                if init.raw_data:
                    init.raw_data = init.raw_data[: rng.randrange(len(init.raw_data))]
                else:
                    init.raw_data = b"\x00" * rng.randint(0, 9)
            elif how == "init-dims":
                dims = list(init.dims)
                choice = rng.choice(["add", "neg", "huge", "zero", "drop"])
                if choice == "add":
                    dims.append(2)
                elif choice == "neg" and dims:
                    dims[0] = -dims[0] or -1
                elif choice == "huge":
                    dims = [2**40, 2**40]
                elif choice == "zero" and dims:
                    dims[0] = 0
                elif dims:
                    dims.pop()
                init.ClearField("dims")
                init.dims.extend(dims)
            else:
                init.data_type = rng.choice([0, 2, 8, 9, 14, 16, 17, 22, 40])
        elif how == "external" and g.initializer:
            init = rng.choice([i for i in g.initializer if i.raw_data] or list(g.initializer))
            raw = init.raw_data or np.zeros(int(np.prod(init.dims, dtype=np.int64)) * 4, np.uint8).tobytes()
            location = rng.choice(["../canary.bin", "../../canary.bin", "CANARY_ABS", "sub/../../canary.bin", "link.bin",
                                   "w.bin", "w.bin", "missing.bin", "sub", ".", ""])
            if location == "CANARY_ABS":
                location = str(OUTSIDE_CANARY)
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.data_location = TensorProto.EXTERNAL
            entries = {"location": location, "offset": rng.choice(["0", "0", "4", "-8", "99999999", "x"]),
                       "length": rng.choice([str(len(raw)), str(len(raw)), "0", "-1", str(2**62)])}
            for key, value in entries.items():
                if rng.random() < 0.9:
                    e = init.external_data.add()
                    e.key, e.value = key, value
            case["files"]["w.bin"] = raw
            case["links"]["link.bin"] = "../canary.bin"
        elif how == "input-dims" and g.input:
            inp = rng.choice(g.input)
            shape = inp.type.tensor_type.shape
            if shape.dim:
                d = rng.choice(shape.dim)
                v = rng.choice([0, -1, 10**12, 2**62, None, None])
                if v is None:
                    d.dim_param = self._hostile(case) or "N"
                else:
                    d.dim_value = v
        elif how == "input-type" and g.input:
            rng.choice(g.input).type.tensor_type.elem_type = rng.choice([0, 2, 6, 7, 8, 9, 10, 11, 16, 99])
        elif how == "drop-input" and g.input:
            g.input.remove(rng.choice(g.input))
        elif how == "opset":
            model.opset_import[0].version = rng.choice([0, 1, 6, 11, 13, 21, 99, -3])
        elif how == "ir-version":
            model.ir_version = rng.choice([0, 1, 2, 3, 7, 10, 99])
        elif how == "output-extra":
            g.output.append(helper.make_tensor_value_info(rng.choice(values + ["ghost"]), TensorProto.FLOAT, None))
        elif how == "metadata" and g.input:
            # A symbolic dim and an export size for it in metadata_props (read by the check's sizes).
            inp = rng.choice(g.input)
            dims = inp.type.tensor_type.shape.dim
            symbol = rng.choice(["N", "batch", self._hostile(case) or "S"])
            if dims:
                rng.choice(dims).dim_param = symbol
            prop = model.metadata_props.add()
            prop.key, prop.value = symbol, rng.choice(["0", "-1", "3", str(10**12), "x", "1e3", self._hostile(case)])
            case["check"] = rng.choice(["end", "end", "off"])
        elif how == "subgraph":
            sub = helper.make_graph([helper.make_node("Identity", [node.output[0]], ["then_out"])], "then", [],
                                    [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, None)])
            cond = helper.make_node("If", [rng.choice(values)], ["if_out"], name="if", then_branch=sub,
                                    else_branch=copy.deepcopy(sub))
            g.node.append(cond)
            g.output.append(helper.make_tensor_value_info("if_out", TensorProto.FLOAT, None))
        return model.SerializeToString()

    # arguments

    def _args(self, data: bytes, case) -> None:
        rng = self.rng
        args = case["args"]
        for _ in range(rng.randint(1, 2)):
            how = rng.choice(["shape", "input_nodes", "output_nodes", "output-file", "output-under-file", "dump-ir-file",
                              "input_data", "existing", "existing-overwrite", "report-file", "check-each", "seed"])
            case["mutations"].append(f"args:{how}")
            if how == "shape":
                args += ["--shape", rng.choice(["1,3,6,6", "2,8", "0,0", "1,x", "-1,3", "99999999,99999999,9999999",
                                                "1", "2,3,4", "[1, 3, 32, 32]", "2,12,0"])]
            elif how == "input_nodes":
                args += ["--input_nodes", rng.choice(["x", "a", "nope", self._hostile(case) or "n"])]
            elif how == "output_nodes":
                args += ["--output_nodes", rng.choice(["y", "r", "h", "ghost", "x", self._hostile(case) or "n"])]
            elif how == "output-file":
                case["output"] = "afile"
            elif how == "output-under-file":
                case["output"] = "afile/sub"
            elif how == "report-file":
                args += ["--report", "{case}/afile"]
            elif how == "dump-ir-file":
                args += ["--dump-ir", "{case}/afile"]
            elif how == "input_data":
                case["input_data"] = rng.choice(["garbage", "wrong-key", "wrong-shape", "single", "missing"])
            elif how == "existing":
                case["existing"] = True
            elif how == "existing-overwrite":
                case["existing"] = case["overwrite"] = True
            elif how == "check-each":
                case["check"] = "each"
            else:
                args += ["--seed", rng.choice(["0", "-1", "99999999999999999999", "x"])]


# -- running one case (in the worker) ---------------------------------------------------------


def _write_case(case: dict[str, Any], case_dir: Path) -> list[str]:
    """Lay out the case's files and return the command-line arguments."""
    import numpy as np

    model_dir = case_dir / "model"
    model_dir.mkdir()
    (case_dir / "canary.bin").write_bytes(np.full(4096, 1234.5, np.float32).tobytes())
    (case_dir / "afile").write_text("a file, not a folder\n")
    path = model_dir / case["file_name"]
    path.write_bytes(case["model"])
    for name, data in case["files"].items():
        (model_dir / name).write_bytes(data)
    for name, target in case["links"].items():
        with contextlib.suppress(OSError):
            (model_dir / name).symlink_to(target)
    out = case_dir / case.get("output", "out")
    argv = ["--model_file", str(path), "--output", str(out), "--check", case.get("check", "off")]
    if case.get("input_data"):
        npz = case_dir / "inputs.npz"
        what = case["input_data"]
        if what == "garbage":
            npz.write_bytes(b"PK\x03\x04 not really a zip")
        elif what == "wrong-key":
            np.savez(npz, nothing=np.ones(3, np.float32))
        elif what == "wrong-shape":
            np.savez(npz, x=np.ones((7, 7), np.float32), a=np.ones(2, np.float32))
        elif what == "single":
            with open(npz, "wb") as f:
                np.save(f, np.ones(3))
        argv += ["--input_data", str(npz)]
    if case["existing"] and not out.exists() and out.parent.is_dir():
        out.mkdir()
        (out / f"{path.stem}.py").write_text("# mine\n")
    if case["overwrite"]:
        argv.append("--overwrite")
    argv += [a.replace("{case}", str(case_dir)) for a in case["args"]]
    return argv


def _snapshot(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def _code_names(script: str) -> set[str]:
    names = set()
    with contextlib.suppress(tokenize.TokenError, SyntaxError):
        for tok in tokenize.generate_tokens(io.StringIO(script).readline):
            if tok.type == tokenize.NAME:
                names.add(tok.string)
    return names


def run_case(case: dict[str, Any], case_dir: Path) -> dict[str, Any]:
    """Run one case through the command in this process (working directory: the case folder) and classify it."""
    case_dir.mkdir(parents=True)
    cwd = os.getcwd()
    os.chdir(case_dir)  # the hostile names try to write CANARY relative to it
    try:
        return _run_case(case, case_dir)
    finally:
        os.chdir(cwd)


def _run_case(case: dict[str, Any], case_dir: Path) -> dict[str, Any]:
    from mindconverter.cli import main

    argv = _write_case(case, case_dir)
    out = Path(argv[argv.index("--output") + 1])
    watched = [out, case_dir / "afile"]
    before = {str(p): _snapshot(p) if p.is_dir() else (p.read_bytes() if p.is_file() else None) for p in watched}
    _OPEN_WATCH[:] = [str(case_dir / "canary.bin"), os.path.realpath(case_dir / "canary.bin"), str(OUTSIDE_CANARY)]
    _OPENED.clear()
    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        try:
            rc = main(["-q", *argv])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # noqa: BLE001 - anything escaping main() is a finding
            import traceback

            rc = -1
            stderr.write("Traceback (escaped main):\n" + "".join(traceback.format_exception(exc)))
    opened_outside = list(_OPENED)
    _OPEN_WATCH[:] = []
    err = stderr.getvalue()
    result: dict[str, Any] = {"rc": rc, "stderr": err[-2000:], "argv": argv}
    staging_left = [str(p) for p in case_dir.rglob(".mindconverter-staging-*")]
    if opened_outside:
        return {**result, "outcome": "read-outside", "detail": opened_outside[0]}
    if (case_dir / CANARY).exists():
        return {**result, "outcome": "injection", "detail": "canary written during conversion"}
    if "Traceback" in err:
        return {**result, "outcome": "traceback"}
    if staging_left:
        return {**result, "outcome": "partial", "detail": f"staging left: {staging_left[0]}"}
    overwrite = "--overwrite" in argv
    if rc == 0:
        return {**result, **_check_success(case_dir, out, argv, before, overwrite)}
    if rc == 2:
        return {**result, "outcome": "usage"}
    import re

    codes = [int(c) for c in re.findall(r"error\[(\d{7})\]", err)]
    if rc != 1 or not codes:
        return {**result, "outcome": "internal", "detail": f"exit {rc} without a coded error"}
    if codes[0] == 9000000:
        return {**result, "outcome": "internal", "detail": err.splitlines()[0][:300]}
    result["code"] = codes[0]
    for p in watched:
        now = _snapshot(p) if p.is_dir() else (p.read_bytes() if p.is_file() else None)
        if codes[0] in OUTPUTS_BY_DESIGN and p == out:
            continue
        if now != before[str(p)]:
            kind = "changed" if before[str(p)] else "partial"
            return {**result, "outcome": kind, "detail": f"{p} changed by a failed run"}
    return {**result, "outcome": "coded"}


def _check_success(case_dir: Path, out: Path, argv: list[str], before, overwrite: bool) -> dict[str, Any]:
    name = Path(argv[argv.index("--model_file") + 1]).stem
    files = [out / f"{name}.py", out / f"{name}.ckpt", out / f"report_of_{name}.txt", out / f"report_of_{name}.json",
             out / f"weight_map_of_{name}.json"]
    if "--report" in argv:
        rep = Path(argv[argv.index("--report") + 1])
        files = files[:2] + [rep / f.name for f in files[2:]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        return {"outcome": "partial", "detail": f"exit 0 but missing {missing[0]}"}
    if not overwrite and before[str(out)]:
        for rel, digest in before[str(out)].items():
            if _snapshot(out).get(rel) != digest:
                return {"outcome": "changed", "detail": f"{rel} replaced without --overwrite"}
    script = files[0].read_text()
    try:
        ast.parse(script)
    except SyntaxError as exc:
        return {"outcome": "broken-script", "detail": f"does not parse: {exc}"}
    bad = _code_names(script) & FORBIDDEN_NAMES
    if bad:
        return {"outcome": "injection", "detail": f"script code uses {sorted(bad)}"}
    report = json.loads(files[3].read_text())
    try:
        from mindconverter.runtime_check.mindspore_run import build_network

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _net, missing_keys, unused = build_network(files[0], files[1], report.get("network_class", "MindSporeModel"))
    except Exception as exc:  # noqa: BLE001 - any failure to import or instantiate is a finding
        return {"outcome": "broken-script", "detail": f"{type(exc).__name__}: {str(exc)[:300]}"}
    if (case_dir / CANARY).exists():
        return {"outcome": "injection", "detail": "canary written by the generated script"}
    if missing_keys or unused:
        return {"outcome": "broken-script", "detail": f"checkpoint mismatch: {missing_keys[:3]} {unused[:3]}"}
    return {"outcome": "converted"}


_OPEN_WATCH: list[str] = []
_OPENED: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if _OPEN_WATCH and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path in _OPEN_WATCH or os.path.realpath(path) in _OPEN_WATCH:
            _OPENED.append(path)


def _worker(conn, workdir: str) -> None:
    os.environ.setdefault("GLOG_v", "3")
    sys.addaudithook(_audit)
    import logging

    logging.disable(logging.CRITICAL)
    import mindconverter.cli  # noqa: F401 - imports paid once
    from mindconverter.runtime_check.mindspore_run import import_mindspore

    import_mindspore()
    OUTSIDE_CANARY.write_bytes(b"\0" * 4096)
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg is None:
            return
        index, case = msg
        case_dir = Path(workdir) / f"case{index}"
        try:
            result = run_case(case, case_dir)
        except BaseException as exc:  # noqa: BLE001 - the harness itself failed on this case
            result = {"outcome": "harness", "detail": f"{type(exc).__name__}: {exc}"}
        finally:
            shutil.rmtree(case_dir, ignore_errors=True)
        conn.send(result)


class Worker:
    def __init__(self, workdir: Path) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, str(workdir)), daemon=True)
        self.proc.start()
        if not self.conn.poll(300) or self.conn.recv() != "ready":
            raise RuntimeError("fuzz worker did not start")

    def run(self, index: int, case: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.conn.send((index, case))
        if not self.conn.poll(timeout):
            return {"outcome": "hang", "detail": f"no result in {timeout:g} s"}
        try:
            return self.conn.recv()
        except EOFError:
            return {"outcome": "crash", "detail": f"worker died (exit {self.proc.exitcode})"}

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


# -- driver -----------------------------------------------------------------------------------


def fuzz(cases: int, seed: int, timeout: float = 60.0, check_fraction: float = 0.1, keep: Path | None = None,
         first: int = 0, log=print) -> dict[str, Any]:
    """Run `cases` cases (numbered from `first`, each reproducible from seed and number); returns the counts."""
    seeds = seed_models()
    outcomes: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    findings: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="mindconverter-fuzz-"))
    worker = Worker(workdir)
    start = time.perf_counter()
    try:
        for index in range(first, first + cases):
            rng = random.Random(f"{seed}:{index}")
            case = Mutator(rng, seeds).case()
            if "check" not in case and rng.random() < check_fraction:
                case["check"] = "end"
            result = worker.run(index, case, timeout)
            if result["outcome"] in ("hang", "crash"):
                worker.proc.kill()
                worker.proc.join()
                worker = Worker(workdir)
            outcomes[result["outcome"]] += 1
            kinds[case["kind"]] += 1
            if "code" in result:
                codes[f"{result['code']:07d}"] += 1
            if result["outcome"] not in ACCEPTABLE:
                finding = {"index": index, "seed": seed, "mutations": case["mutations"], **result}
                findings.append(finding)
                log(f"FINDING case {index}: {result['outcome']}: {result.get('detail', '')} {case['mutations']}")
                if keep is not None:
                    d = keep / f"case{index}"
                    d.mkdir(parents=True, exist_ok=True)
                    (d / "model.onnx").write_bytes(case["model"])
                    (d / "case.json").write_text(json.dumps({k: v for k, v in case.items() if k not in ("model", "files")} | {
                        "result": result}, indent=2, default=str))
            if (index - first + 1) % 100 == 0:
                log(f"{index - first + 1}/{cases} cases, {time.perf_counter() - start:.0f} s: {dict(outcomes)}")
    finally:
        worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"cases": cases, "seed": seed, "first": first, "seconds": round(time.perf_counter() - start, 1),
            "outcomes": dict(outcomes), "codes": dict(sorted(codes.items())), "kinds": dict(kinds), "findings": findings}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--first", type=int, default=0, help="number of the first case (run a budget in chunks)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per case before it counts as a hang")
    p.add_argument("--check-fraction", type=float, default=0.1, help="share of cases run with --check end")
    p.add_argument("--keep", type=Path, help="save findings (model + case.json) here")
    p.add_argument("--json", type=Path, help="write the counts here")
    args = p.parse_args(argv)
    summary = fuzz(args.cases, args.seed, args.timeout, args.check_fraction, args.keep, args.first)
    print(json.dumps({k: v for k, v in summary.items() if k != "findings"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
