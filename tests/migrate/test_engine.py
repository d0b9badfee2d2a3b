"""The migration driver: name resolution, tensor tracking, unconverted marking, imports, reports, files."""

from __future__ import annotations

import ast
import json
import textwrap

import pytest

from mindconverter.errors import ArgumentError, FileWriteError, ScriptParseError
from mindconverter.migrate.driver import migrate_path, migrate_source
from mindconverter.migrate.report import render_txt


def conv(src: str, **kw):
    result = migrate_source(textwrap.dedent(src), strict=True, **kw)
    ast.parse(result.code)  # the output always parses
    return result


@pytest.mark.parametrize("imports, call", [
    ("import torch.nn as tnn", "tnn.Linear(4, 3)"),
    ("from torch import nn as tnn", "tnn.Linear(4, 3)"),
    ("import torch", "torch.nn.Linear(4, 3)"),
    ("from torch.nn import Linear", "Linear(4, 3)"),
])
def test_import_aliases_resolve_to_the_same_entry(imports, call):
    r = conv(f"{imports}\n\nlayer = {call}\n")
    assert "layer = nn.Dense(4, 3)" in r.code
    assert "from mindspore import nn" in r.code and "torch" not in r.code


@pytest.mark.parametrize("imports", ["import torch.nn.functional as F", "from torch.nn import functional as F"])
def test_functional_alias(imports):
    r = conv(f"{imports}\nimport torch\n\n\ndef f(x):\n    return torch.abs(x)\n")
    assert "return ops.abs(x)" in r.code and "functional" not in r.code


def test_comments_and_layout_survive():
    r = conv('''
        # header comment
        import torch


        def f(x, y):
            # a comment line
            z = torch.add(x, y)  # trailing comment
            return torch.exp(
                z,  # argument comment
            )
        ''')
    for text in ("# header comment", "# a comment line", "z = ops.add(x, y)  # trailing comment",
                 "        z,  # argument comment\n    )"):
        assert text in r.code, r.code


def test_unknown_torch_call_stays_with_a_comment_and_is_reported():
    r = conv("import torch\n\n\ndef f(x):\n    y = torch.frobnicate(x)  # mine\n    return y\n")
    assert "y = torch.frobnicate(x)  # mine  # [UnConvert] 'torch.frobnicate' didn't convert." in r.code
    assert "import torch" in r.code  # still needed
    [bad] = r.unconverted
    assert (bad.api, bad.line, bad.col) == ("torch.frobnicate", 5, 9)


def test_unmappable_argument_leaves_the_call_and_suggests_the_target():
    r = conv("import torch\n\n\ndef f(x, y):\n    return torch.add(x, y, alpha=2)\n")
    assert "torch.add(x, y, alpha=2)  # [UnConvert] 'torch.add' didn't convert. Maybe could convert to mindspore.ops.add." in r.code
    assert "alpha" in r.unconverted[0].message


def test_tensor_methods_are_mapped_only_on_known_tensors():
    r = conv('''
        import torch


        def f(x: torch.Tensor, other):
            y = torch.abs(x)
            a = y.size(1)
            b = other.size(1)
            c = other.view(2, 3)
            return a, b, c
        ''')
    assert "def f(x: ms.Tensor, other):" in r.code
    assert "a = y.shape[1]" in r.code
    assert "b = other.size(1)  # [UnConvert] 'torch.Tensor.size' didn't convert." in r.code
    assert "c = other.view(2, 3)\n" in r.code  # same method on mindspore.Tensor: left, noted as probable
    notes = {f.api: f for f in r.findings if f.line == 9}
    assert notes["torch.Tensor.view"].converted and "probably" in notes["torch.Tensor.view"].message
    assert not [f for f in r.findings if f.line == 8][0].converted


def test_forward_arguments_and_module_outputs_are_tensors():
    r = conv('''
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)

            def forward(self, x):
                h = self.fc(x)
                return h.size(0), x.size()
        ''')
    assert "return h.shape[0], x.shape" in r.code


def test_residual_torch_names_behind_a_clashing_alias_are_spelled_in_full():
    r = conv("from torch import nn\n\n\ndef clip(params):\n    nn.utils.clip_grad_value_(params, 1.0)\n\n\nlayer = nn.ReLU()\n")
    assert "    torch.nn.utils.clip_grad_value_(params, 1.0)  # [UnConvert]" in r.code and "layer = nn.ReLU()" in r.code
    assert "import torch\n" in r.code and "from mindspore import nn" in r.code


