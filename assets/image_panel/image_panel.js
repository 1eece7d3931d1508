// The what-if pages' answer panel (explorer/ui/answer_panel.py): a page's results as ONE element, drawn from the
// server's parts and redrawn in place, part by part, only where a part's data changed. The Image page mounts it
// twice (explorer/ui/image_answer.py): beside the controls (the pictures, notes and table) and under "What the
// classifiers see" (the summary, the lines and the chart); the Causal graph lab once (explorer/ui/lab_answer.py:
// the idle-arrow note, three scenes, the model's error, the table; look "scenes"); the Table lab once
// (explorer/ui/table_lab_answer.py: the person, the records table and the words under it).
//
// While a quick slider moves (assets/quick_sliders/), each step's `quick-move` event carries the sweep's parts at
// that position: the panel swaps them at once. The pages' sweeps hold their whole answer (`whole`), so a step at a
// position of the sweep (`on`) is final, and the page's rerun only writes the link. A step between two positions (a
// slider with more steps than positions) shows the nearest one's, marked stale (`data-stale`, which tests and
// benchmarks wait on), until the rerun that applied the move (`quick-sent` names its number; the server echoes it as
// `applied`) brings the answer at the value. A part a sweep lacks (a null table row, no chart) greys until then.
// A rerun from before the visitor's newest step is not drawn over what the visitor moved to. Each answer drawn is
// passed on as `quick-applied` (the number of the move it applied), for the sliders, whose fragment does not rerun.
// Every text is set as textContent: runs [text, style], never HTML, so an uploaded model's name cannot draw.

function runs(el, parts) {  // [[text, ""|"b"|"r"], ...] -> text and <b> nodes ("r": a flip, bold red)
  el.replaceChildren(...parts.map(([text, style]) => {
    if (!style) return document.createTextNode(text);
    const b = document.createElement("b");
    if (style === "r") b.className = "ip-flip";
    b.textContent = text;
    return b;
  }));
}

function box(el, parts) { el.hidden = !parts.length; runs(el, parts); }

function pictures(root, items) {  // four figures, kept: only a changed address is set (no re-decode, no flicker)
  const holder = root.querySelector(".ip-pictures");
  holder.hidden = !items.length;
  holder.style.setProperty("--ip-n", items.length);  // four digits or three scenes to a row
  while (holder.children.length < items.length) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    const missing = document.createElement("div");
    missing.className = "ip-missing";
    fig.append(img, missing, document.createElement("figcaption"));
    holder.append(fig);
  }
  while (holder.children.length > items.length) holder.lastChild.remove();
  items.forEach((item, i) => {
    const fig = holder.children[i], img = fig.querySelector("img"), cap = fig.querySelector("figcaption");
    const missing = fig.querySelector(".ip-missing");
    img.hidden = cap.hidden = !item.src;
    missing.hidden = !item.missing;
    if (item.missing) runs(missing, item.missing);
    if (!item.src) return;
    if (img.getAttribute("src") !== item.src) img.src = item.src;
    img.alt = cap.textContent = item.caption;
  });
}

function headRow(labels) {  // a table's header row, one <th> per label
  const head = document.createElement("tr");
  head.append(...labels.map((label) => {
    const th = document.createElement("th");
    th.textContent = label;
    return th;
  }));
  return head;
}

function values(root, table, last) {  // header, then a row per [who, what, cells...]; "=": as drawn; null: greyed
  const el = root.querySelector(".ip-values");
  el.hidden = false;
  const head = headRow(["", ...(table.header || last.header)]);
  const rows = table.rows.map((row, r) => {
    const tr = document.createElement("tr");
    const pending = !row, shown = row === "=" || pending ? last && last.rows[r] : row;
    if (pending) tr.className = "ip-pending";
    if (!shown) return tr;
    const [who, what, ...cells] = shown;
    const first = document.createElement("td");
    runs(first, [[who, "b"], [": " + what, ""]]);
    tr.append(first, ...cells.map((c) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (pending) td.title = "Measured again when you release the slider";
      return td;
    }));
    return tr;
  });
  el.querySelector("table").replaceChildren(head, ...rows);
}

function cell(td, [text, mark]) {  // a records cell: "" plain, "b" bold, "c" changed, "s" set by the visitor
  if (!mark) { td.textContent = text; return; }
  const b = document.createElement("b");
  b.textContent = text;
  if (mark === "b") { td.append(b); return; }
  const span = document.createElement("span");
  span.className = "ip-mark";
  span.append(b);
  if (mark === "s") span.append(" (set by you)");
  td.append(span);
}

function records(root, table, last) {  // the Table lab's: header, then a row of cells per column; "=": as drawn
  const el = root.querySelector(".ip-records");
  el.hidden = false;
  const head = headRow(table.header || last.header);
  const rows = table.rows.map((row, r) => {
    const tr = document.createElement("tr"), shown = row === "=" ? last && last.rows[r] : row;
    (shown || []).forEach((c) => { const td = document.createElement("td"); cell(td, c); tr.append(td); });
    return tr;
  });
  el.querySelector("table").replaceChildren(head, ...rows);
}

