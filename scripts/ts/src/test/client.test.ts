import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { emit, emitSimple, InvalidEventError, read, tail, watch, headSeq, pendingFileName, encodeEnvelope } from "../index";

const VECTORS = path.resolve(__dirname, "..", "..", "..", "..", "tests", "vectors", "events.json");

function freshLoki(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lokilog-ts-")), ".loki");
}

function pendingFiles(loki: string): string[] {
  return fs.readdirSync(path.join(loki, "events", "pending")).filter((n) => n.endsWith(".json")).sort();
}

/** Write log lines as the Python writer does: whole lines, dense seq from 1. */
function writeLog(loki: string, events: object[], name = "00000000000000000001.jsonl", extra = ""): void {
  const dir = path.join(loki, "events", "log");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), events.map((e) => JSON.stringify(e) + "\n").join("") + extra);
}

function stored(seq: number, type = "task"): object {
  return { seq, id: `id-${seq}`, type, source: "runner", timestamp: "2026-02-21T10:00:00.000Z", version: "1.0", payload: { n: seq } };
}

test("emit drops one canonical file per event into pending/ and returns its id", () => {
  const loki = freshLoki();
  const id = emit({ type: "task", source: "vscode", payload: { action: "start", task_id: "t1" } }, { lokiDir: loki });
  assert.match(id, /^[0-9a-f]{32}$/);
  const [name] = pendingFiles(loki);
  assert.ok(name.endsWith(`_${id}.lokilog.json`), name);
  const body = fs.readFileSync(path.join(loki, "events", "pending", name), "utf8");
  const event = JSON.parse(body);
  assert.deepEqual(Object.keys(event), ["id", "type", "source", "timestamp", "version", "payload"]);
  assert.equal(name, pendingFileName(event.timestamp, id));
  assert.match(event.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.ok(body.endsWith("}\n"));
  assert.deepEqual(fs.readdirSync(path.join(loki, "events", "pending")).filter((n) => n.endsWith(".tmp")), []);
});

test("every vector encodes to its expected bytes", () => {
  const vectors = JSON.parse(fs.readFileSync(VECTORS, "utf8")) as { name: string; event: any; line: string }[];
  assert.ok(vectors.length >= 5);
  for (const vector of vectors) {
    const loki = freshLoki();
    const e = vector.event;
    emit(
      { type: e.type, source: e.source, payload: e.payload, id: e.id, timestamp: e.timestamp, stream: e.stream,
        correlationId: e.correlation_id, causationId: e.causation_id },
      { lokiDir: loki, durable: true },
    );
    const [name] = pendingFiles(loki);
    const body = fs.readFileSync(path.join(loki, "events", "pending", name), "utf8");
    const expected = "{" + vector.line.slice(vector.line.indexOf(",") + 1);
    assert.equal(body, expected, vector.name);
  }
});

test("emitSimple puts the action first", () => {
  const loki = freshLoki();
  emitSimple("session", "vscode", "start", { session_id: "s1", n: 2 }, { lokiDir: loki });
  const event = JSON.parse(fs.readFileSync(path.join(loki, "events", "pending", pendingFiles(loki)[0]), "utf8"));
  assert.deepEqual(event.payload, { action: "start", session_id: "s1", n: 2 });
  assert.deepEqual(Object.keys(event.payload), ["action", "session_id", "n"]);
});

test("bad input is refused and nothing is written", () => {
  const loki = freshLoki();
  const bad: any[] = [
    { type: "", source: "x" },
    { type: "a\nb", source: "x" },
    { type: "t", source: "x", payload: [] },
    { type: "t", source: "x", payload: { v: NaN } },
    { type: "t", source: "x", payload: { v: undefined } },
    { type: "t", source: "x", payload: { v: () => 1 } },
    { type: "t", source: "x", payload: { v: new Date() } },
    { type: "t", source: "x", payload: { v: "\ud800" } },
    { type: "t", source: "x", id: "has space" },
    { type: "t", source: "x", timestamp: "yesterday" },
  ];
  for (const event of bad) assert.throws(() => emit(event, { lokiDir: loki }), InvalidEventError, JSON.stringify(event));
  assert.equal(fs.existsSync(path.join(loki, "events", "pending")), false);
});

test("encodeEnvelope keeps optional fields in the canonical order", () => {
  const text = encodeEnvelope({ type: "t", source: "s", id: "i", timestamp: "2026-01-01T00:00:00.000Z",
    causationId: "c", stream: "st", correlationId: "r", payload: {} });
  assert.equal(text, '{"id":"i","type":"t","source":"s","timestamp":"2026-01-01T00:00:00.000Z","version":"1.0","stream":"st","correlation_id":"r","causation_id":"c","payload":{}}');
});

test("read filters by seq and type across segments; a torn final line is not returned", () => {
  const loki = freshLoki();
  writeLog(loki, [stored(1), stored(2, "metric"), stored(3)]);
  writeLog(loki, [stored(4), stored(5, "metric")], "00000000000000000004.jsonl", '{"seq":6,"id":"torn"');
  assert.deepEqual(read({ lokiDir: loki }).map((e) => e.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(read({ lokiDir: loki, fromSeq: 3 }).map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(read({ lokiDir: loki, types: ["metric"] }).map((e) => e.seq), [2, 5]);
  assert.deepEqual(read({ lokiDir: loki, fromSeq: 2, toSeq: 4 }).map((e) => e.seq), [2, 3, 4]);
  assert.deepEqual(tail(2, { lokiDir: loki }).map((e) => e.seq), [4, 5]);
  assert.deepEqual(tail(3, { lokiDir: loki, types: ["task"] }).map((e) => e.seq), [1, 3, 4]);
  assert.equal(headSeq(loki), 5);
  assert.deepEqual(read({ lokiDir: freshLoki() }), []);
});

test("read stops at the last completed append recorded in log.tail", () => {
  const loki = freshLoki();
  writeLog(loki, [stored(1), stored(2)]);
  const segment = path.join(loki, "events", "log", "00000000000000000001.jsonl");
  const committed = fs.statSync(segment).size;
  fs.appendFileSync(segment, JSON.stringify(stored(3)) + "\n"); // a writer killed before recording it
  const pad = (n: number) => String(n).padStart(20, "0");
  fs.writeFileSync(path.join(loki, "events", "log.tail"),
    `1 00000000000000000001.jsonl ${pad(fs.statSync(segment).ino)} ${pad(committed)} ${pad(2)}\n`);
  assert.deepEqual(read({ lokiDir: loki }).map((e) => e.seq), [1, 2]);
  assert.equal(headSeq(loki), 2);
  fs.writeFileSync(path.join(loki, "events", "log.tail"), "torn"); // unknown: the whole file counts
  assert.deepEqual(read({ lokiDir: loki }).map((e) => e.seq), [1, 2, 3]);
});

test("watch calls back for new events in order, and not after close", async () => {
  const loki = freshLoki();
  writeLog(loki, [stored(1)]);
  const seen: number[] = [];
  const watcher = watch((e) => seen.push(e.seq), { lokiDir: loki, intervalMs: 20 });
  const file = path.join(loki, "events", "log", "00000000000000000001.jsonl");
  fs.appendFileSync(file, JSON.stringify(stored(2)) + "\n" + JSON.stringify(stored(3)).slice(0, 10));
  await waitFor(() => seen.length === 1);
  fs.appendFileSync(file, JSON.stringify(stored(3)).slice(10) + "\n");
  await waitFor(() => seen.length === 2);
  watcher.close();
  fs.appendFileSync(file, JSON.stringify(stored(4)) + "\n");
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(seen, [2, 3]);
  assert.equal(watcher.lastSeq, 3);
});

test("watch from a seq replays, and redelivers an event whose callback threw", async () => {
  const loki = freshLoki();
  writeLog(loki, [stored(1), stored(2)]);
  const seen: number[] = [];
  let failures = 0;
  const watcher = watch(
    (e) => {
      if (e.seq === 2 && failures++ === 0) throw new Error("boom");
      seen.push(e.seq);
    },
    { lokiDir: loki, fromSeq: 1, intervalMs: 10, onError: () => undefined },
  );
  await waitFor(() => seen.length === 2);
  watcher.close();
  assert.deepEqual(seen, [1, 2]);
  assert.equal(failures, 2);
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}
