// Quick sliders (explorer/ui/quick_sliders.py): continuous do() sliders that swap the model's picture and its
// readings in the browser while they move, from a sweep the server computed ahead (the Image page's
// explorer/services/image_sweep.py, the Causal graph lab's explorer/services/lab_sweep.py), and send the value to
// Python only when a move ends (the range input's `change`: on release, or on a key press). Only the slider in
// use has its sweep; another asks for its own (`want`) when it is pressed, or REACH ms after the pointer entered it
// or it got the focus: a pointer passing over asks for nothing, and a move made at once (a key pressed as the
// slider got the focus) goes first, so its answer is drawn before the sweep is computed (under a class, each
// visitor's first answer waited for its own sweep: bench/bench_classroom.py).
// The component knows no world: each reading comes as text ("9 (99.76%)", "70 °") with a flag the page's `mark`
// follows (" flips"). Everything is text or a data: URI from the server; names (an uploaded model's included) are
// set as textContent, never as HTML.
//
// Each sweep comes once: a slider names its sweep by a content key, the bulk arrives only when the server does not
// know this mount holds it (every move and request reports the keys held). A key this mount lacks is asked for once.
// Moves are coalesced: one in flight at a time, and a held key sends only on release (the picture still swaps on
// every step). The newest waiting value goes when the server answers, or once the visitor paused for QUIET ms
// (a slow answer need not delay the last value: Streamlit stops the run it replaces at its next element).
//
// A move the page already shows whole (its answer panel swapped in the sweep's parts at exactly that value) of a
// slider whose do() box the server has ticked needs nothing from Python but the value itself: the address bar
// takes it at once (`address`), and the value goes after `settle` ms without a new one (`settle`), or as soon as
// the visitor does anything else on the page, so no rerun ever starts from an older value. A series of moves
// then costs one script run, not one each (issue 22: the browser's redraw of a rerun was most of a move's work).

const KEEP = 12;  // sweeps kept per mount (the lab's are ~150 kB each)
const QUIET = 120;  // ms without a new step after which a waiting value is sent, answered or not (keys repeat ~30 ms)
const REACH = 150;  // ms the pointer rests on a slider, or it holds the focus, before its sweep is asked for

function nearest(grid, v) {  // index of the sweep position closest to v (the grid is sorted)
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (Math.abs(grid[i] - v) < Math.abs(grid[best] - v)) best = i;
  return best;
}

function sweepOf(root, slider) {  // the slider's sweep if this mount holds it, else null
  return (slider.sweep && root.__qs.cache.get(slider.sweep)) || null;
}

function keep(root, sweeps, used) {  // store the sweeps that came; drop the oldest beyond KEEP, never one in use
  const cache = root.__qs.cache;
  for (const [key, sweep] of Object.entries(sweeps || {})) {
    cache.delete(key);
    cache.set(key, sweep);
    root.__qs.asked.delete(key);
  }
  for (const key of [...cache.keys()]) {
    if (cache.size <= KEEP) break;
    if (!used.has(key)) cache.delete(key);
  }
}

function held(root) { return [...root.__qs.cache.keys()]; }

function flush(root, now = false) {  // send the newest waiting value as a move (the callback applies it; a rerun)
  const qs = root.__qs;
  if (!qs.queued) return;
  const {name, value} = qs.queued;
  qs.queued = null;
  clearTimeout(qs.timer);
  // `swept`: the page already shows the whole answer at this very value (its panel swapped it in from the sweep), so
  // a page may skip redrawing it (explorer/ui/quick_sliders.py, `swept_whole`)
  const shown = qs.shown, swept = Boolean(shown && shown.whole && shown.name === name && shown.value === value);
  const slider = qs.data.sliders.find((s) => s.name === name);
  if (swept && !now && qs.data.settle > 0 && slider && slider.set) { settle(root, slider, value); return; }
  qs.settled = null;
  clearTimeout(qs.settleTimer);
  qs.pending = ++qs.nonce;
  qs.send("move", {name, value, n: qs.pending, held: held(root), swept});
  tell("quick-sent", {key: qs.data.key, n: qs.pending, swept});
}

