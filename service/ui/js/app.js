// Entry point: the fragment router (#upload, #browse, #stats, #models), the API-key form and notices.
import { apiKey } from "./api.js";
import { $ } from "./format.js";
import { restart as restartLive } from "./live.js";
import { notify } from "./notice.js";
import * as upload from "./upload.js";
import * as browse from "./browse.js";
import * as stats from "./stats.js";
import * as models from "./models.js";

const views = { upload, browse, stats, models };
let current = null;

function show(name) {
  if (!views[name]) name = "upload";
  for (const key of Object.keys(views)) $(`#view-${key}`).hidden = key !== name;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (current && current !== name && views[current].leave) views[current].leave();
  current = name;
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · Depot`;
  views[name].enter();
}

function keyForm() {
  const form = $("#key-form");
  const input = $("#api-key");
  const mark = () => form.classList.toggle("has-key", Boolean(apiKey.get()));
  input.value = apiKey.get();
  mark();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apiKey.set(input.value.trim());
    mark();
    notify(apiKey.get() ? "API key saved for this browser tab." : "API key cleared.");
    restartLive();
    if (current) views[current].enter();
  });
  $("#key-clear").addEventListener("click", () => {
    input.value = "";
    apiKey.set("");
    mark();
    restartLive();
    notify("API key cleared.");
  });
}

function start() {
  keyForm();
  for (const view of Object.values(views)) view.init();
  const route = () => {
    const name = location.hash.slice(1) || "upload";
    $("#notice").hidden = true;
    show(name);
  };
  window.addEventListener("hashchange", () => { route(); $("#main").focus({ preventScroll: true }); });
  route();
}

start();
