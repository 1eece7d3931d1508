// Quick sliders (explorer/ui/quick_sliders.py): continuous do() sliders that swap the model's picture and its
// readings in the browser while they move, from a sweep the server computed ahead (the Image page's
// explorer/services/image_sweep.py, the Causal graph lab's explorer/services/lab_sweep.py), and send the value to
// Python only when a move ends (the range input's `change`: on release, or on each key press). Only the slider in
// use has its sweep; another asks for its own (`want`) when the pointer enters it, it gets the focus or is pressed.
// The component knows no world: each reading comes as text ("9 (99.76%)", "70 °") with a flag the page's `mark`
// follows (" flips"). Everything is text or a data: URI from the server; names (an uploaded model's included) are
// set as textContent, never as HTML.

function nearest(grid, v) {  // index of the sweep position closest to v (the grid is sorted)
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (Math.abs(grid[i] - v) < Math.abs(grid[best] - v)) best = i;
  return best;
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
    const want = () => {
      if (root.__qs.data.sliders[s].grid.length || root.__qs.wanted === slider.name) return;
      root.__qs.wanted = slider.name;
      root.__qs.send("want", {name: slider.name, n: ++root.__qs.nonce});
    };
    box.addEventListener("pointerenter", want);
    input.addEventListener("focus", want);
    input.addEventListener("pointerdown", () => { root.__qs.dragging = true; want(); });
    input.addEventListener("pointerup", () => { root.__qs.dragging = false; });
    input.addEventListener("input", () => {  // in the browser only: the sweep's picture and readings
      const now = root.__qs.data.sliders[s], v = parseFloat(input.value);
      showValue(box, now, v);
      box.classList.add("qs-set");
      if (!now.grid.length) return;  // its sweep is on its way: the value shows, the picture follows on release
      const i = nearest(now.grid, v);
      if (now.pictures.length) root.querySelector(".qs-picture").src = now.pictures[i];  // none: a page without
      showReadings(root, now.readings[i]);
    });
    input.addEventListener("change", () => {  // the move ended: the value goes to Python (a fragment rerun)
      root.__qs.dragging = false;
      root.__qs.pending = ++root.__qs.nonce;
      root.__qs.send("move", {name: slider.name, value: parseFloat(input.value), n: root.__qs.pending});
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
    box.toggleAttribute("data-swept", slider.grid.length > 0);  // its moves redraw in the browser (tests wait on it)
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
  root.__qs = root.__qs || {nonce: Date.now(), pending: null, wanted: null, dragging: false, names: null};
  root.__qs.send = setStateValue;
  // A rerun that started before the visitor's last move carries an older state: keep what the visitor sees
  // until the run that applied that move arrives (each move's number comes back as `applied`).
  if (root.__qs.pending !== null && data.applied !== root.__qs.pending) return;
  root.__qs.pending = null;
  root.__qs.wanted = null;
  root.__qs.data = data;
  draw(root);
}
