// The lokilog dashboard: plain JavaScript, no build step. It holds a bearer token in
// sessionStorage (never in the URL it keeps) and stays live through /api/events/stream,
// read with fetch() because EventSource cannot send an Authorization header.
"use strict";

const MAX_ROWS = 500;
const state = { token: null, lastSeq: 0, events: [], controller: null, retry: 500, refreshTimer: null, undo: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

// ------------------------------------------------------------------ token and API calls

function takeToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("lokilog-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);
  }
  state.token = sessionStorage.getItem("lokilog-token");
  $("login").hidden = Boolean(state.token);
  $("logout").hidden = !state.token;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind === "info" ? "info" : "";
  box.hidden = false;
}

function refused(error, what) {
  const reason = { 401: "not signed in", 403: "refused", 409: "conflict", 429: "rate limited" }[error.status] || "failed";
  say(`${what}: ${reason} (${error.status || "network"}): ${error.message}`);
}

// ------------------------------------------------------------------ panels

async function loadStatus() {
  const status = await api("GET", "/api/status");
  const run = status.run;
  const session = run.session || {};
  $("run-session").textContent = session.id || "-";
  $("run-status").textContent = session.status || "-";
  $("run-status").className = `status-${session.status}`;
  $("run-phase").textContent = run.phase ? `${run.phase}${session.iteration != null ? ` (iteration ${session.iteration})` : ""}` : "-";
  $("run-agents").textContent = run.agents.map((a) => `${a.id} (${a.type || "?"})`).join(", ") || "none";
  $("run-gates").textContent = `${run.gates.passed} passed, ${run.gates.failed} failed`;
  $("head").textContent = `head seq ${status.head_seq}`;
  $("task-counts").replaceChildren(...Object.entries(run.task_counts).map(([k, v]) => el("span", { class: `status-${k}` }, `${k} ${v}`)));
  const tasks = await api("GET", "/api/tasks");
  $("tasks").tBodies[0].replaceChildren(...tasks.tasks.map((t) => el("tr", { "data-task": t.id },
    el("td", {}, t.id), el("td", {}, t.title), el("td", { class: `status-${t.status}` }, t.status),
    el("td", {}, Object.entries(t.gates).map(([g, r]) => `${g}: ${r}`).join(", ")))));
}

async function loadCost() {
  const cost = await api("GET", "/api/cost");
  const total = cost.total;
  $("cost-total").textContent = `$${total.usd ?? "unknown"} for ${total.tokens} tokens in ${total.events} usage events` +
    (total.usd_complete ? "" : " (some cost unknown)");
  $("budgets").replaceChildren(...cost.budgets.map((b) => {
    const percent = Math.min(100, Number(b.percent));
    const bar = el("div", { class: `bar${b.exceeded ? " over" : percent >= 80 ? " high" : ""}`, "data-budget": b.budget },
      el("div", { style: `width:${percent}%` }));
    return el("div", {}, el("div", {}, `${b.budget} (${b.window}): ${b.spent} of ${b.limit} ${b.unit}, ${b.percent}%`), bar);
  }));
  if (!cost.budgets.length) $("budgets").append(el("p", { class: "muted" }, "No budgets configured."));
}

async function loadCheckpoints() {
  const listed = await api("GET", "/api/checkpoints");
  const rows = listed.checkpoints.slice().reverse().map((c) => {
    const actions = el("td");
    const start = el("button", { type: "button", class: "rollback", onclick: () => confirmStep(actions, c) }, "Roll back");
    actions.append(start);
    return el("tr", { "data-checkpoint": c.id }, el("td", {}, c.id), el("td", {}, c.kind), el("td", {}, c.log_seq ?? ""),
      el("td", {}, c.message || ""), actions);
  });
  $("checkpoint-list").tBodies[0].replaceChildren(...rows);
}

// Two steps: the first click only asks; the second rolls back.
function confirmStep(cell, checkpoint) {
  cell.replaceChildren(
    el("button", { type: "button", class: "danger confirm-rollback", onclick: () => rollback(checkpoint.id) }, `Confirm rollback to ${checkpoint.id}`),
    el("button", { type: "button", class: "quiet", onclick: () => loadCheckpoints() }, "Cancel"));
}

