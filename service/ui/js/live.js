// Live events: one Server-Sent Events reader for the page, read with fetch() because EventSource
// cannot send the API key (Authorization header) and a key in the URL would end up in logs.
// It resumes with Last-Event-ID after a drop (nothing missed); views poll while it is down.
import { apiKey } from "./api.js";

const listeners = new Set();
let controller = null;
let timer = null;
let lastId = null;
let state = "down";
let retryMs = 3000;
let backoff = 0;

export const isLive = () => state === "live";

// listener: { event(cloudEvent), state("live" | "down") }; returns a function that stops listening.
export function listen(listener) {
  listeners.add(listener);
  if (!controller && !timer) connect();
  return () => {
    listeners.delete(listener);
    if (!listeners.size) stop();  // nobody follows: close the stream (views reload when they come back)
  };
}

function stop() {
  if (controller) controller.abort();
  controller = null;
  clearTimeout(timer);
  timer = null;
  lastId = null;
  backoff = 0;
  setState("down");
}

// A new API key: start over (the old stream may have been refused or belong to another key).
export function restart() {
  stop();
  if (listeners.size) connect();
}

function setState(next) {
  document.body.dataset.live = next;  // shown to tests and styles, also on the first failure
  if (state === next) return;
  state = next;
  for (const listener of listeners) listener.state && listener.state(next);
}

async function connect() {
  timer = null;
  const abort = new AbortController();
  controller = abort;
  const headers = { Accept: "text/event-stream" };
  const key = apiKey.get();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (lastId) headers["Last-Event-ID"] = lastId;
  let refused = false;
  try {
    const response = await fetch("/api/v1/events/stream", { headers, signal: abort.signal, cache: "no-store" });
    refused = response.status === 401 || response.status === 403;  // wait for another key
    if (!response.ok || !response.body) throw new Error(`event stream: HTTP ${response.status}`);
    backoff = 0;
    setState("live");
    await read(response.body);
  } catch (_) { /* dropped or refused: the views poll until a reconnect works */ }
  if (controller !== abort) return;  // restarted meanwhile
  controller = null;
  setState("down");
  if (listeners.size && !refused) {
    timer = setTimeout(connect, Math.min(retryMs * 2 ** backoff, 60000));
    backoff = Math.min(backoff + 1, 5);
  }
}

async function read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r\n\r\n|\n\n|\r\r/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^(\r\n\r\n|\n\n|\r\r)/, "");
      dispatch(block);
    }
  }
}

// One SSE message (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
function dispatch(block) {
  const data = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    let value = at < 0 ? "" : line.slice(at + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "id") lastId = value;
    else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
  }
  if (!data.length) return;
  let event;
  try { event = JSON.parse(data.join("\n")); } catch (_) { return; }
  for (const listener of listeners) listener.event && listener.event(event);
}
