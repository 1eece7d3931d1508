// Step cards (explorer/ui/step_cards.py): a page draws what a number box's value shows as one card (an st.html
// element whose root carries `data-step`) and, hidden, the cards of the neighbouring values (`held`, the current one
// among them). A step of the box (ArrowUp/ArrowDown, its +/- buttons, or Enter / leaving the box on a typed number)
// replaces the shown card with the held card of the new value at once, in the step's own event; Streamlit's rerun
// for that value then draws the same card and the next neighbours. A value with no held card waits for the rerun,
// as before. Each card is markup the page made and Streamlit set (sanitised) in an st.html element: this script
// only moves copies of those nodes, it parses nothing. Used by the Flip page's digit and the Audit page's row.
//
// The swap shows the value the box now holds, which is the value Streamlit sends; a value the server changes (one
// past the last) has no held card, so nothing is swapped for it. A rerun that draws another card replaces the
// swapped one (the element's HTML is set anew); one that draws the card it drew before leaves the swapped one,
// which then is that same card (a step and a step back). So the component's data never changes: it is not redrawn
// on the reruns, which the step's own rerun would otherwise end with.

function show(root, value) {  // the held card of `value` in place of the shown one; false when none is held
  const sc = root.__sc;
  const card = document.querySelector(`${sc.card} [data-step]`);
  const held = document.querySelector(`${sc.held} [data-step="${value}"]`);
  if (!card || !held) return false;
  if (card.dataset.step === String(value)) return true;
  card.replaceWith(held.cloneNode(true));
  root.dataset.swaps = String(Number(root.dataset.swaps || 0) + 1);  // tests and benchmarks read it
  return true;
}

function number(root) {  // the box's number as typed or stepped, or null
  const text = document.querySelector(`${root.__sc.box} input`)?.value ?? "";
  return /^\s*\d+\s*$/.test(text) ? Number(text) : null;
}

function listen(root) {  // once per mount; a listener whose component left the page removes itself
  const on = (type, handle) => {
    const listener = (e) => {
      if (!root.isConnected) { document.removeEventListener(type, listener, true); return; }
      if (e.target instanceof Element && e.target.closest(root.__sc.box)) handle(e);
    };
    document.addEventListener(type, listener, true);  // capture: before Streamlit's own handler changes the box
  };
  on("keydown", (e) => {
    const v = number(root);
    if (v === null || e.altKey || e.ctrlKey || e.metaKey || !e.target.matches("input")) return;
    if (e.key === "ArrowUp") show(root, v + 1);
    else if (e.key === "ArrowDown") show(root, v - 1);
    else if (e.key === "Enter") show(root, v);
  });
  on("click", (e) => {
    const button = e.target.closest("button");
    const v = number(root);
    if (!button || button.disabled || v === null) return;
    if (button.matches("[data-testid=stNumberInputStepUp]")) show(root, v + 1);
    else if (button.matches("[data-testid=stNumberInputStepDown]")) show(root, v - 1);
  });
  on("focusout", (e) => {
    const v = number(root);
    if (v !== null && e.target.matches("input")) show(root, v);
  });
}

export default function (component) {
  const root = component.parentElement.querySelector(".sc-root");
  if (!root || !component.data) return;
  const first = !root.__sc;
  root.__sc = component.data;
  if (first) listen(root);
}