function settle(root, slider, value) {  // a move shown whole: the link now, the value once the visitor pauses
  const qs = root.__qs;
  if (qs.settled && qs.settled.name !== slider.name) {  // another slider's value waits (leaving it sends it, so
    settleNow(root);                                     // this is a safeguard): it goes first, this one after it
    qs.queued = {name: slider.name, value};
    later(root);
    return;
  }
  qs.settled = {name: slider.name, value};
  address(slider.name, value.toFixed(slider.decimals));
  clearTimeout(qs.settleTimer);
  qs.settleTimer = setTimeout(() => settleNow(root), qs.data.settle);
}

function settleNow(root) {  // the settled value goes to Python now (before anything else the page sends)
  const qs = root.__qs;
  if (!qs.settled || qs.queued) return;  // a newer value waits: it goes instead
  qs.queued = qs.settled;
  flush(root, true);
}

// `address(name, text)`, the link written in the browser, is assets/common/address.js (loaded before this).

// What else on the page follows a slider (the Image page's answer panel, assets/image_panel/) listens for these on
// the document: `quick-move` with the sweep's `extra` at each step, `quick-sent` with the number of the move sent
// (the server echoes it as `applied` in the rerun that applied it).
function tell(type, detail) { document.dispatchEvent(new CustomEvent(type, {detail})); }

function later(root) {  // a waiting value goes after a pause of QUIET ms, if the answer has not sent it first
  const qs = root.__qs;
  clearTimeout(qs.timer);
  qs.timer = setTimeout(() => { if (qs.queued && !qs.holding) flush(root); }, QUIET);
}

function submit(root, name, value) {  // newest value wins: it waits while a move is in flight or a key is held
  const qs = root.__qs;
  qs.queued = {name, value};
  if (!qs.data.coalesce || (qs.pending === null && !qs.holding)) flush(root);
  else if (!qs.holding) later(root);
}

function showReadings(root, readings) {  // per reader: "name: before → now", and the page's mark when flagged
  const data = root.__qs.data;
  const list = root.querySelector(".qs-readings");
  list.replaceChildren(...data.readers.map((name, r) => {
    const [now, flagged] = readings[r];
    const li = document.createElement("li");
    const head = document.createElement("b");
    head.textContent = name + ": ";
    const text = document.createElement("span");
    text.textContent = `${data.original[r]} → ${now}`;
    li.append(head, text);
    if (flagged && data.mark) {
      const mark = document.createElement("span");
      mark.className = "qs-flip";
      mark.textContent = data.mark;
      li.append(mark);
    }
    return li;
  }));
}

function showValue(box, slider, v) {
  box.querySelector(".qs-value").textContent = v.toFixed(slider.decimals) + (slider.unit ? " " + slider.unit : "");
}

