// Step cards (explorer/ui/step_cards.py): a page draws what a number box's value shows as one card (an st.html
// element whose root carries `data-step`) and, hidden, the cards of the neighbouring values (`held`, the current one
// among them). A step of the box (ArrowUp/ArrowDown, its +/- buttons, or Enter / leaving the box on a typed number)
// replaces the shown card with the held card of the new value at once, in the step's own event; Streamlit's rerun
// for that value then draws the same card and the next neighbours. A value with no held card waits for the rerun,
// as before. Each card is markup the page made and Streamlit set (sanitised) in an st.html element: this script
// only moves copies of those nodes, it parses nothing. Used by the Flip page's digit and the Audit page's row.
//
// Held steps (`hold`, on a page where the card is all that a new value changes but the link): an arrow key or a +/-
// click whose card is held, and whose card says the rest of the page shows what it shows for the value drawn
// (`data-hold` equal to that of the held card of the value drawn, the shown card's `data-drawn`; none: equal), is kept
// from Streamlit's box, which would send it at once. The box shows the number as if typed (Streamlit's own not-yet-sent
// state), the card is swapped, the address bar takes the link (assets/common/address.js), and the number goes to Python
// after `settle` ms without another step, or as soon as the visitor does anything else (presses another key there,
// leaves the box, moves or presses the pointer elsewhere, hides the tab): by Enter on the box, as a visitor would send
// a typed number. A step `edge` short of the held cards' end is sent at once (still held in the browser), so that its
// rerun brings the next cards before the visitor needs them. A series of steps then costs one rerun every `edge` steps
// and one at its end, not one each (issue 22: the rerun behind a swapped card was 2.8x a no-model page's). A step past
// the held cards goes to Streamlit as before, from the number the box shows.
//
// The swap shows the value the box now holds, which is the value Streamlit sends; a value the server changes (one
// past the last) has no held card, so nothing is swapped for it. A rerun that draws another card replaces the
// swapped one (the element's HTML is set anew); one that draws the card it drew before leaves the swapped one,
// which then is that same card (a step and a step back); while a step is held, a rerun's card (one sent before it)
// is replaced by the held step's again. The component's data changes only with `hold`: it is not redrawn on the
// reruns, which the step's own rerun would otherwise end with; what the page drew comes with the shown card (its
// element's `data-drawn`, the value whose card and rest of the page the rerun drew: the held cards stay the same
// over reruns near where they were drawn, explorer/ui/step_cards.py `_centre`).

function heldCard(root, value) {  // the held card of `value`, or null: in a <template>, inert (not in the page's
  // tree, so neither styled nor walked by the page's own scripts on each rerun: ~650 elements on the Audit page)
  const template = document.querySelector(`${root.__sc.held} template`);
  return template ? template.content.querySelector(`[data-step="${value}"]`) : null;
}

function show(root, value) {  // the held card of `value` in place of the shown one; false when none is held
  const card = document.querySelector(`${root.__sc.card} [data-step]`);
  const held = heldCard(root, value);
  if (!card || !held) return false;
  if (card.dataset.step === String(value)) return true;
  card.replaceWith(document.importNode(held, true));
  root.dataset.swaps = String(Number(root.dataset.swaps || 0) + 1);  // tests and benchmarks read it
  return true;
}

function input(root) { return document.querySelector(`${root.__sc.box} input`); }

function number(root) {  // the box's number as typed or stepped, or null
  const text = input(root)?.value ?? "";
  return /^\s*\d+\s*$/.test(text) ? Number(text) : null;
}

function typeIn(box, value) {  // the box shows `value` as if typed: Streamlit's state for a number not sent yet
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(box, String(value));
  box.dispatchEvent(new Event("input", {bubbles: true}));
}

function rest(root, value) {  // what the rest of the page shows for `value` (its held card's data-hold), or null
  const card = heldCard(root, value);
  return card ? card.dataset.hold ?? "" : null;
}

function same(root, value) {  // whether the rest of the page, as drawn, is what it would show for `value`
  const drawn = document.querySelector(`${root.__sc.card} [data-drawn]`)?.dataset.drawn;
  const base = drawn === undefined ? null : rest(root, drawn), wanted = rest(root, value);
  return base !== null && base === wanted && (root.__expect === null || root.__expect === wanted);
}

function hold(root, value, by) {  // a step by `by` to `value` kept in the browser; false when it must go to Streamlit
  const sc = root.__sc, box = input(root);
  if (!sc.hold || !(sc.settle > 0) || !box || value < sc.min || value > sc.max || !same(root, value)
      || (sc.busy && document.querySelector(sc.busy)) || !show(root, value)) return false;
  typeIn(box, value);
  root.__held = value;
  box.closest(sc.box)?.setAttribute("data-sc-held", "");  // hides Streamlit's "Press Enter to apply" meanwhile
  if (sc.param) address(sc.param, String(value));
  clearTimeout(root.__timer);
  root.__timer = setTimeout(() => send(root), sc.settle);
  // Half way to the held cards' end the number goes now, so that its rerun brings the next ones before the
  // visitor gets there (one rerun every `edge` steps of a long series, none the visitor waits for).
  const ahead = value + by * sc.edge;
  if (ahead >= sc.min && ahead <= sc.max && !heldCard(root, ahead)) send(root);
  return true;
}