async function rollback(id) {
  try {
    const done = await api("POST", `/api/checkpoints/${encodeURIComponent(id)}/rollback`, {});
    state.undo = done.undo;
    $("undo-text").textContent = `Rolled back to ${done.checkpoint_id} (run state at seq ${done.to_seq ?? "-"}; ` +
      `${done.restored.length} restored, ${done.removed.length} removed). The state before is kept as ${done.pre_rollback_checkpoint}.`;
    $("undo-button").hidden = false;
    $("undo-banner").hidden = false;
    if (done.errors.length) say(`Rollback finished with errors: ${done.errors.join("; ")}`);
  } catch (error) {
    refused(error, "Rollback");
  }
  await refreshSoon(0);
}

async function undo() {
  if (!state.undo) return;
  try {
    await api(state.undo.method, state.undo.path, state.undo.body);
    $("undo-text").textContent = "Rollback undone.";
    $("undo-button").hidden = true;
    state.undo = null;
  } catch (error) {
    refused(error, "Undo");
  }
  await refreshSoon(0);
}

async function loadApprovals() {
  const listed = await api("GET", "/api/approvals");
  const items = listed.approvals.map((a) => el("li", { "data-approval": a.approval_id },
    el("div", {}, el("strong", {}, a.rule || a.point || a.approval_id), " ", el("span", { class: "muted" }, a.approval_id)),
    el("div", {}, a.reason || ""),
    el("div", { class: "muted" }, a.expires_at ? `expires ${a.expires_at} (then ${a.on_timeout})` : ""),
    el("button", { type: "button", class: "approve", onclick: () => answer(a.approval_id, "approve") }, "Approve"), " ",
    el("button", { type: "button", class: "deny", onclick: () => answer(a.approval_id, "deny") }, "Deny")));
  $("approval-list").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "Nothing pending.")]));
}

async function answer(id, verb) {
  try {
    await api("POST", `/api/approvals/${encodeURIComponent(id)}/${verb}`, {});
    say(`Approval ${id}: ${verb === "approve" ? "granted" : "denied"}.`, "info");
  } catch (error) {
    refused(error, verb === "approve" ? "Approve" : "Deny");
  }
  await refreshSoon(0);
}

async function loadAudit() {
  const box = $("audit-status");
  try {
    const result = await api("GET", "/api/audit/verify");
    box.className = result.valid ? "ok" : "bad";
    box.textContent = result.valid
      ? `Intact: ${result.entries} entries, head seq ${result.head ? result.head.seq : "-"} ${result.head ? result.head.hash.slice(0, 23) + "…" : ""}`
      : `BROKEN at seq ${result.brokenAt}: ${result.error}`;
  } catch (error) {
    box.className = "muted";
    box.textContent = error.status === 403 ? "This token has no audit scope." : `Unavailable: ${error.message}`;
  }
}

async function refreshAll() {
  const panels = [loadStatus, loadCost, loadCheckpoints, loadApprovals, loadAudit];
  const results = await Promise.allSettled(panels.map((load) => load()));
  const failed = results.find((r) => r.status === "rejected");
  if (failed && failed.reason && failed.reason.status === 401) say("The token is not valid: enter another one.");
}

// At most one refresh per 300 ms while events stream in; an action refreshes at once.
function refreshSoon(delay = 300) {
  if (delay > 0 && state.refreshTimer) return Promise.resolve();
  clearTimeout(state.refreshTimer);
  return new Promise((resolve) => {
    state.refreshTimer = setTimeout(() => { state.refreshTimer = null; refreshAll().then(resolve); }, delay);
  });
}

// ------------------------------------------------------------------ events and the live stream

function visible(event) {
  const type = $("filter-type").value.trim();
  const text = $("filter-text").value.trim().toLowerCase();
  if (type && !type.split(/[ ,]+/).includes(event.type)) return false;
  return !text || JSON.stringify(event).toLowerCase().includes(text);
}

