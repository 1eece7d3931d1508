"""`python -m explorer audit-classifier`: bad input is one line and exit status 2 with nothing written; a small
audit of an ONNX model exported here writes its JSON and Markdown."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from test_onnx_classifier import cnn, export

from explorer.__main__ import main
from explorer.paths import ROOT


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    path.write_bytes(export(cnn(), (1, 1, 28, 28)))
    return path


def _refused(capsys, argv: list[str], words: str) -> None:
    try:
        status = main(argv)
    except SystemExit as exit_:  # a value refused while the arguments are parsed (explorer/cli_checks.py)
        status = exit_.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and words in err, err


def test_bad_input_is_one_line_and_status_2(capsys, tmp_path, model_file):
    out = tmp_path / "r.json"
    _refused(capsys, ["audit-classifier", "--classifier", "resnet", "--world", "grey", "--json", str(out)],
             "unknown classifier 'resnet'")
    _refused(capsys, ["audit-classifier", "--onnx", str(tmp_path / "none.onnx"), "--world", "grey"],
             "no such file")
    text = tmp_path / "model.onnx"
    text.write_text("not a model")
    _refused(capsys, ["audit-classifier", "--onnx", str(text), "--world", "grey", "--json", str(out)], str(text))
    _refused(capsys, ["audit-classifier", "--onnx", str(model_file), "--world", "grey", "--n", "0",
                      "--json", str(out)], "0")
    _refused(capsys, ["audit-classifier", "--onnx", str(model_file), "--world", "grey", "--n", "2",
                      "--json", str(tmp_path / "no" / "r.json")], "folder does not exist")
    assert not out.exists() and not (tmp_path / "no").exists()


@pytest.mark.parametrize("runtime_only, method", [(False, "aip"), (True, "aip-blackbox")])
def test_small_audit_of_an_onnx_model_writes_json_and_markdown(capsys, tmp_path, model_file, runtime_only, method):
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    argv = ["audit-classifier", "--onnx", str(model_file), "--world", "grey", "--n", "2", "--steps", "5",
            "--json", str(out), "--markdown", str(md)] + (["--onnxruntime-only"] if runtime_only else [])
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["classifier"] == "tiny" and report["world"] == "grey" and report["n"] == 2
    assert report["method"] == method  # gradients where the graph converts to PyTorch, else black-box AIP
    for name in ("thickness", "intensity", "style"):
        assert 0.0 <= report[f"by_attributes.{name}.success"] <= 1.0
        assert report[f"by_attributes.{name}.locks_held"] == 1.0  # the digit stayed locked
    assert "most_flipping" in report
    text = md.read_text()
    assert text.startswith("#") and "tiny" in text and "thickness" in text.lower()
    assert text.strip() in capsys.readouterr().out  # the same report printed


def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "explorer", "audit-classifier", "--classifier", "nope", "--world",
                           "grey", "--json", str(tmp_path / "r.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown classifier") and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.json").exists()
