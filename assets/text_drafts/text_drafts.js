// The Text what-if page's drafts (explorer/ui/text_drafts.py): the answer for a text is asked for while the
// visitor pauses in typing, so that Ctrl+Enter (or leaving the box) shows it at once, before the rerun that
// commits the text draws the same answer again.
//
// A pause of `pause_ms` in the text box (`box`, a selector) sends the box's text as the component's `draft`
// state: one draft in flight at a time, the newest text going when the last is answered (or after `wait_ms`).
// The server's answer comes back as `data.answer` ({text, id}; id null when the answer is not one plain element:
// notes, nothing to rewrite, an error) and, for an id, the answer's HTML in a hidden element (`held`) marked
// `data-draft=id`. On Ctrl+Enter or when the box loses focus, the held answer for the box's exact text replaces
// the result's content (the st.html element holding the chart `chart`, when it follows the text box's element
// `after` with no note between); the commit's rerun then draws that same HTML. Nothing else on the page is
// touched: a result with notes above it waits for the rerun, as before.
//
// The answer's HTML reaches the page as a hidden st.html element of the drafts' own fragment (sanitised and set by
// Streamlit, as the result is), marked with the draft's id; showing it is a copy of those nodes, no markup parsed.
//
// A commit with no held answer (a text submitted without a pause) asks the page's route (`route`,
// explorer/ui/text_route.py) for the answer at once, in the key press's own event; the answer comes back as a tree
// of elements (tags and attributes from the lists below, text as text nodes) built here, if the box still holds that
// text and the result is plain. Ctrl+Enter is held back meanwhile (at most `ask_ms`) and then passed on to the text
// area, whose commit's rerun draws the same answer (kept by the server: no second model call); leaving the box
// commits at once, the route's answer and the rerun's racing.

function plainResult(data) {  // the result's st.html element when it follows the text box with nothing between
  const html = document.getElementById(data.chart)?.closest("[data-testid=stHtml]");
  const before = html?.closest("[data-testid=stElementContainer]")?.previousElementSibling;
  return before && before.matches(data.after) ? html : null;
}

function show(root, text) {  // a held answer for `text`, drawn now; false when none is held
  const td = root.__td, answer = td.answer;  // once: Ctrl+Enter then leaving the box must not draw it twice
  const id = answer && !answer.shown && answer.text === text ? answer.id : null;
  const held = id ? document.querySelector(`${td.data.held} [data-draft="${id}"]`) : null;
  const target = held ? plainResult(td.data) : null;
  if (!target) return false;
  answer.shown = true;
  target.replaceChildren(...[...held.childNodes].map((node) => node.cloneNode(true)));
  for (const el of target.querySelectorAll("[data-held-id]")) {  // the id the hidden copy could not hold
    el.id = el.dataset.heldId;
    el.removeAttribute("data-held-id");
  }
  root.dataset.shown = String(Number(root.dataset.shown || 0) + 1);  // tests and benchmarks read it
  return true;
}

const TAGS = new Set(["div", "p", "strong", "em", "span", "br", "ul", "li", "img"]);  // text_route.TAGS
const ATTRS = new Set(["style", "id", "alt", "src", "role", "aria-label"]);  // text_route.ATTRS

function build(node) {  // a tree node (text_route.tree) as a DOM node; null for anything outside the lists
  if (typeof node === "string") return document.createTextNode(node);
  if (!Array.isArray(node) || !TAGS.has(node[0])) return null;
  const [tag, attrs, ...kids] = node;
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (!ATTRS.has(name) || typeof value !== "string") return null;
    if (name === "src" && !value.startsWith("data:image/svg+xml")) return null;
    el.setAttribute(name, value);
  }
  for (const kid of kids) {
    const built = build(kid);
    if (built === null) return null;
    el.append(built);
  }
  return el;
}

function askable(root, text) {  // a commit the route can answer: a text, not on screen already, not asked
  const td = root.__td;
  return Boolean(td.data.route) && Boolean(text.trim()) && text !== td.data.committed && text !== td.asked;
}

