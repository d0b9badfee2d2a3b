"""Driver helpers around the pass pipeline: the pipeline from names or functions, `--resume-ir`, `--explain-pattern`, check inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mindconverter.errors import ArgumentError


class Explainer:
    """`--explain-pattern`: explain each pattern just before its pass first runs, or after all passes."""

    def __init__(self, names: Sequence[str], then: Callable[[str, Any], None] | None) -> None:
        from mindconverter.passes.pattern import PATTERNS

        unknown = [n for n in names if n not in PATTERNS]
        if unknown:
            raise ArgumentError(f"--explain-pattern names unknown pattern '{unknown[0]}'",
                                fix=f"known patterns: {', '.join(sorted(PATTERNS)) or '(none)'}")
        self.pending = list(dict.fromkeys(names))
        self.then = then

    def before_pass(self, name: str, module) -> None:
        if name in self.pending:
            self._explain(name, module)
        if self.then is not None:
            self.then(name, module)

    def finish(self, module) -> None:
        for name in list(self.pending):
            self._explain(name, module)

    def _explain(self, name: str, module) -> None:
        from mindconverter.opt import explain_text

        self.pending.remove(name)
        print(explain_text(module, name))


def pipeline_names(passes, default: tuple[str, ...], skip: Sequence[str]) -> tuple[str, ...]:
    """Pass names from `passes` (names, or functions registered with @register_pass), minus `skip`."""
    from mindconverter.passes.manager import PASSES, load_builtin_passes, register_pass

    load_builtin_passes()
    names: list[str] = []
    for p in passes if passes else default:
        if isinstance(p, str):
            names.append(p)
            continue
        if not callable(p):
            raise ArgumentError(f"passes= entries must be pass names or pass functions, got {type(p).__name__}")
        found = [n for n, spec in PASSES.items() if spec.fn is p]
        if not found:
            found = [p.__name__.replace("_", "-")]
            register_pass(found[0])(p)
        names.append(found[0])
    unknown = [s for s in skip if s not in PASSES]
    if unknown:
        raise ArgumentError(f"--skip-pass names unknown pass '{unknown[0]}'", fix=f"known passes: {', '.join(sorted(PASSES))}")
    return tuple(n for n in names if n not in set(skip))


def resume(path: Path, frontend_module):
    """The module of an IR dump, with the model's weights plus the dump folder's weights.npz on top.

    Returns the module and the arrays read from weights.npz (dumps of the resumed run keep them).
    """
    from mindconverter.errors import IRSyntaxError, VerifyError
    from mindconverter.ir.parser import parse
    from mindconverter.ir.verify import verify
    from mindconverter.weights_io import load_weights

    if not path.is_file():
        raise ArgumentError(f"--resume-ir file '{path}' does not exist", fix="give an IR dump written by --dump-ir")
    weights = frontend_module.weights
    npz = path.parent / "weights.npz"
    arrays: dict[str, np.ndarray] = {}
    if npz.is_file():
        arrays, origins = load_weights(npz)
        for key, array in arrays.items():
            weights.set(key, array, origins.get(key))
    try:
        module = parse(path.read_text(), weights)
        verify(module)
    except (IRSyntaxError, VerifyError) as exc:
        exc.where = f"{path}: {exc.where}" if exc.where else str(path)
        if isinstance(exc, VerifyError) and "key" in exc.what:
            exc.fix = (exc.fix + "; " if exc.fix else "") + f"weights come from the model and {npz}"
        raise
    return module, arrays


def check_data(module, source, input_data, seed, check_sizes):
    """The check's inputs: --input_data, or seeded data at each test size (runtime_check/sizes.py)."""
    from mindconverter.runtime_check.inputs import load_input_data
    from mindconverter.runtime_check.sizes import CheckInputs, export_sizes_of, parse_check_sizes

    given = load_input_data(Path(input_data), module.main.args) if input_data else None
    metadata = {p.key: p.value for p in source.source_model.metadata_props}
    return CheckInputs(module, given=given, seed=seed, requested=parse_check_sizes(check_sizes),
                       export_sizes=export_sizes_of(metadata))