def test_comments_above_a_dropped_import_stay():
    r = conv("import torch\n\n# Replace the classpath.\nfrom my.model import Net\n\nx = torch.zeros(2)\n")
    assert r.code.startswith("from mindspore import ops\n\n# Replace the classpath.\nfrom my.model import Net\n")


def test_report_has_the_guide_form():
    r = conv("import torch\n\n\ndef f(x):\n    return torch.abs(torch.frobnicate(x))\n")
    text = render_txt([r])
    assert text.splitlines() == [
        "[Start Convert]",
        "[Insert] 'from mindspore import ops' is inserted to the converted file.",
        "line 5:11: [Convert] 'torch.abs' is converted to 'ops.abs'.",
        "line 5:21: [UnConvert] 'torch.frobnicate' didn't convert. (not in the API table)",
        "[Convert Over]",
        "[Converted Rate] call sites: 1/2 (50.00%); lines: 0/1 (0.00%).",
    ]
    # the import stays: torch.frobnicate needs it
    assert "import torch\n" in r.code


def test_mint_target():
    r = conv("import torch\n\n\ndef f(x):\n    return torch.abs(x)\n", target="mint")
    assert "return mint.abs(x)" in r.code and "from mindspore import mint" in r.code


def test_bad_input_is_a_coded_error():
    with pytest.raises(ScriptParseError, match="is not valid Python"):
        migrate_source("def f(:\n", path="bad.py")
    with pytest.raises(ArgumentError, match="unknown target"):
        migrate_source("x = 1\n", target="gpu")


def test_project_folder_keeps_layout_copies_files_and_never_overwrites(tmp_path):
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "model.py").write_text("import torch\n\n\ndef act(x):\n    return torch.tanh(x)\n")
    (src / "train.py").write_text("from .pkg.model import act\nimport torch\n\nx = act(torch.zeros(2))\n")
    (src / "config.yaml").write_text("lr: 0.1\n")
    out, rep = tmp_path / "out", tmp_path / "rep"
    result = migrate_path(src, out, rep)
    assert (out / "pkg" / "model.py").read_text().count("ops.tanh(x)") == 1
    assert (out / "train.py").read_text().startswith("from .pkg.model import act\n")
    assert (out / "config.yaml").read_text() == "lr: 0.1\n"
    report = (rep / "report_of_proj.txt").read_text()
    assert "[File] " in report and report.rstrip().endswith("lines: 2/2 (100.00%).")
    data = json.loads((rep / "report_of_proj.json").read_text())
    assert data["rates"]["call_sites"] == 2 and len(data["files"]) == 3
    assert set(result.files) == {"pkg/__init__.py", "pkg/model.py", "train.py"}
    with pytest.raises(FileWriteError, match="already exist"):
        migrate_path(src, out, rep)
    migrate_path(src, out, rep, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_mindspore_names_written_by_rewrites_are_left_alone():
    r = conv("import torch.nn as nn\n\n\nclass Net(nn.Cell):\n    pass\n\n\nx = nn.SequentialCell()\n")
    assert "class Net(nn.Cell):" in r.code and "x = nn.SequentialCell()" in r.code
    assert "from mindspore import nn" in r.code and "torch" not in r.code and not r.findings


def test_module_calls_are_not_tensor_methods():
    r = conv('''
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.flatten = nn.Flatten()
                self.view = nn.Identity()

            def forward(self, x):
                return self.view(self.flatten(x)).view(2, -1)
        ''')
    assert "return self.view(self.flatten(x)).view(2, -1)\n" in r.code and not r.unconverted


def test_a_failing_mapper_keeps_the_file_and_says_so(monkeypatch):
    from mindconverter.migrate import mapper

    def broken(self, original, updated):
        raise RuntimeError("boom")

    monkeypatch.setattr(mapper.ApiMapper, "leave_Call", broken)
    src = "import torch\n\nx = torch.zeros(2)  # kept\n"
    r = migrate_source(src)
    assert r.code == src and "API-table mapping failed" in r.rewrite_errors[0] and "boom" in r.rewrite_errors[0]
    assert "[Warning] the API-table mapping failed" in render_txt([r])
    with pytest.raises(RuntimeError, match="boom"):
        migrate_source(src, strict=True)
