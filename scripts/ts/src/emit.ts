/**
 * Emitting: one event per file into the pending drop box, written atomically (a temp file
 * in the same directory, then rename). Node has no flock, so it never writes the log itself;
 * any lokilog lock holder (the next Python append, every reader, `lokilog watch`) moves the
 * file into the log exactly once, deduplicated by id.
 */
import * as fs from "fs";
import * as path from "path";
import { randomFillSync } from "crypto";
import { encodeEnvelope, InvalidEventError, JsonValue, NewEvent, prepare } from "./event";
import { pendingDir, resolveLokiDir } from "./paths";

export interface EmitOptions {
  /** The `.loki` directory (default $LOKI_DIR or ./.loki). */
  lokiDir?: string;
  /** fsync the file and its directory before returning: the event survives power loss. */
  durable?: boolean;
}

const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

// Random bytes are drawn in blocks: one getrandom call per 256 ids instead of one per emit.
const POOL = Buffer.alloc(16 * 256);
let poolOffset = POOL.length;
let tmpCounter = 0;

/** Mint a 128-bit random event id (32 hex digits). */
export function newEventId(): string {
  if (poolOffset >= POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const id = POOL.toString("hex", poolOffset, poolOffset + 16);
  poolOffset += 16;
  return id;
}

/** Now as RFC 3339 UTC with milliseconds, e.g. 2026-02-21T10:00:00.000Z. */
export function nowTimestamp(): string {
  return new Date().toISOString();
}

/**
 * The drop-box file name: Loki Mode's `<timestamp with : as ->_<id>.json`, marked as lokilog's
 * own by ending in `.lokilog.json` (only such files are moved to archive/ once ingested).
 */
export function pendingFileName(timestamp: string, id: string): string {
  return `${timestamp.replace(/:/g, "-")}_${id}.lokilog.json`;
}

function maxEventBytes(): number {
  const raw = Number(process.env.LOKI_EVENTS_MAX_EVENT_BYTES);
  return Number.isFinite(raw) && raw > 0 ? raw : DEFAULT_MAX_EVENT_BYTES;
}

/** Emit one event and return its id once the drop-box file is in place. */
export function emit(event: NewEvent, options: EmitOptions = {}): string {
  const ready = prepare(event, newEventId, nowTimestamp);
  const data = encodeEnvelope(ready) + "\n";
  const limit = maxEventBytes();
  if (data.length * 3 > limit && Buffer.byteLength(data) + 32 > limit) {
    throw new InvalidEventError(`event ${ready.id} is ${Buffer.byteLength(data)} bytes encoded; the limit is ${limit}`);
  }
  const dir = pendingDir(resolveLokiDir(options.lokiDir));
  const target = path.join(dir, pendingFileName(ready.timestamp, ready.id));
  const tmp = path.join(dir, `.${ready.id}.${process.pid}.${tmpCounter++}.tmp`);
  writeTemp(dir, tmp, data, options.durable === true);
  fs.renameSync(tmp, target);
  if (options.durable) fsyncDir(dir);
  return ready.id;
}

/** Emit `{type, source, payload: {action, ...fields}}` and return its id. */
export function emitSimple(
  type: string, source: string, action: string, fields: { [key: string]: JsonValue } = {}, options: EmitOptions = {},
): string {
  return emit({ type, source, payload: { action, ...fields } }, options);
}

function writeTemp(dir: string, tmp: string, data: string, durable: boolean): void {
  let fd: number;
  try {
    fd = fs.openSync(tmp, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const first = fs.mkdirSync(dir, { recursive: true });
    // Each new directory's entry is synced in its parent, so a power cut cannot take the
    // drop box away after an event in it was acknowledged.
    if (durable && first !== undefined) {
      for (let made = dir; ; made = path.dirname(made)) {
        fsyncDir(path.dirname(made));
        if (made === first || path.dirname(made) === made) break;
      }
    }
    fd = fs.openSync(tmp, "wx", 0o644);
  }
  try {
    const bytes = Buffer.from(data);
    for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done);
    if (durable) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
