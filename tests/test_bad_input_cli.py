"""Every subcommand of `python -m explorer` answers a bad value with ONE line on stderr starting with `error:`,
exit status 2, no traceback and no output file: negative, zero, huge and non-numeric counts, NaN and infinity,
unknown names, missing, unreadable and unwritable paths, and files of the wrong kind.

In process (`main([...])`) for speed; two subprocess calls prove the real entry point. Every case that names an
output writes into the test's own folder, which must stay empty; training cases pass `--out` there too, so a
check that stopped working could never touch pretrained/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from explorer.__main__ import main
from explorer.paths import ROOT

UNWRITABLE = "/sys"  # refused to every user, root included (sysfs takes no new files)
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0  # root reads and writes through file permissions


def _sys_takes_files() -> bool:
    try:
        with tempfile.TemporaryFile(dir="/sys"):
            return True
    except OSError:
        return not Path("/sys").is_dir()  # no /sys at all (not Linux): the cases would test something else

# (argv with {in} = the inputs' folder and {out} = the test's empty output folder, words the message must hold)
COUNTS = [
    ("export pendulum --seed -1 --out {out}/x.zip", "--seed: expected a whole number from 0 to 4,294,967,295"),
    ("export pendulum --seed 4294967296 --out {out}/x.zip", "--seed"),
    ("export pendulum --n 0 --out {out}/x.zip", "--n: expected a whole number from 1"),
    ("export pendulum --n -3 --out {out}/x.zip", "got '-3'"),
    ("export pendulum --n 100001 --out {out}/x.zip", "between 1 and 100,000"),
    ("export pendulum --n nan --out {out}/x.zip", "got 'nan'"),
    ("evaluate morpho --n 0 --json {out}/e.json", "--n: expected a whole number from 1 to 10,000, got '0'"),
    ("evaluate morpho --n -3 --json {out}/e.json", "got '-3'"),
    ("evaluate morpho --n 10001", "to 10,000"),
    ("evaluate morpho --n 1e3", "got '1e3'"),
    ("evaluate morpho --n 1.5", "got '1.5'"),
    ("evaluate morpho --n " + "9" * 5000, "(5,000 characters)"),
    ("evaluate pendulum --n 0 --json {out}/e.json", "--n"),
    ("evaluate search --n -1", "--n"),
    ("evaluate morpho --seed -1 --json {out}/e.json", "--seed"),
    ("evaluate causalm --limit 0", "--limit"),
    ("evaluate causalm --limit -5", "--limit"),
    ("data morpho --strength nan", "--strength: expected a finite number from 0 to 1, got 'nan'"),
    ("data morpho --strength inf", "got 'inf'"),
    ("data morpho --strength 1e309", "got '1e309'"),
    ("data morpho --strength -0.1", "from 0 to 1"),
    ("data morpho --strength 1.5", "from 0 to 1"),
    ("audit-text --csv {in}/scores.csv --batch-size 0", "--batch-size"),
    ("audit-text --csv {in}/scores.csv --batch-size 1e9", "--batch-size"),
    ("audit-classifier --classifier morpho-cnn --world grey --n 0", "--n"),
    ("audit-classifier --classifier morpho-cnn --world grey --n 10001", "to 10,000"),
    ("audit-classifier --classifier morpho-cnn --world grey --steps -1", "--steps"),
    ("audit-classifier --classifier morpho-cnn --world grey --seed -1 --json {out}/r.json", "--seed"),
    ("audit-classifier --onnx {in}/garbage.bin --world grey --mean nan", "--mean: expected a finite number"),
    ("audit-classifier --onnx {in}/garbage.bin --world grey --std 0", "--std: expected a finite number above 0"),
    ("audit-classifier --onnx {in}/garbage.bin --world grey --std -1", "above 0"),
    ("audit-classifier --onnx {in}/garbage.bin --world grey --std inf", "above 0"),
    ("audit-classifier --onnx {in}/garbage.bin --world grey --input-scale nan", "invalid choice"),
    ("train morpho --gen-epochs -1 --out {out}/m", "--gen-epochs"),
    ("train morpho --clf-epochs 0 --out {out}/m", "--clf-epochs"),
    ("train morpho --limit 0 --out {out}/m", "--limit"),
    ("train morpho --devices 0 --out {out}/m", "--devices: expected a whole number from 1 to 64"),
    ("train morpho --devices 1000 --out {out}/m", "--devices"),
    ("train pendulum --epochs 0 --out {out}/m", "--epochs"),
    ("train pendulum --n-train -1 --out {out}/m", "--n-train"),
    ("train pendulum --n-train 100001 --out {out}/m", "to 100,000"),
    ("train pendulum --interventional-fraction nan --out {out}/m", "--interventional-fraction"),
    ("train pendulum --interventional-fraction 2 --out {out}/m", "from 0 to 1"),
    ("train pendulum --regressor-epochs 0 --out {out}/m", "--regressor-epochs"),
    ("train pendulum --n-regressor 0 --out {out}/m", "--n-regressor"),
    ("train causalm --adv-weight -1 --out {out}/m", "--adv-weight"),
    ("train causalm --adv-weight nan --out {out}/m", "--adv-weight"),
    ("train causalm --trainable-layers 0 --out {out}/m", "--trainable-layers"),
    ("train causalm --seed -1 --out {out}/m", "--seed"),
    ("train census-world --seed 99999999999999 --out {out}/m", "--seed"),
]
NAMES = [
    ("zzz", "invalid choice: 'zzz'"),
    ("evaluate zzz", "invalid choice: 'zzz'"),
    ("train zzz --out {out}/m", "invalid choice"),
    ("export zzz --out {out}/x.zip", "invalid choice"),
    ("data zzz", "invalid choice"),
    ("audit-classifier --classifier zzz --world grey", "unknown classifier 'zzz'"),
    ("audit-classifier --classifier morpho-cnn --world zzz", "invalid choice"),
    ("audit-classifier --classifier morpho-cnn --world grey --method zzz", "invalid choice"),
    ("audit-text --csv {in}/scores.csv --model zzz --json {out}/r.json", "Unknown model 'zzz'"),
    ("audit-text --csv {in}/scores.csv --model emotion-gender:zzz", "zzz"),
    ("train morpho --only zzz --out {out}/m", "unknown component(s) ['zzz']"),
    ("train pendulum --only zzz --out {out}/m", "unknown component(s)"),
    ("train causalm --only religion --out {out}/m", "unknown concept(s) ['religion']"),
    ("evaluate causalm --only religion --json {out}/e.json", "unknown concept(s) ['religion']"),
    ("train morpho --strategy zzz --out {out}/m", "unknown strategy 'zzz'"),
    ("train pendulum --graph zzz --out {out}/m", "invalid choice"),
    ("evaluate causalm --split zzz", "invalid choice"),
    ("export pendulum --cut zzz:light --out {out}/x.zip", "unknown concept(s) zzz"),
    ("export pendulum --cut light --out {out}/x.zip", "PARENT:CHILD"),
    ("export pendulum --cut light:light --out {out}/x.zip", "to itself"),
    ("evaluate morpho --zzz 1", "unrecognized arguments: --zzz"),
    ("audit-classifier --world grey", "one of the arguments --classifier --onnx is required"),
]
PATHS = [
    ("audit-text --csv {in}/missing.csv", "missing.csv': no such file; pass a file that exists"),
    ("audit-text --csv {in}", "is a folder; pass a file"),
    ("audit-classifier --onnx {in}/missing.onnx --world grey", "no such file"),
    ("audit-classifier --onnx {in} --world grey", "is a folder"),
    ("evaluate causalm --folder {in}/missing", "cannot be read as a folder"),
    ("evaluate causalm --folder {in}/scores.csv", "cannot be read as a folder"),
    ("train causalm --base {in}/missing --out {out}/m", "cannot be read as a folder"),
    ("train causalm --base {in}/scores.csv --out {out}/m", "cannot be read as a folder"),
    ("export pendulum --out {out}/missing/x.zip", "its folder does not exist; create it first"),
    ("export pendulum --out {out}", "is a folder; pass a file name inside it"),
    ("export pendulum --out " + UNWRITABLE + "/x.zip", "cannot write into the folder"),
    ("evaluate morpho --json {out}/missing/e.json", "does not exist"),
    ("evaluate morpho --json {out}", "is a folder"),
    ("evaluate morpho --json " + UNWRITABLE + "/e.json", "cannot write"),
    ("audit-text --csv {in}/scores.csv --json {out}/missing/r.json", "does not exist"),
    ("audit-text --csv {in}/scores.csv --json {out}/r.json --rows {out}", "--rows"),
    ("audit-text --csv {in}/scores.csv --rows {in}/scores.csv", "may not be the input CSV"),
    ("audit-text --csv {in}/scores.csv --markdown " + UNWRITABLE + "/r.md", "cannot write"),
    ("audit-classifier --classifier morpho-cnn --world grey --json {out}/missing/r.json", "does not exist"),
    ("audit-classifier --classifier morpho-cnn --world grey --markdown {out}", "is a folder"),
    ("train morpho --out {in}/scores.csv", "is a file; pass a folder"),
    ("train morpho --out " + UNWRITABLE + "/trained", "cannot write"),
    ("train census-world --out {in}/scores.csv/sub", "is a file, so"),
]
FILE_KINDS = [
    ("audit-text --csv {in}/garbage.bin --json {out}/r.json", "binary data"),
    ("audit-text --csv {in}/book.xlsx --json {out}/r.json", "an Excel workbook or a zip archive, not a CSV"),
    ("audit-text --csv {in}/doc.pdf --json {out}/r.json", "a PDF document"),
    ("audit-text --csv {in}/empty.csv --json {out}/r.json", "The file is empty"),
    ("audit-text --csv {in}/scores.csv --json {out}/r.json", "no column named `text`"),
    ("audit-text --csv {in}/header.csv --json {out}/r.json", "no rows to audit"),
    ("audit-classifier --onnx {in}/scores.csv --world grey --json {out}/r.json", "not an ONNX model"),
    ("audit-classifier --onnx {in}/empty.csv --world grey", "The file is empty"),
    ("audit-classifier --onnx {in}/garbage.bin --world grey --markdown {out}/r.md", "not an ONNX model"),
    ("train causalm --only gender --base {in} --out {out}/m", "not a Hugging Face model folder"),
]
CASES = COUNTS + NAMES + PATHS + FILE_KINDS


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Files of the wrong kind, and one of the right kind with the wrong columns."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "garbage.bin").write_bytes(b"\x00\x01" + os.urandom(2000))
    (folder / "book.xlsx").write_bytes(b"PK\x03\x04" + os.urandom(200))
    (folder / "doc.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(200))
    (folder / "empty.csv").write_bytes(b"")
    (folder / "scores.csv").write_text("name,score\nMary,3\n")
    (folder / "header.csv").write_text("text,label\n")
    return folder


def refused(argv: list[str], capsys) -> str:
    """Runs the command in process; asserts exit status 2 and one `error:` line; returns that line."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse refuses by exiting
        status = exit_.code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert status == 2, (status, err)
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("command, words", CASES, ids=[c[0][:60] for c in CASES])
def test_a_bad_value_is_one_error_line_with_status_2_and_writes_nothing(command, words, inputs, tmp_path, capsys):
    if UNWRITABLE in command and _sys_takes_files():
        pytest.skip("/sys takes files here, or there is none")
    argv = command.replace("{in}", str(inputs)).replace("{out}", str(tmp_path)).split()
    before = sorted(inputs.iterdir())
    err = refused(argv, capsys)
    assert words in err, err
    assert list(tmp_path.iterdir()) == [], "an output was written"
    assert sorted(inputs.iterdir()) == before


