"""Baseline for bench_latency: the same slider -> fragment rerun -> new PNG round trip, with no model.

Its latency is what Streamlit, the websocket and the browser cost on this machine; the what-if page's
latency minus this is what the explorer call and our rendering add.
"""

import io

import numpy as np
import streamlit as st
from PIL import Image


@st.fragment
def panel() -> None:
    value = st.slider("value", 0.0, 10.0, 1.5, 0.1, key="value")
    grid = np.add.outer(np.arange(28), np.arange(28)) * value % 256  # (28, 28): changes with every step
    buf = io.BytesIO()
    Image.fromarray(grid.astype(np.uint8)).resize((140, 140), Image.Resampling.NEAREST).save(buf, "PNG")
    st.image(buf.getvalue(), width=140, output_format="PNG", caption="baseline picture")
    st.markdown(f"value {value:.1f}")


panel()
