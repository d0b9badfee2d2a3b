"""`mindconverter --in_file`: scripts and folders from the command line."""

from __future__ import annotations

from mindconverter.cli import main


def test_in_file_converts_a_script(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text("import torch\n\nx = torch.zeros(2, 3)\n")
    assert main(["--in_file", str(script), "--output", str(tmp_path / "out")]) == 0
    assert "ops.zeros((2, 3))" in (tmp_path / "out" / "train.py").read_text()
    assert (tmp_path / "out" / "report_of_train.txt").read_text().startswith("[Start Convert]\n")
    assert "1/1 call sites converted" in capsys.readouterr().out


def test_exactly_one_of_model_file_and_in_file(tmp_path, capsys):
    assert main(["--output", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error[0000001]: nothing to convert")
    assert main(["--model_file", "m.onnx", "--in_file", "x.py"]) == 1
    assert capsys.readouterr().err.startswith("error[0000001]: give exactly one of --model_file and --in_file")
    assert main(["--in_file", "x.py", "--shape", "1,3"]) == 1
    assert "--shape only applies to --model_file" in capsys.readouterr().err


def test_in_file_errors_are_coded(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    assert main(["--in_file", str(bad), "--output", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.startswith("error[1000002]: ")
    assert main(["--in_file", str(tmp_path / "missing.py")]) == 1
    assert "does not exist" in capsys.readouterr().err
