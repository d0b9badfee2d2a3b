"""The table's mappings in GRAPH mode: what model code calls inside `construct` must also compile.

Slow (one graph compilation per entry): `pytest -m slow tests/migrate/test_api_table_graph.py`.
Ops run inside a Cell's construct; layers are built as in the PYNATIVE test, get the torch weights,
and are called in GRAPH mode. Results are compared with torch like the PYNATIVE test.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from mindconverter.migrate.table import load_table
from tests.migrate.api_harness import (
    Arr,
    _to_ms,
    _to_torch,
    compare,
    convert,
    copy_weights,
    forward_inputs,
    make_case,
    run_torch,
)

TABLE = load_table()
#: entries whose converted call is model code (tensor in, tensor out)
GRAPH = sorted(
    n for n, e in TABLE.entries.items()
    if e.test is not None and not e.test.get("kind") and e.returns_kind not in ("other",) and "expr" not in e.test
    and e.test.get("compare", "value") == "value"
)

pytestmark = pytest.mark.slow

_WRAP = '''

class _Graph(nn.Cell):
    def construct(self, *args):
        return run(*args)
'''


@pytest.mark.parametrize("name", GRAPH)
def test_entry_graph(name, tmp_path):
    import mindspore as ms

    entry = TABLE.entries[name]
    case = make_case(entry)
    result = convert(case)
    code = result.code
    is_layer = "forward" in entry.test
    if not is_layer:
        if "from mindspore import nn" not in code:
            code = "from mindspore import nn\n" + code
        code += _WRAP
    path = tmp_path / "snippet.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(f"_graph_{abs(hash(name))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    expected = run_torch(case)
    inputs = [_to_ms(v) for v in case.inputs.values()]
    try:
        if is_layer:
            import torch

            ms.set_context(mode=ms.PYNATIVE_MODE)
            cells = module.run(*inputs)
            fin = forward_inputs(case)
            casts = entry.test.get("ms_cast", {})
            ms.set_context(mode=ms.GRAPH_MODE)
            for i, (tm, mm) in enumerate(zip(expected, cells, strict=True)):
                tm.eval()
                mm.set_train(False)
                copy_weights(tm, mm, entry.test.get("weights"))
                with torch.no_grad():
                    e = tm(*[_to_torch(x) for x in fin])
                a = mm(*[_to_ms(Arr(x.value.astype(casts[str(k)])) if str(k) in casts else x) for k, x in enumerate(fin)])
                compare(entry, f"graph style {i}", e, a)
        else:
            ms.set_context(mode=ms.GRAPH_MODE)
            actual = module._Graph()(*inputs)
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                compare(entry, f"graph style {i}", e, a)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
        sys.modules.pop(spec.name, None)
