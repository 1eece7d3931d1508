"""The command line's checks, shared by every subcommand of `python -m explorer`.

A bad value is refused while the arguments are parsed, before a model loads or a job starts, as ONE line on
stderr starting with `error:` and exit status 2 (argparse's status for usage errors). The `type=` functions
below name the value and what to pass instead; `save` writes a result whole or not at all, so a job that fails
late leaves no half-written file. Standard library only: `--help` and a refusal stay instant.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Callable

from explorer.paths import scratch_beside

SEED_MAX = 2**32 - 1  # numpy's default_rng and Lightning's seed_everything take 0..2**32-1
_SHOWN = 120  # characters of a refused value repeated in its message (a path fits; a 5,000-digit number does not)


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line, `error: python -m explorer export: argument --n: ...`, still exit
    status 2: the usage block it prints by default pushes the reason off a narrow terminal."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else f"{text[:_SHOWN]}… ({len(text):,} characters)")


def _named(check: Callable, name: str) -> Callable:
    check.__name__ = name  # argparse names the type in the messages it writes itself
    return check


def count(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """A whole number from `low` to `high` (no upper bound when None): sizes, epochs, steps, seeds."""
    span = f"from {low:,}" + (f" to {high:,}" if high is not None else " up")

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # "1.5", "nan", "1e3" and numbers of thousands of digits
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {_shown(text)}")
        return value

    return _named(check, "count")


seed = count(0, SEED_MAX)


def real(low: float = -math.inf, high: float = math.inf, above: bool = False) -> Callable[[str], float]:
    """A finite number from `low` to `high` (above `low` when `above`): never NaN or infinity."""
    span = (f" {'above' if above else 'from'} {low:g}" if low > -math.inf else "") + \
        (f" to {high:g}" if high < math.inf else "")

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high) or (above and value == low):
            raise argparse.ArgumentTypeError(f"expected a finite number{span}, got {_shown(text)}")
        return value

    return _named(check, "number")


def input_file(text: str) -> str:
    """A file that exists and can be read (what is in it is checked by the reader of its kind)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{_shown(text)} is a folder; pass a file")
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: no such file; pass a file that exists") from None
    except OSError as err:
        raise argparse.ArgumentTypeError(f"{_shown(text)} cannot be read ({err.strerror or err}); pass a "
                                         "file that you can read") from None
    return text


def input_folder(text: str) -> str:
    """A folder that exists and can be listed."""
    try:
        os.listdir(text)
    except OSError as err:
        raise argparse.ArgumentTypeError(f"{_shown(text)} cannot be read as a folder ({err.strerror or err}); "
                                         "pass a folder that exists") from None
    return text


def _writable(folder: Path, text: str) -> None:
    """Creates and removes a file in `folder`: the only test that holds for root and read-only mounts alike."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise argparse.ArgumentTypeError(f"cannot write into the folder of {_shown(text)} "
                                         f"({err.strerror or err}); choose a folder you can write to") from None


def output_file(text: str) -> str:
    """A file to write: its folder exists and takes files, and it is not itself a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{_shown(text)} is a folder; pass a file name inside it")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{_shown(text)}: its folder does not exist; create it first")
    _writable(path.parent, text)
    return text


def output_folder(text: str) -> str:
    """A folder to write into; it may not exist yet (it is created), but where it would go must take files."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{_shown(text)} is a file; pass a folder")
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{_shown(str(existing))} is a file, so {_shown(text)} cannot be created")
    _writable(existing, text)
    return text


def strategy(text: str) -> str:
    """A Lightning strategy name ("auto", "ddp", ...); Lightning is imported only to check another name."""
    if text in ("auto", "ddp"):
        return text
    from lightning.pytorch.strategies import StrategyRegistry

    known = StrategyRegistry.available_strategies()
    if text not in known:
        raise argparse.ArgumentTypeError(f"unknown strategy {_shown(text)}; choose auto or one of "
                                         f"{', '.join(known[:6])}, ...")
    return text


def save(path: str | Path, data: str | bytes) -> None:
    """Writes `data` to `path` whole: into a temporary file beside it, then renamed over it, so an error or an
    interrupted job never leaves a half-written result."""
    path = Path(path)
    tmp = scratch_beside(path)  # opened as any file: the umask sets its mode
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
