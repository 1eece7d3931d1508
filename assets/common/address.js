// Shared by the components that write the link themselves (assets/quick_sliders/, assets/step_cards/): each
// component's script is this file followed by its own (explorer/ui/quick_sliders.py, explorer/ui/step_cards.py).

// The address bar as the page would write it (explorer/ui/common/link.py; a slider's value with its decimals),
// as a new history entry, Back's step. Only this one parameter changes, the others keep their own encoding.
// Streamlit sends the server the query it last set, not this one: the run that applies the value writes the same
// link (no second entry); Back reruns the page at the older link, which it then reads (explorer/ui/address.py).
function address(name, text) {
  const pairs = location.search.slice(1).split("&").filter(Boolean);
  const at = pairs.findIndex((p) => decodeURIComponent(p.split("=")[0]) === name);
  const pair = `${encodeURIComponent(name)}=${encodeURIComponent(text)}`;
  if (at >= 0) pairs[at] = pair; else pairs.push(pair);
  const search = "?" + pairs.join("&");
  if (search !== location.search) history.pushState(history.state, "", location.pathname + search + location.hash);
}

