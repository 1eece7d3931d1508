"""Opening the app's pages in AppTest: one helper for the page tests (image, lab, text)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
FIRST_LOAD = 180  # s: the first run imports torch and loads every model (slow while a training job runs)
RUN = 60


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_page(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    """The app through app.py (navigation and sidebar included), switched to `page` (None: home)."""
    at = AppTest.from_file(APP, default_timeout=RUN)
    at.query_params.update(query or {})
    (at.switch_page(page) if page else at).run(timeout=FIRST_LOAD)
    no_exceptions(at)
    return at


def upload_table_and_model(csv: tuple[str, bytes], model: bytes, label: str, protected: list[str]) -> AppTest:
    """The Audit your own model page with a visitor's table (name, bytes) and ONNX model uploaded, the label and
    the protected columns chosen (nothing run yet)."""
    at = open_page("pages/audit_model.py")
    at.selectbox(key="at_data").set_value("upload").run()
    at.file_uploader(key="audit_model_csv").set_value((csv[0], csv[1], "text/csv")).run()
    at.selectbox(key="at_model").set_value("upload").run()
    at.file_uploader(key="audit_model_onnx").set_value(("m.onnx", model, "application/octet-stream")).run()
    at.selectbox(key="at_label").set_value(label).run()
    at.multiselect(key="at_protected").set_value(protected).run()
    return at
