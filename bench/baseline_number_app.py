"""Baseline for bench_flip_page: a number box -> whole-page rerun -> new PNG round trip, with no model.

The Flip page's digit number is a number box and a change of it reruns the whole page (it is not a fragment), so
its no-model page is one too: what Streamlit, the websocket and the browser cost for the same step.
"""

import io

import numpy as np
import streamlit as st
from PIL import Image

index = st.number_input("Test digit number", min_value=0, max_value=9999, step=1, key="flip_index")
grid = np.add.outer(np.arange(28), np.arange(28)) * (index + 1) % 256  # (28, 28): changes with every step
buf = io.BytesIO()
Image.fromarray(grid.astype(np.uint8)).resize((112, 112), Image.Resampling.NEAREST).save(buf, "PNG")
st.image(buf.getvalue(), width=112, output_format="PNG", caption=f"Test digit #{index}")
st.markdown(f"digit {index}")
