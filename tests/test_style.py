"""Architecture rules that are cheap to check: Streamlit stays in the UI layer; nothing unpickles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_streamlit_only_in_the_ui_layer():
    offenders = [p for p in (ROOT / "explorer").rglob("*.py")
                 if "ui" not in p.relative_to(ROOT / "explorer").parts[:1] and "streamlit" in _imports(p)]
    assert not offenders, f"Streamlit imported outside explorer/ui: {offenders}"


def test_no_unsafe_loading():
    for path in list((ROOT / "explorer").rglob("*.py")) + list((ROOT / "pages").rglob("*.py")):
        text = path.read_text()
        for start in [m.end() for m in re.finditer(r"torch\.load\(", text)]:
            call = text[start:text.find("\n", start)]  # the rest of the line holding the call
            assert "weights_only=True" in call, f"{path}: torch.load({call}"
        assert "pickle.load(" not in text, f"{path} calls pickle.load"
