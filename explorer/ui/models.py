"""The Home page's model list: the shipped checkpoints' cards, read from `pretrained/*/card.json`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.checkpoints import read_card
from explorer.paths import PRETRAINED
from explorer.whatif import REBUILD

METRIC_WORDS = {  # card metric -> what it means for a reader who does not train models
    "val_acc": "accuracy on held-out digits",
    "val_recon_l1_0_255": "average pixel error when redrawing a digit (0–255 scale, lower is better)",
    "train_seconds": "training time in seconds",
}


def _metric(name: str, value: object) -> str:
    shown = (f"{value:.1%}" if name.endswith("acc") else f"{value:.4g}") if isinstance(value, float) else str(value)
    words = METRIC_WORDS.get(name)
    return f"- {words} (`{name}`): **{shown}**" if words else f"- `{name}`: **{shown}**"


def model_cards(folder: Path = PRETRAINED) -> int:
    """One bordered box per checkpoint folder with its description, metrics, date and command.

    Returns:
        The number of cards shown (0 shows how to build them).
    """
    cards = [(p.name, read_card(p)) for p in sorted(folder.iterdir()) if p.is_dir()] if folder.is_dir() else []
    cards = [(name, card) for name, card in cards if card is not None]
    if not cards:
        st.warning(f"No trained models found in `{folder}`. Build them with:\n\n```\n{REBUILD}\n```")
        return 0
    for name, card in cards:
        with st.container(border=True):
            st.markdown(f"**{name}** · {card.get('kind', 'model')} · trained {card.get('date', 'unknown date')}")
            st.markdown(card.get("description", "(no description)"))
            metrics = card.get("metrics", {})
            if metrics:
                st.markdown("\n".join(_metric(k, v) for k, v in metrics.items()))
            if "data" in card:
                st.caption(f"Data: {card['data']}")
            if "command" in card:
                st.caption("Rebuilt with:")
                st.code(card["command"], language="bash")
    return len(cards)