async function ask(root, text) {  // the route's answer for `text`, drawn if the box still holds it
  const td = root.__td, {route, concept, level} = td.data;
  td.asked = text;
  const abort = new AbortController(), timer = setTimeout(() => abort.abort(), td.data.ask_ms);
  let answer = null;
  try {
    const reply = await fetch(route, {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify({concept, level, text}), credentials: "same-origin",
                                      signal: abort.signal});
    if (reply.ok) answer = (await reply.json()).answer;
  } catch (err) {
    return;  // no route (another server), too slow or no answer: the commit's rerun draws it, as before
  } finally {
    clearTimeout(timer);
  }
  const box = document.querySelector(td.data.box), target = plainResult(td.data);
  if (!answer || answer.text !== text || !box || box.value !== text || !target) return;
  if (td.data.concept !== concept || td.data.level !== level) return;
  const nodes = answer.tree.map(build);
  if (nodes.includes(null)) return;
  target.replaceChildren(...nodes);
  root.dataset.asked = String(Number(root.dataset.asked || 0) + 1);  // tests and benchmarks read it
}

function commitAgain(root, held, key) {  // the Ctrl+Enter held back, now passed on to the text area
  // the box as it is now: a redraw meanwhile may have put another element in its place
  const box = held.isConnected ? held : document.querySelector(root.__td.data.box);
  if (!box) return;
  root.__td.passing = true;
  try {
    box.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", code: "Enter", ctrlKey: key.ctrlKey,
                                                    metaKey: key.metaKey, bubbles: true, cancelable: true}));
  } finally {
    root.__td.passing = false;
  }
}

function send(root) {  // the box's text as a draft, unless it is answered, committed or one is in flight
  const td = root.__td, box = document.querySelector(td.data.box);
  if (!box) return;
  const text = box.value;
  // a text ending in a space or a line break: the visitor paused between words, where people pause while typing,
  // rarely to submit (under a class of typists such drafts were ~5 of every 6, each a server run and a redraw)
  if (!text.trim() || /\s$/.test(text) || text === td.data.committed || text === td.inflight) return;
  if (td.answer && td.answer.text === text) return;
  if (td.inflight !== null && performance.now() - td.sentAt < td.data.wait_ms) { td.pending = true; return; }
  td.inflight = text;
  td.sentAt = performance.now();
  td.pending = false;
  td.send("draft", text);
}

function listen(root) {  // once per mount; a listener whose component left the page removes itself
  const on = (type, handle, capture) => {
    const listener = (e) => {
      if (!root.isConnected) { document.removeEventListener(type, listener, capture); return; }
      if (e.target instanceof Element && e.target.matches(root.__td.data.box)) handle(e);
    };
    document.addEventListener(type, listener, capture);
  };
  on("input", () => {
    clearTimeout(root.__td.timer);
    root.__td.timer = setTimeout(() => send(root), root.__td.data.pause_ms);
  }, false);
  const left = (e) => {  // leaving the box commits it at once: its held answer, or the route's and the rerun's race
    clearTimeout(root.__td.timer);
    const text = e.target.value;
    if (!show(root, text) && askable(root, text)) ask(root, text).catch(() => {});
  };
  on("keydown", (e) => {
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || root.__td.passing) return;
    clearTimeout(root.__td.timer);
    const box = e.target, text = box.value;
    if (show(root, text) || !askable(root, text)) return;
    // Held back until the route's answer is drawn (or it failed, or ask_ms passed): the rerun, sent at the same
    // moment, would take the cores and the browser's main thread the answer needs, and it draws the same
    e.stopPropagation();
    ask(root, text).catch(() => {}).finally(() => commitAgain(root, box, e));
  }, true);
  on("focusout", left, true);
  root.__td.timer = setTimeout(() => send(root), root.__td.data.pause_ms);  // a text typed before this mount
}

export default function (component) {
  const root = component.parentElement.querySelector(".td-root");
  if (!root || !component.data) return;
  const data = JSON.parse(component.data);  // JSON text: Streamlit walks a dict for dataframes
  const td = root.__td = root.__td || {answer: null, inflight: null, sentAt: 0, pending: false, timer: null,
                                      asked: null, passing: false};
  td.send = component.setStateValue;
  if (td.data && (td.data.concept !== data.concept || td.data.level !== data.level)) td.answer = null;
  td.data = data;
  if (data.answer) {  // the newest draft answered (for this concept and level: they are in its id)
    td.answer = data.answer;
    if (data.answer.text === td.inflight) td.inflight = null;
    root.dataset.held = data.answer.id || "";  // tests and benchmarks read it
  }
  if (!td.listening) { td.listening = true; listen(root); }
  if (td.inflight === null && td.pending) send(root);
}
