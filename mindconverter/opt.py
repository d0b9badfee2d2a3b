"""`mindconverter-opt`: read IR text, run a pass list, print the IR (like mlir-opt).

    mindconverter-opt dumps/02-fold-constants.ir --passes cleanup,dce
    mindconverter-opt my.ir --pass-plugin my_passes.py --passes my-pass --print-ir-after-change
    mindconverter-opt dumps/06-infer-shapes.ir --explain-pattern fuse-dense

It is the tool for writing and testing passes: without passes it prints its input back unchanged
(every dump the pipeline writes round-trips). Weights come from `weights.npz` beside the input (as
`--dump-ir` writes it), `--weights FILE.npz` and `--model_file FILE.onnx` (its initializers).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import attrs

from mindconverter.logs import console_logger

EXIT_OK, EXIT_ERROR = 0, 1
_HEADER = re.compile(r"^// mindconverter-ir v1  (.*)$")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mindconverter-opt",
        description="Read mindconverter IR text, run passes on it, and print the result.",
        epilog="example: mindconverter-opt dumps/03-fold-constants.ir --passes cleanup,dce -o out.ir",
    )
    p.add_argument("input", nargs="?", default="-", metavar="FILE.ir", help="IR text to read (default: stdin)")
    p.add_argument("-p", "--passes", metavar="LIST", default="", help="comma-separated passes to run, in order")
    p.add_argument("--pass-plugin", action="append", default=[], metavar="FILE", help="a .py file registering passes (repeatable)")
    p.add_argument("--weights", action="append", default=[], metavar="FILE.npz", help="weights by key (repeatable)")
    p.add_argument("--model_file", metavar="FILE.onnx", help="take weights from this model's initializers")
    p.add_argument("-o", "--output", metavar="FILE", help="write the IR here instead of stdout")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    p.add_argument("--print-ir-after", action="append", default=[], metavar="PASS", help="print the IR after this pass")
    p.add_argument("--print-ir-after-change", action="store_true", help="print the IR after each pass that changed it")
    p.add_argument("--print-ir-after-failure", action="store_true", help="print the IR a failing pass left behind")
    p.add_argument("--explain-pattern", action="append", default=[], metavar="NAME",
                   help="after the passes, list every root candidate of this pattern and why it did (not) match")
    p.add_argument("--no-verify", action="store_true", help="do not verify the input (passes are still verified)")
    p.add_argument("--list-passes", action="store_true", help="list the registered passes and exit")
    p.add_argument("--help-passes", action="store_true",
                   help="list the registered passes with their typed options (name, type, default) and exit")
    p.add_argument("-v", "--verbose", action="count", default=0, help="show tracebacks of errors")
    return p


def _split(values: list[str] | str) -> list[str]:
    values = [values] if isinstance(values, str) else values
    return [x.strip() for v in values for x in v.split(",") if x.strip()]


def _header_of(text: str) -> str | None:
    first = text.split("\n", 1)[0]
    m = _HEADER.match(first)
    return m.group(1) if m else None


def _new_header(header: str | None, last_pass: str | None) -> str | None:
    if header is None or last_pass is None:
        return header
    if re.search(r"(^|  )after: \S+", header):
        return re.sub(r"(^|  )after: \S+", lambda m: f"{m.group(1)}after: {last_pass}", header, count=1)
    return f"{header}  after: {last_pass}"


def explain_text(module, name: str) -> str:
    """`--explain-pattern NAME`: one line per root candidate: matches, or why not."""
    from mindconverter.errors import ArgumentError
    from mindconverter.passes.pattern import PATTERNS, explain

    if name not in PATTERNS:
        raise ArgumentError(f"unknown pattern '{name}'", fix=f"known patterns: {', '.join(sorted(PATTERNS)) or '(none)'}")
    candidates = explain(module, name)
    lines = [f"// pattern '{name}' (roots: {', '.join(PATTERNS[name].roots)}): {len(candidates)} candidate(s)"]
    for c in candidates:
        lines.append(f"//   {c.op_name} loc(\"{c.node}\"): " + ("matches" if c.matched else f"rejected: {c.reason}"))
    return "\n".join(lines)


def load_module(text: str, source: str, weight_files: list[Path], model_file: str | None, verify_input: bool):
    """Parse IR text with its weights (model initializers, then .npz files on top)."""
    from mindconverter.errors import IRSyntaxError, VerifyError
    from mindconverter.ir.core import WeightStore
    from mindconverter.ir.parser import parse
    from mindconverter.ir.verify import verify
    from mindconverter.weights_io import load_weights

    weights = WeightStore()
    if model_file:
        from mindconverter.frontend.onnx import load_onnx

        weights = load_onnx(model_file).module.weights
    for f in weight_files:
        arrays, origins = load_weights(f)
        for k, a in arrays.items():
            weights.set(k, a, origins.get(k))
    try:
        module = parse(text, weights)
        _stub_missing_weights(module, source)
        if verify_input:
            verify(module)
    except (IRSyntaxError, VerifyError) as exc:
        exc.where = f"{source}: {exc.where}" if exc.where else source
        raise
    return module


def _stub_missing_weights(module, source: str) -> None:
    """Weights the IR names but no file gave: a pass that reads one fails clearly; the others run."""
    from mindconverter.errors import ArgumentError

    def missing(key: str):
        def load():
            raise ArgumentError(
                f"weight '{key}' is needed but was not loaded",
                where=source,
                fix="give the source model with --model_file FILE.onnx (its initializers) or the arrays with --weights FILE.npz",
            )

        return load

    for op in module.ops():
        key = op.attrs.get("key") if op.name in ("ir.param", "ir.const") else None
        if isinstance(key, str) and key not in module.weights:
            module.weights.set(key, missing(key))


def run(args: argparse.Namespace, out=None) -> int:
    """Run mindconverter-opt on parsed arguments; the IR goes to `out` (default: stdout) or --output."""
    out = out if out is not None else sys.stdout
    from mindconverter.errors import ArgumentError
    from mindconverter.ir.printer import print_func, print_module
    from mindconverter.passes.manager import PASSES, PassManager, load_builtin_passes, load_plugin

    load_builtin_passes()
    for plugin in args.pass_plugin:
        load_plugin(plugin)
    if args.list_passes or args.help_passes:
        for name in sorted(PASSES):
            print(f"{name:24} {PASSES[name].summary}", file=out)
            for option, kind, default, text in PASSES[name].option_fields() if args.help_passes else ():
                shown = "{}" if isinstance(default, attrs.Factory) else repr(default)
                print(f"    {option} ({kind}, default {shown}): {text}", file=out)
        return EXIT_OK
    if args.input == "-":
        text, source, weight_files = sys.stdin.read(), "<stdin>", []
    else:
        path = Path(args.input)
        if not path.is_file():
            raise ArgumentError(f"IR file '{path}' does not exist", fix="give a file written by --dump-ir, or - for stdin")
        text, source = path.read_text(), str(path)
        beside = path.parent / "weights.npz"
        weight_files = [beside] if beside.is_file() else []
    for w in args.weights:
        if not Path(w).is_file():
            raise ArgumentError(f"--weights file '{w}' does not exist")
        weight_files.append(Path(w))
    module = load_module(text, source, weight_files, args.model_file, not args.no_verify)
    passes = _split(args.passes)

    def emit(s: str) -> None:
        print(s, end="" if s.endswith("\n") else "\n", file=out)

    header = _header_of(text)
    manager = PassManager(
        passes,
        print_after_all=args.print_ir_after_all,
        print_after=_split(args.print_ir_after),
        print_after_change=args.print_ir_after_change,
        print_after_failure=args.print_ir_after_failure,
        print_fn=emit,
        source_name=(re.search(r"source: (\S+)", header or "") or [None, ""])[1],
        dump_frontend=False,
    )
    manager.run(module)
    for name in args.explain_pattern:
        emit(explain_text(module, name))
    is_module = text.lstrip().startswith("module") or bool(re.match(r"\s*(//[^\n]*\n\s*)*module\b", text))
    if is_module:
        result = print_module(module, header=_new_header(header, passes[-1] if passes else None))
    else:
        result = "\n".join(print_func(f) for f in module.funcs)
    if args.output:
        Path(args.output).write_text(result)
    else:
        out.write(result)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger = console_logger(logging.DEBUG if args.verbose else logging.WARNING)
    from mindconverter.errors import MindConverterError, internal_error_message

    try:
        return run(args)
    except MindConverterError as exc:
        if args.verbose:
            logger.exception("traceback:")
        print(exc.render(), file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `mindconverter-opt x.ir | head`
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - never a traceback without -v
        if args.verbose:
            raise
        print(internal_error_message(exc), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