function build(root) {  // one labelled range input per slider, kept across reruns so focus and a drag survive
  const data = root.__qs.data;
  const holder = root.querySelector(".qs-sliders");
  holder.replaceChildren(...data.sliders.map((slider, s) => {
    const box = document.createElement("div");
    box.className = `qs-slider st-key-value_${slider.name}`;  // the key tests and benchmarks address
    const label = document.createElement("label");
    const text = document.createElement("span");
    const value = document.createElement("output");
    value.className = "qs-value";
    label.append(text, value);
    const input = document.createElement("input");
    Object.assign(input, {type: "range", min: slider.low, max: slider.high, step: slider.step});
    // The page sends one slider's sweep (the one in use); reaching for another asks for its own (one rerun).
    let reaching = null;  // the timer of a reach (pointer or focus) that has not asked yet
    const want = () => {
      clearTimeout(reaching);
      if (root.__qs.data.sliders[s].sweep || root.__qs.wanted === slider.name) return;
      root.__qs.wanted = slider.name;
      settleNow(root);
      root.__qs.send("want", {name: slider.name, n: ++root.__qs.nonce, held: held(root)});
    };
    const reach = () => { clearTimeout(reaching); reaching = setTimeout(want, REACH); };
    box.addEventListener("pointerenter", reach);
    box.addEventListener("pointerleave", () => clearTimeout(reaching));
    input.addEventListener("focus", reach);
    input.addEventListener("pointerdown", () => { root.__qs.dragging = true; want(); });
    input.addEventListener("pointerup", () => { root.__qs.dragging = false; });
    // a held key repeats: its steps swap the picture, and only the value at release goes to Python
    input.addEventListener("keydown", (e) => { if (e.repeat) root.__qs.holding = true; });
    const release = () => {
      if (!root.__qs.holding) return;
      root.__qs.holding = false;
      if (root.__qs.pending === null) flush(root); else later(root);
    };
    input.addEventListener("keyup", release);
    input.addEventListener("blur", () => { release(); settleNow(root); });
    input.addEventListener("input", () => {  // in the browser only: the sweep's picture and readings
      clearTimeout(reaching);  // moved before asking: the move's own rerun brings the sweep, after the answer
      const now = root.__qs.data.sliders[s], v = parseFloat(input.value);
      showValue(box, now, v);
      box.classList.add("qs-set");
      const sweep = sweepOf(root, now);
      root.__qs.shown = null;
      if (!sweep) return;  // its sweep is on its way: the value shows, the picture follows on release
      const i = nearest(sweep.grid, v);
      if (sweep.pictures.length) root.querySelector(".qs-picture").src = sweep.pictures[i];  // none: a page without
      showReadings(root, sweep.readings[i]);
      // `on`: the position is the value itself (a slider with more steps than positions shows the nearest)
      const on = Math.abs(sweep.grid[i] - v) <= 1e-9 * (1 + Math.abs(v));
      root.__qs.shown = {name: slider.name, value: v, whole: Boolean(sweep.extra) && on};
      if (sweep.extra) {
        tell("quick-move", {key: root.__qs.data.key, extra: sweep.extra[i], picture: sweep.pictures[i], on});
      }
    });
    input.addEventListener("change", () => {  // the move ended: the value goes to Python (a fragment rerun)
      root.__qs.dragging = false;
      submit(root, slider.name, parseFloat(input.value));
    });
    box.append(label, input);
    return box;
  }));
  root.__qs.names = data.sliders.map((s) => s.name).join(",");
}

function draw(root) {  // the server's state: every slider's value, the exact picture and readings
  const data = root.__qs.data;
  if (root.__qs.names !== data.sliders.map((s) => s.name).join(",")) build(root);
  const boxes = root.querySelectorAll(".qs-slider");
  data.sliders.forEach((slider, s) => {
    const box = boxes[s], input = box.querySelector("input"), label = box.querySelector("label span");
    label.textContent = slider.label;
    input.setAttribute("aria-label", slider.label);
    box.title = slider.help;  // as Streamlit's slider's help: "Moving the slider ticks do(thickness)."
    if (!(root.__qs.dragging && document.activeElement === input)) input.value = String(slider.value);
    showValue(box, slider, slider.value);
    box.classList.toggle("qs-set", slider.set);
    box.toggleAttribute("data-swept", sweepOf(root, slider) !== null);  // its moves redraw here (tests wait on it)
  });
  const picture = root.querySelector(".qs-picture");
  picture.width = picture.height = data.size;  // the page's size: a 28 px digit at 4x, a 64 px scene at 2x
  picture.hidden = !data.picture;  // the Table lab has no picture: its readings are the counterfactual row
  if (data.picture) picture.src = data.picture; else picture.removeAttribute("src");
  root.querySelector(".qs-caption").textContent = data.caption;
  showReadings(root, data.current);
}