function release(root) {  // the held number goes (or went) to Streamlit some other way: nothing held any more
  clearTimeout(root.__timer);
  root.__held = null;
  document.querySelector(root.__sc.box)?.removeAttribute("data-sc-held");
}

function send(root, value = root.__held) {  // the held number goes to Python now, as Enter on the box sends it
  if (root.__held === null || root.__held === undefined) return;
  const box = input(root);
  release(root);
  if (!box) return;
  if (value !== Number(box.value)) typeIn(box, value);
  show(root, value);
  box.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true, cancelable: true}));
}

function listen(root) {  // once per mount; a listener whose component left the page removes itself
  const added = [];
  const add = (target, type, listener) => {
    target.addEventListener(type, listener, true);
    added.push([target, type, listener]);
  };
  const gone = () => {
    if (root.isConnected) return false;
    clearTimeout(root.__timer);
    for (const [target, type, listener] of added) target.removeEventListener(type, listener, true);
    return true;
  };
  const on = (type, handle) => add(document, type, (e) => {  // capture: before Streamlit's own handler
    if (!gone() && e.target instanceof Element && e.target.closest(root.__sc.box)) handle(e);
  });
  const step = (e, value, by) => {  // an arrow key or a +/- click: held, or Streamlit's as before (card swapped)
    if (hold(root, value, by)) { e.preventDefault(); e.stopPropagation(); return; }
    release(root);  // Streamlit steps from the number the box shows and sends it
    if (value >= root.__sc.min && value <= root.__sc.max) root.__expect = rest(root, value) ?? "?";  // until its
    show(root, value);                                                           // rerun, hold only what it shows
  };
  on("keydown", (e) => {
    const v = number(root);
    if (!e.isTrusted && e.key === "Enter") return;  // our own send
    if (v === null || e.altKey || e.ctrlKey || e.metaKey || !e.target.matches("input")) { send(root); return; }
    if (e.key === "ArrowUp") step(e, v + 1, 1);
    else if (e.key === "ArrowDown") step(e, v - 1, -1);
    else if (e.key === "Enter") { release(root); show(root, v); }  // Streamlit sends the number the box shows
    else if (!["Shift", "Tab"].includes(e.key)) send(root);  // typing over a held number: it goes first
  });
  on("click", (e) => {
    const button = e.target.closest("button");
    const v = number(root);
    if (!button || button.disabled || v === null) return;
    if (button.matches("[data-testid=stNumberInputStepUp]")) step(e, v + 1, 1);
    else if (button.matches("[data-testid=stNumberInputStepDown]")) step(e, v - 1, -1);
  });
  on("focusout", (e) => {
    const v = number(root);
    if (!e.target.matches("input")) return;
    if (root.__held !== null && root.__held !== undefined) { send(root); return; }  // leaving the box sends it
    if (v !== null) show(root, v);
  });
  // Anything else the visitor does goes after the held number. Streamlit sends the widget changes of one short
  // batch as one run of the first one's fragment, which would drop a change outside it (a tab changes on the
  // pointer's press), so the number goes as soon as the pointer moves outside the box, on its way elsewhere; the
  // press is the last moment (a click's change comes a task after it, a tab's in it and would be lost).
  const elsewhere = (e) => {
    const inside = e.target instanceof Element && e.target.closest(root.__sc.box);
    if (!gone() && root.__held !== null && !inside) send(root);
  };
  add(document, "pointermove", elsewhere);
  add(document, "pointerdown", elsewhere);
  add(document, "visibilitychange", () => { if (!gone() && document.visibilityState === "hidden") send(root); });
  // Back or Forward over links only this script wrote: the address bar's number is the one asked for.
  add(window, "popstate", () => {
    if (gone() || root.__held === null || root.__held === undefined) return;
    const text = new URLSearchParams(location.search).get(root.__sc.param);  // null: a link without it
    const linked = text === null ? NaN : Number(text);
    send(root, Number.isInteger(linked) && linked >= root.__sc.min && linked <= root.__sc.max ? linked
      : root.__held);
  });
  // A rerun sent before the held step draws its own card: the held step's goes back in. A rerun's new card says
  // what the page now shows (`data-drawn`, on the element Streamlit sets; a swap replaces the card inside it).
  root.__drawn = document.querySelector(`${root.__sc.card} [data-drawn]`);
  const watch = new MutationObserver(() => {
    if (gone()) { watch.disconnect(); return; }
    const drawn = document.querySelector(`${root.__sc.card} [data-drawn]`);
    if (drawn !== root.__drawn) { root.__drawn = drawn; root.__expect = null; }
    if (root.__held !== null && root.__held !== undefined) show(root, root.__held);
  });
  for (const where of [root.__sc.card, root.__sc.held]) {
    const el = document.querySelector(where);
    if (el) watch.observe(el, {childList: true, subtree: true});
  }
}

export default function (component) {
  const root = component.parentElement.querySelector(".sc-root");
  if (!root || !component.data) return;
  const first = !root.__sc;
  root.__sc = component.data;
  if (!root.__sc.hold) send(root);  // a page that now shows more than the card: a held number goes at once
  if (first) { root.__held = null; root.__expect = null; listen(root); root.dataset.ready = ""; }  // (tests wait)
}