function eventRow(event, fresh) {
  const action = event.payload && typeof event.payload.action === "string" ? `.${event.payload.action}` : "";
  const { action: _, ...rest } = event.payload || {};
  return el("tr", { class: fresh ? "fresh" : "", "data-seq": event.seq, "data-type": event.type },
    el("td", {}, event.seq), el("td", {}, event.timestamp), el("td", {}, event.type + action), el("td", {}, event.source),
    el("td", { class: "payload" }, JSON.stringify(rest).slice(0, 300)));
}

function renderEvents() {
  const rows = state.events.filter(visible).slice(-200).reverse().map((e) => eventRow(e, false));
  $("event-list").tBodies[0].replaceChildren(...rows);
  $("event-count").textContent = `${rows.length} shown of ${state.events.length} loaded`;
}

function addEvent(event) {
  if (event.seq <= state.lastSeq) return;
  state.lastSeq = event.seq;
  state.events.push(event);
  if (state.events.length > MAX_ROWS) state.events.splice(0, state.events.length - MAX_ROWS);
  if (visible(event)) {
    $("event-list").tBodies[0].prepend(eventRow(event, true));
    $("event-count").textContent = `${state.events.filter(visible).length} shown of ${state.events.length} loaded`;
  }
  $("head").textContent = `head seq ${event.seq}`;
  refreshSoon();
}

async function loadRecent() {
  const status = await api("GET", "/api/events?limit=1&cursor=0");
  const start = Math.max(0, status.head_seq - 100);
  const page = await api("GET", `/api/events?limit=100&cursor=${start}`);
  state.events = page.events;
  state.lastSeq = page.events.length ? page.events[page.events.length - 1].seq : start;
  renderEvents();
}

function setConnection(live, text) {
  const badge = $("connection");
  badge.className = `badge ${live ? "on" : "off"}`;
  badge.dataset.state = live ? "live" : "offline";
  badge.textContent = text;
}

async function stream() {
  while (state.token) {
    state.controller = new AbortController();
    try {
      const response = await fetch("/api/events/stream", {
        headers: { Authorization: `Bearer ${state.token}`, "Last-Event-ID": String(state.lastSeq) },
        signal: state.controller.signal,
      });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      setConnection(true, "live");
      state.retry = 500;
      await readStream(response.body);
    } catch (error) {
      if (error.status === 401) { say("The token is not valid: enter another one."); break; }
    }
    setConnection(false, "reconnecting…");
    await new Promise((resolve) => setTimeout(resolve, state.retry));
    state.retry = Math.min(state.retry * 2, 10000);
  }
  setConnection(false, "offline");
}

async function readStream(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // Lines may end in CRLF; a CR left at a chunk's end joins its LF once the next chunk arrives.
    buffer = (buffer + value).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart()).join("\n");
      if (data) addEvent(JSON.parse(data));
    }
  }
}

// ------------------------------------------------------------------ start

async function start() {
  takeToken();
  if (!state.token) { say("Enter a token (lokilog serve prints one; or lokilog token create --scope read).", "info"); return; }
  try {
    await loadRecent();
  } catch (error) {
    refused(error, "Loading events");
    if (error.status === 401) return;
  }
  await refreshAll();
  stream();
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("lokilog-token", $("token-input").value.trim());
  $("message").hidden = true;
  start();
});
$("logout").addEventListener("click", () => { sessionStorage.removeItem("lokilog-token"); location.reload(); });
$("checkpoint-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const made = await api("POST", "/api/checkpoints", { message: $("checkpoint-message").value });
    say(`Checkpoint ${made.id} taken at log seq ${made.log_seq}.`, "info");
  } catch (error) {
    refused(error, "Checkpoint");
  }
  refreshSoon(0);
});
$("undo-button").addEventListener("click", undo);
$("undo-dismiss").addEventListener("click", () => { $("undo-banner").hidden = true; });
$("filter-type").addEventListener("input", renderEvents);
$("filter-text").addEventListener("input", renderEvents);
start();