export default function (component) {
  const {parentElement, setStateValue} = component;
  const root = parentElement.querySelector(".qs-root");
  if (!root || !component.data) return;
  const data = JSON.parse(component.data);  // sent as JSON text (explorer/ui/quick_sliders.py says why)
  const qs = root.__qs = root.__qs || {nonce: Date.now(), pending: null, wanted: null, dragging: false, names: null,
                                       cache: new Map(), asked: new Set(), queued: null, holding: false, timer: null,
                                       settled: null, settleTimer: null};
  qs.send = setStateValue;
  if (!qs.listening) {  // a page whose answer reruns without the sliders says when a move was applied (the Image
    qs.listening = true;  // page's answer panel); a listener whose sliders left the page removes itself
    const applied = (e) => {
      if (!root.isConnected) { document.removeEventListener("quick-applied", applied); return; }
      if (e.detail.key !== qs.data.key || qs.pending === null || e.detail.n !== qs.pending) return;
      qs.pending = null;
      if (qs.queued && !qs.holding) flush(root);
      else if (!qs.queued) askMissing(root);  // as when its own rerun comes: a sweep it lost is asked for
    };
    document.addEventListener("quick-applied", applied);
    // The settled value goes before the visitor can act elsewhere: as the pointer goes down outside the sliders,
    // or a slider loses the focus (build). Streamlit sends the widget changes of one task as one run, of the first
    // one's fragment, so it must go a task before another widget's change (a key's change comes in the keydown's
    // task; a click's, after the press's). Back sends the older link's value instead: the visitor asked for it.
    const elsewhere = (e) => {
      if (!root.isConnected) { stopListening(); return; }
      if (qs.settled && !e.target.closest?.(".qs-slider")) settleNow(root);
    };
    const hidden = () => { if (root.isConnected && document.visibilityState === "hidden") settleNow(root); };
    const back = () => {  // Back (or Forward) over links only the browser wrote: the server still draws the older
      if (!qs.settled || !root.isConnected) return;  // value, and Streamlit reruns nothing when the query it knows
      // is the one it set
      const {name} = qs.settled, slider = qs.data.sliders.find((s) => s.name === name);
      const linked = parseFloat(new URLSearchParams(location.search).get(name));
      clearTimeout(qs.settleTimer);
      qs.settled = null;
      qs.shown = null;  // the page's answer is not this value's: it is drawn again from the server
      qs.queued = {name, value: Number.isFinite(linked) ? linked : slider.value};
      flush(root, true);
    };
    const stopListening = () => {
      document.removeEventListener("pointerdown", elsewhere, true);
      document.removeEventListener("visibilitychange", hidden);
      window.removeEventListener("popstate", back);
    };
    document.addEventListener("pointerdown", elsewhere, true);
    document.addEventListener("visibilitychange", hidden);
    window.addEventListener("popstate", back);
  }
  qs.data = qs.data || data;  // the first run: `submit` reads `coalesce` from it
  const used = new Set([...data.sliders, ...qs.data.sliders].map((s) => s.sweep).filter(Boolean));
  keep(root, data.sweeps, used);  // from any run, even one drawn over: a key names its content
  // A rerun that started before the visitor's last move carries an older state: keep what the visitor sees
  // until the run that applied that move arrives (each move's number comes back as `applied`). The sweeps it names
  // that hold for what is on screen are taken, though (`adopt`): a page whose moves do not rerun the sliders would
  // otherwise never name the sweep that came while a move was on its way.
  if (qs.pending !== null && data.applied !== qs.pending) { adopt(root, data); return; }
  qs.pending = null;
  if (qs.queued) {  // a newer value waits (sent now, or on the key's release): this state is already old
    if (!qs.holding) flush(root);
    return;
  }
  if (qs.settled) { adopt(root, data); return; }  // a value shown whole has not reached Python yet: it is older
  qs.wanted = null;
  qs.data = data;
  draw(root);
  askMissing(root);
}

function adopt(root, data) {  // from a rerun drawn over: each slider's sweep, when the sliders it depends on (all the
  const qs = root.__qs;       // others: their values and do() boxes) are as the visitor has them now
  const boxes = [...root.querySelectorAll(".qs-slider")];
  if (boxes.length !== data.sliders.length || qs.data.sliders.length !== data.sliders.length) return;
  const now = boxes.map((box, i) => ({name: data.sliders[i].name, value: parseFloat(box.querySelector("input").value),
                                      set: box.classList.contains("qs-set")}));
  data.sliders.forEach((slider, i) => {
    if (!slider.sweep || slider.name !== qs.data.sliders[i].name) return;
    const held = now.every((o, j) => j === i || (o.name === data.sliders[j].name && o.set === data.sliders[j].set
                                                 && (!o.set || Math.abs(o.value - data.sliders[j].value) < 1e-9)));
    if (held) qs.data.sliders[i] = {...qs.data.sliders[i], sweep: slider.sweep};
  });
}

function askMissing(root) {  // a sweep named but not held (a new mount, or it dropped it): ask once; until it comes,
  const qs = root.__qs;      // moves show the value
  const missing = qs.data.sliders.find((s) => s.sweep && !qs.cache.has(s.sweep) && !qs.asked.has(s.sweep));
  if (missing) {
    qs.asked.add(missing.sweep);
    settleNow(root);
    qs.send("want", {name: missing.name, n: ++qs.nonce, held: held(root), need: missing.sweep});
  }
}