function lines(root, items) {
  const list = root.querySelector(".ip-lines");
  list.hidden = !items.length;
  list.replaceChildren(...items.map((parts) => { const li = document.createElement("li"); runs(li, parts); return li; }));
}

function chart(root, pieces, note) {  // [fixed, moving]: an SVG data: URI in two pieces; fixed null: as drawn
  const ip = root.__ip, fig = root.querySelector(".ip-chart");
  if (pieces && pieces[0]) ip.chartFixed = pieces[0];
  const src = pieces && ip.chartFixed ? ip.chartFixed + pieces[1] + "</svg>" : "";
  fig.hidden = !src;
  fig.classList.remove("ip-stale");
  const img = fig.querySelector("img");
  if (src && img.getAttribute("src") !== src) img.src = src;
  fig.querySelector("figcaption").textContent = note || "";
}

// the parts drawn as one block of text each (hidden when empty): the Image page's notes and summary; the lab's
// idle-arrow note and the model's error; the Table lab's person and the words under its records
const BOXES = new Set(["unknown", "knock", "summary", "inert", "mse", "person", "changed", "records_note"]);

function drawPart(root, key, value) {  // one part, when its data differs from what is drawn
  const ip = root.__ip, text = JSON.stringify(value);
  if (ip.drawn[key] === text) return;
  ip.drawn[key] = text;
  if (key === "pictures") pictures(root, value);
  else if (BOXES.has(key)) box(root.querySelector(".ip-" + key), value);
  else if (key === "values") { values(root, value, ip.values); if (value.header) ip.values = value; }
  else if (key === "records") { records(root, value, ip.records); if (value.header) ip.records = value; }
  else if (key === "lines") lines(root, value);
  else if (key === "chart") chart(root, value, ip.data.notes.chart);
}

function draw(root) {  // the server's parts: everything exact
  const {parts, notes} = root.__ip.data;
  for (const [key, value] of Object.entries(parts)) drawPart(root, key, value);
  const vn = root.querySelector(".ip-values-note"), ln = root.querySelector(".ip-lines-note");
  vn.textContent = notes.values || "";
  ln.textContent = notes.lines || "";
  ln.hidden = !notes.lines;
  root.querySelector(".ip-chart").classList.remove("ip-stale");
  // exact again, unless this rerun is older than a move on its way (tests and benchmarks wait until nothing on the
  // page is stale)
  const ip = root.__ip;
  root.dataset.stale = ip.awaiting !== null && ip.data.applied !== ip.awaiting ? "true" : "false";
}

function step(root, detail) {  // a quick slider's step: the sweep's parts at that position
  const ip = root.__ip, parts = detail.extra;
  ip.moved = true;
  ip.awaiting = null;
  // the sweep's answer: the rerun's exact one follows, unless the sweep holds this page's whole answer (`whole`)
  // and the step is at the value itself (`on`; not the nearest of a slider's positions)
  root.dataset.stale = ip.data.whole && detail.on ? "false" : "true";
  for (const [key, value] of Object.entries(parts)) {
    if (!(key in ip.data.parts)) continue;  // not this mount's part
    if (key === "pictures") {  // null: unchanged (the original) or the quick slider's own picture (the model's)
      const now = ip.data.parts.pictures;
      drawPart(root, key, value.map((p, i) => p || (i === 1 ? {src: detail.picture, caption: now[1].caption}
                                                              : JSON.parse(ip.drawn.pictures)[i])));
    } else drawPart(root, key, value);
  }
  const fig = root.querySelector(".ip-chart");
  if (!fig.hidden && !("chart" in parts)) fig.classList.add("ip-stale");  // a sweep without the chart: on release
}

export default function (component) {
  const root = component.parentElement.querySelector(".ip-root");
  if (!root || !component.data) return;
  const data = JSON.parse(component.data);  // JSON text: Streamlit walks a dict for dataframes, a str goes as it is
  const ip = root.__ip = root.__ip || {drawn: {}, values: null, records: null, moved: false, awaiting: null, data};
  if (!ip.listening) {  // once per mount; a listener whose panel left the page removes itself
    ip.listening = true;
    const on = (type, handle) => {
      const listener = (e) => {
        if (!root.isConnected) { document.removeEventListener(type, listener); return; }
        if (e.detail.key === root.__ip.data.follow) handle(e.detail);
      };
      document.addEventListener(type, listener);
    };
    on("quick-move", (detail) => step(root, detail));
    on("quick-sent", (detail) => {  // a move on its way: the answer on screen is its value's only if swept whole
      root.__ip.awaiting = detail.n;
      if (!detail.swept) root.dataset.stale = "true";
    });
  }
  ip.data = data;
  root.classList.toggle("ip-scenes", data.look === "scenes");
  // moved since, and this rerun is not the one that applied the newest move: keep what the visitor moved to
  if (ip.moved && (ip.awaiting === null || data.applied !== ip.awaiting)) return;
  ip.moved = false;
  draw(root);
  // the quick sliders' own fragment does not rerun on a move (explorer/ui/image_whatif.py, `moved`): this rerun
  // tells them their move was applied, so the next waiting value goes now
  document.dispatchEvent(new CustomEvent("quick-applied", {detail: {key: data.follow, n: data.applied}}));
}
