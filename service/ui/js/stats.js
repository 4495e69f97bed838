// Stats view: totals, and a stacked bar chart (files or bytes) by category and purpose in plain SVG.
import { getJSON } from "./api.js";
import { $, el, size } from "./format.js";
import { report } from "./notice.js";

const SVG = "http://www.w3.org/2000/svg";
const PURPOSES = ["training", "ingestion"];
const CATEGORIES = ["data", "text", "audio", "archive", "image"];
let measure = "count";
let latest = null;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const cell = (stats, purpose, category) =>
  (stats.by_purpose[purpose] && stats.by_purpose[purpose].by_category[category]) || { count: 0, size: 0 };
const show = (value) => (measure === "count" ? String(value) : size(value));

function chart(stats) {
  // Drawn at the container's own width so text keeps its CSS size at any screen width.
  const width = Math.max(300, Math.round($("#stats-chart").clientWidth) || 720);
  const row = 40;
  const left = 80;
  const right = width < 500 ? 70 : 90;
  const top = 8;
  const height = top + CATEGORIES.length * row + 24;
  const totals = CATEGORIES.map((c) => PURPOSES.reduce((sum, p) => sum + cell(stats, p, c)[measure], 0));
  const max = Math.max(1, ...totals);
  const scale = (value) => (value / max) * (width - left - right);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-title chart-desc" });
  root.append(svg("desc", { id: "chart-desc" },
    CATEGORIES.map((c, i) => `${c}: ${show(totals[i])}`).join(", ")));
  for (let step = 0; step <= 4; step += 1) {
    const x = left + ((width - left - right) * step) / 4;
    root.append(svg("line", { x1: x, x2: x, y1: top, y2: height - 22, class: "grid-line" }));
    root.append(svg("text", { x, y: height - 6, "text-anchor": "middle", class: "axis" },
      show(measure === "count" ? Math.round((max * step) / 4) : (max * step) / 4)));
  }
  CATEGORIES.forEach((category, index) => {
    const y = top + index * row + 8;
    root.append(svg("text", { x: left - 10, y: y + 16, "text-anchor": "end" }, category));
    let x = left;
    for (const purpose of PURPOSES) {
      const value = cell(stats, purpose, category)[measure];
      if (!value) continue;
      const w = Math.max(2, scale(value));
      const bar = svg("rect", { x, y, width: w, height: 24, rx: 3, class: `bar ${purpose}` });
      bar.append(svg("title", {}, `${purpose} ${category}: ${show(value)}`));
      root.append(bar);
      x += w;
    }
    root.append(svg("text", { x: x + 8, y: y + 16, class: "axis" }, show(totals[index])));
  });
  const legend = el("div", { class: "legend" }, ...PURPOSES.map((p) =>
    el("span", {}, el("span", { class: `swatch ${p}` }), p)));
  $("#stats-chart").replaceChildren(root, legend);
}

function table(stats) {
  const rows = [];
  for (const purpose of PURPOSES) {
    const group = stats.by_purpose[purpose];
    if (!group) continue;
    for (const category of CATEGORIES) {
      const c = group.by_category[category];
      if (!c) continue;
      rows.push(el("tr", { "data-purpose": purpose, "data-category": category },
        el("td", {}, el("span", { class: `badge ${purpose}`, text: purpose })), el("td", { text: category }),
        el("td", { class: "num", text: String(c.count) }), el("td", { class: "num", text: size(c.size) })));
    }
  }
  rows.push(el("tr", { "data-purpose": "all", class: "total" },
    el("td", { text: "total" }), el("td", { text: "all" }),
    el("td", { class: "num", id: "stats-total-count", text: String(stats.total_files) }),
    el("td", { class: "num", text: size(stats.total_size) })));
  $("#stats-body").replaceChildren(...rows);
}

function render() {
  const stats = latest;
  $("#stat-files").textContent = String(stats.total_files);
  $("#stat-size").textContent = size(stats.total_size);
  $("#stat-size").title = `${stats.total_size} bytes`;
  for (const purpose of PURPOSES) {
    const group = stats.by_purpose[purpose] || { count: 0, size: 0 };
    $(`#stat-${purpose}`).replaceChildren(String(group.count),
      el("span", { class: "stat-sub", text: ` files · ${size(group.size)}` }));
  }
  chart(stats);
  table(stats);
}

export async function load() {
  try {
    latest = (await getJSON("/api/v1/data/stats")).stats;
    render();
  } catch (error) {
    report(error);
  }
}

export function init() {
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => latest && !$("#view-stats").hidden && chart(latest), 150);
  });
  for (const [id, value] of [["#measure-count", "count"], ["#measure-size", "size"]]) {
    $(id).addEventListener("click", () => {
      measure = value;
      $("#measure-count").setAttribute("aria-pressed", String(value === "count"));
      $("#measure-size").setAttribute("aria-pressed", String(value === "size"));
      if (latest) render();
    });
  }
}

export function enter() {
  load();
}
