/**
 * Reading the log without a lock, as every lokilog reader does: segments in seq order, one
 * JSON line per event; a final line without its newline is a write in progress (or torn) and
 * is not returned. Events still waiting in the drop box appear once a lock holder ingests them.
 */
import * as fs from "fs";
import * as path from "path";
import { gunzipSync } from "zlib";
import { StoredEvent } from "./event";
import { logDir, resolveLokiDir } from "./paths";

export interface ReadOptions {
  lokiDir?: string;
  /** First seq to return (default 1). */
  fromSeq?: number;
  /** Last seq to return (default: the newest). */
  toSeq?: number;
  /** Only these types. */
  types?: string[];
  /** Only these sources. */
  sources?: string[];
  /** Called for a line inside the log that does not parse; such lines are skipped. */
  onBadLine?: (segment: string, line: string, error: Error) => void;
}

/** One segment file and the seq its name says it starts at. */
export interface Segment {
  firstSeq: number;
  path: string;
  compressed: boolean;
}

const SEGMENT_NAME = /^(\d{20})\.jsonl(\.gz)?$/;

/** List the log's segments in seq order (a plain segment wins over a compressed copy). */
export function listSegments(lokiDir?: string): Segment[] {
  const dir = logDir(resolveLokiDir(lokiDir));
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const found = new Map<number, Segment>();
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (!m) continue;
    const first = Number(m[1]);
    const compressed = m[2] !== undefined;
    if (!found.has(first) || !compressed) found.set(first, { firstSeq: first, path: path.join(dir, name), compressed });
  }
  return [...found.values()].sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Parse the whole lines of a buffer; returns the events and the offset after the last newline. */
export function parseLines(
  text: string, segment: string, onBadLine?: ReadOptions["onBadLine"],
): { events: StoredEvent[]; consumed: number } {
  const events: StoredEvent[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break;
    const line = text.slice(start, nl);
    start = nl + 1;
    if (line === "") continue;
    try {
      const event = JSON.parse(line) as StoredEvent;
      if (typeof event === "object" && event !== null && typeof event.seq === "number") events.push(event);
      else onBadLine?.(segment, line, new Error("not a v1 event"));
    } catch (err) {
      onBadLine?.(segment, line, err as Error);
    }
  }
  return { events, consumed: Buffer.byteLength(text.slice(0, start)) };
}

// The tail sidecar, `events/log.tail`: "1 <segment> <inode> <size> <last seq>" (docs/INTEGRITY.md).
const TAIL_MARK = /^1 (\d{20}\.jsonl) (\d{20}) (\d{20}) (\d{20})\n$/;

/** Where the last completed append to this segment ended, or undefined when unknown. */
export function committedEnd(segment: Segment, size: number, inode: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(path.dirname(path.dirname(segment.path)), "log.tail"), "latin1");
  } catch {
    return undefined;
  }
  const m = TAIL_MARK.exec(text);
  if (!m || m[1] !== path.basename(segment.path) || Number(m[2]) !== inode) return undefined;
  const end = Number(m[3]);
  return end <= size ? end : undefined;
}

function readSegment(segment: Segment, onBadLine?: ReadOptions["onBadLine"], active = false): StoredEvent[] {
  let raw = fs.readFileSync(segment.path);
  if (active && !segment.compressed) {
    // Bytes after the last completed append belong to a writer still appending, or one that
    // died (the next lock holder cuts them): never hand out an event that may vanish.
    const end = committedEnd(segment, raw.length, fs.statSync(segment.path).ino);
    if (end !== undefined) raw = raw.subarray(0, end);
  }
  const text = (segment.compressed ? gunzipSync(raw) : raw).toString("utf8");
  return parseLines(text, segment.path, onBadLine).events;
}

function matches(event: StoredEvent, options: ReadOptions): boolean {
  if (options.types && options.types.length && !options.types.includes(event.type)) return false;
  if (options.sources && options.sources.length && !options.sources.includes(event.source)) return false;
  return true;
}

/** Read stored events in seq order, filtered by seq range, types and sources. */
export function read(options: ReadOptions = {}): StoredEvent[] {
  const from = options.fromSeq ?? 1;
  const to = options.toSeq ?? Number.MAX_SAFE_INTEGER;
  const segments = listSegments(options.lokiDir);
  const out: StoredEvent[] = [];
  for (let i = 0; i < segments.length; i++) {
    const next = segments[i + 1];
    if (next && next.firstSeq <= from) continue; // wholly before the range
    if (segments[i].firstSeq > to) break;
    for (const event of readSegment(segments[i], options.onBadLine, i === segments.length - 1)) {
      if (event.seq >= from && event.seq <= to && matches(event, options)) out.push(event);
    }
  }
  return out;
}

/** Return the newest `count` events (after filters), oldest first. */
export function tail(count = 10, options: Omit<ReadOptions, "fromSeq" | "toSeq"> = {}): StoredEvent[] {
  const segments = listSegments(options.lokiDir);
  let out: StoredEvent[] = [];
  for (let i = segments.length - 1; i >= 0 && out.length < count; i--) {
    const found = readSegment(segments[i], options.onBadLine, i === segments.length - 1).filter((e) => matches(e, options));
    out = found.concat(out);
  }
  return count > 0 ? out.slice(-count) : [];
}

/** The seq of the newest complete event (0 for an empty log). */
export function headSeq(lokiDir?: string): number {
  const newest = tail(1, { lokiDir });
  return newest.length ? newest[0].seq : 0;
}
