"""Every registered emitter has a parity test: the list of supported ops never claims more than is tested.

Each tests/backend/test_*.py module declares what it tests in a module-level `COVERS` set: the op
name (`"onnx.Squeeze"`) for the emitter whose opset range is open-ended, and `"onnx.Squeeze@1..12"`
for an emitter registered for a closed range of older opsets (tested at such an opset with the
`keep_opset` fixture, since the frontend otherwise upgrades models to opset 17).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mindconverter.backend.registry import EMITTERS, EmitterSpec, load_emitters

HERE = Path(__file__).parent


def spec_key(spec: EmitterSpec) -> str:
    return spec.op if spec.until is None else f"{spec.op}@{spec.since}..{spec.until}"


def covered() -> dict[str, str]:
    """COVERS entry -> the test module declaring it."""
    entries: dict[str, str] = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        spec = importlib.util.spec_from_file_location(f"_covers_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for entry in getattr(module, "COVERS", ()):
            entries.setdefault(entry, path.name)
    return entries


def registered() -> dict[str, EmitterSpec]:
    load_emitters()
    return {spec_key(s): s for specs in EMITTERS.values() for s in specs}


def test_every_emitter_has_a_parity_test():
    entries = covered()
    missing = sorted(key for key in registered() if key not in entries)
    assert not missing, (
        f"emitters without a parity test: {missing}; "
        "add a test and list the key in a tests/backend/test_*.py module's COVERS"
    )


def test_covers_names_only_registered_emitters():
    emitters = registered()
    unknown = {entry: module for entry, module in covered().items() if entry not in emitters}
    assert not unknown, f"COVERS lists emitters that are not registered: {unknown}"