@pytest.mark.skipif(ROOT_USER, reason="root reads and writes whatever the permissions say")
@pytest.mark.parametrize("what", ["unreadable input", "read-only output folder"])
def test_file_permissions_are_checked_before_anything_runs(what, inputs, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    if what == "unreadable input":
        (locked / "texts.csv").write_text("text\nhello\n")
        (locked / "texts.csv").chmod(0)
        argv = ["audit-text", "--csv", str(locked / "texts.csv")]
    else:
        locked.chmod(0o555)
        argv = ["evaluate", "morpho", "--json", str(locked / "e.json")]
    try:
        err = refused(argv, capsys)
    finally:
        locked.chmod(0o755)
    assert "Permission denied" in err and not (locked / "e.json").exists()


@pytest.mark.parametrize("command", ["export pendulum --seed -1 --out {out}/x.zip", "evaluate morpho --n 0 --json "
                                     "{out}/e.json"])
def test_the_real_entry_point_exits_2_with_one_line(command, tmp_path):
    argv = command.replace("{out}", str(tmp_path)).split()
    proc = subprocess.run([sys.executable, "-m", "explorer", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


TRAINING = ["train cf-generator --strength 0.9 --limit 64", "train cf-training --strength 0.9 --method erm --limit 64",
            "train cf-generator --out {out}", "train morpho --only zzz", "train pendulum --only vae,zzz"]


def test_a_training_command_s_bad_setting_is_answered_before_torch_and_lightning_load(tmp_path):
    """Their import takes ~10 s here: a wrong or missing setting is answered without it (one process for all)."""
    calls = [c.replace("{out}", str(tmp_path)).split() for c in TRAINING]
    probe = ("import contextlib, io, sys; from explorer.__main__ import main\n"
             f"for argv in {calls!r}:\n"
             "    with contextlib.redirect_stderr(io.StringIO()):\n"
             "        print(main(argv), 'torch' in sys.modules, 'lightning' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines() == ["2 False False"] * len(TRAINING), proc.stdout + proc.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []


def test_a_result_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """`save` writes beside the target and renames: a failure mid-write leaves neither a part nor a stub."""
    from explorer.cli_checks import save

    target = tmp_path / "r.json"
    save(target, "{}\n")
    assert target.read_text() == "{}\n"

    def broken(self, data):
        Path.write_text(self, "half")  # the first half lands, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", broken)
    with pytest.raises(OSError):
        save(target, "{\"a\": 1}\n")
    assert target.read_text() == "{}\n" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
