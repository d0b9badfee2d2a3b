"""The `mindconverter` command: MindConverter's flags plus checking and IR debugging options.

Start-up stays instant: nothing heavy (mindspore, onnx) is imported before the arguments parse.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mindconverter import __version__
from mindconverter.logs import console_logger

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mindconverter",
        description="Convert an ONNX model into a readable MindSpore script (.py), a checkpoint (.ckpt), "
        "a migration report and a weight map, and check that the result computes the same numbers.",
        epilog="example: mindconverter --model_file resnet50.onnx --shape 1,3,224,224 --input_nodes input --output out/\n"
        "migrate scripts: mindconverter --in_file train.py --output out/ (a folder converts as a project)\n"
        "shrink a failing model: mindconverter reduce --model_file m.onnx --output small.onnx (see mindconverter reduce -h)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"mindconverter {__version__}")
    g = p.add_argument_group("model or scripts (MindConverter-compatible; exactly one of --model_file / --in_file)")
    g.add_argument("--model_file", metavar="FILE", help="the model to convert (.onnx, or a frozen TensorFlow graph .pb)")
    g.add_argument("--in_file", metavar="FILE|DIR",
                   help="a PyTorch script, or a project folder, to migrate to MindSpore source (API table + rewrites)")
    g.add_argument("--target", choices=("classic", "mint"), default="classic",
                   help="--in_file: map to mindspore.nn/ops (classic, runs on CPU) or mindspore.mint (default: classic)")
    g.add_argument("--shape", nargs="+", metavar="SHAPE", help="input shapes, e.g. 1,3,224,224; one per input, separated by spaces")
    g.add_argument("--input_nodes", nargs="+", metavar="NAME", help="input names the --shape values apply to")
    g.add_argument("--output_nodes", nargs="+", metavar="NAME", help="output tensor names; the graph is cut there")
    g.add_argument("--output", default="output", metavar="DIR",
                   help="folder for NAME.py and NAME.ckpt, or the migrated scripts (default: ./output)")
    g.add_argument("--report", metavar="DIR", help="folder for the reports and weight map (default: the --output folder)")
    c = p.add_argument_group("parity check")
    c.add_argument("--check", choices=("off", "end", "each"), default="end",
                   help="compare with onnxruntime: at the end, or also after the frontend and every pass (each); "
                   "a mismatch names the first diverging op (default: end)")
    c.add_argument("--check-mode", choices=("pynative", "graph", "both"), default="pynative", help="MindSpore execution mode(s) for the check")
    c.add_argument("--input_data", metavar="FILE.npz", help="inputs for the check, keyed by input name (default: seeded random data)")
    c.add_argument("--rtol", type=float, help="relative tolerance (default per dtype: 1e-3 for float32)")
    c.add_argument("--atol", type=float, help="absolute tolerance (default per dtype: 1e-4 for float32)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random check inputs")
    c.add_argument("--check-sizes", nargs="+", action="extend", default=[], metavar="NAME=SIZES",
                   help="test sizes for a symbolic input dim, e.g. batch=1,3 seq=5,16; the check runs at every "
                   "combination (default: batch-like dims 1 and 3, others 16 and 9 or the export size)")
    d = p.add_argument_group("IR and passes")
    d.add_argument("--dump-ir", metavar="DIR", help="write the IR after the frontend and after each pass (NN-pass-name.ir)")
    d.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    d.add_argument("--print-ir-after", action="append", default=[], metavar="PASS",
                   help="print the IR after this pass (repeatable, or a comma-separated list)")
    d.add_argument("--print-ir-after-change", action="store_true", help="print the IR after each pass that changed it")
    d.add_argument("--print-ir-after-failure", action="store_true", help="print the IR a failing pass left behind")
    d.add_argument("--passes", metavar="LIST", help="comma-separated pass pipeline instead of the default")
    d.add_argument("--fold-batchnorm", action="store_true",
                   help="fold each BatchNorm after a Conv into the Conv's weights (inference only: the result cannot train its BatchNorm)")
    d.add_argument("--skip-pass", action="append", default=[], metavar="PASS", help="leave this pass out of the pipeline (repeatable)")
    d.add_argument("--pass-plugin", action="append", default=[], metavar="FILE",
                   help="a .py file registering your own passes/patterns (repeatable); name them in --passes")
    d.add_argument("--explain-pattern", action="append", default=[], metavar="NAME",
                   help="list each root candidate of this pattern and why it did not match (before its pass runs)")
    d.add_argument("--resume-ir", metavar="FILE.ir",
                   help="start from this (edited) IR dump instead of the frontend; weights from the model and the "
                   "dump folder's weights.npz; only --passes run")
    o = p.add_argument_group("output")
    o.add_argument("--overwrite", action="store_true", help="replace existing output files")
    o.add_argument("--allow-unsupported", action="store_true", help="exit 0 even if some ops became placeholders")
    o.add_argument("--mindir", action="store_true",
                   help="also export NAME.mindir (the network with its weights; symbolic dims become dynamic inputs)")
    o.add_argument("-v", "--verbose", action="count", default=0, help="more detail; shows tracebacks of errors")
    o.add_argument("-q", "--quiet", action="store_true", help="only errors")
    return p


def _setup_logging(verbose: int, quiet: bool) -> None:
    console_logger(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)


def _split(values: list[str]) -> list[str]:
    return [x.strip() for v in values for x in v.split(",") if x.strip()]


_MODEL_ONLY = ("--shape", "--input_nodes", "--output_nodes", "--input_data", "--resume-ir", "--passes")


def _check_source(args: argparse.Namespace, argv: list[str]) -> None:
    """Exactly one of --model_file / --in_file; model-only flags not with --in_file."""
    from mindconverter.errors import ArgumentError

    if bool(args.model_file) == bool(args.in_file):
        raise ArgumentError(
            "give exactly one of --model_file and --in_file" if args.model_file else "nothing to convert",
            where="the command line",
            fix="--model_file MODEL.onnx converts a model; --in_file SCRIPT.py|DIR migrates PyTorch scripts",
        )
    if args.in_file:
        given = [f for f in _MODEL_ONLY if any(a == f or a.startswith(f + "=") for a in argv)]
        if given:
            raise ArgumentError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to --model_file",
                                where="the command line", fix="leave it out with --in_file")


def _migrate(args: argparse.Namespace) -> int:
    from mindconverter.migrate.driver import migrate_path

    result = migrate_path(args.in_file, args.output, args.report, target=args.target, overwrite=args.overwrite)
    if not args.quiet:
        r = result.rates()
        pct = 100.0 * r["converted_call_sites"] / r["call_sites"] if r["call_sites"] else 100.0
        print(f"migrated {args.in_file} -> {args.output} ({len(result.files)} script(s); "
              f"{r['converted_call_sites']}/{r['call_sites']} call sites converted, {pct:.1f}%); "
              f"report: {result.report_txt}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "reduce":
        from mindconverter.reduce import main as reduce_main

        return reduce_main(argv[1:])
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    from mindconverter.errors import InterruptedConversion, MindConverterError, internal_error_message
    from mindconverter.staging import interruption, interrupts_as_errors

    restore_signals = interrupts_as_errors()  # SIGINT/SIGTERM: staged files removed, one coded error
    try:
        _check_source(args, argv)
        if args.in_file:
            return _migrate(args)
        from mindconverter.api import convert

        result = convert(
            args.model_file,
            shape=args.shape,
            input_nodes=args.input_nodes,
            output_nodes=args.output_nodes,
            output=args.output,
            report=args.report,
            check=args.check,
            check_mode=args.check_mode,
            rtol=args.rtol,
            atol=args.atol,
            input_data=args.input_data,
            seed=args.seed,
            check_sizes=args.check_sizes,
            dump_ir=args.dump_ir,
            print_ir_after_all=args.print_ir_after_all,
            passes=[p.strip() for p in args.passes.split(",") if p.strip()] if args.passes else None,
            overwrite=args.overwrite,
            allow_unsupported=args.allow_unsupported,
            pass_plugins=args.pass_plugin,
            skip_passes=_split(args.skip_pass),
            print_ir_after=_split(args.print_ir_after),
            print_ir_after_change=args.print_ir_after_change,
            print_ir_after_failure=args.print_ir_after_failure,
            resume_ir=args.resume_ir,
            explain_patterns=_split(args.explain_pattern),
            fold_batchnorm=args.fold_batchnorm,
            mindir=args.mindir,
        )
    except MindConverterError as exc:
        if args.verbose:
            logging.getLogger("mindconverter").exception("traceback:")
        print((interruption() or exc).render(), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # a signal before the handlers were in place
        print(InterruptedConversion("interrupted; nothing was written").render(), file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - never show a traceback unless -v
        if args.verbose:
            raise
        interrupted = interruption()  # a signal inside C code can surface as another exception
        print(interrupted.render() if interrupted else internal_error_message(exc), file=sys.stderr)
        return EXIT_ERROR
    finally:
        restore_signals()
    if not args.quiet:
        print(f"converted {args.model_file} -> {result.script}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
