/**
 * Following the log: a callback for every new event, in seq order, at least once. A file
 * system notification only means "look again"; a timer looks anyway, because notifications
 * differ by platform and are lost on some file systems.
 */
import * as fs from "fs";
import { StoredEvent } from "./event";
import { logDir, resolveLokiDir } from "./paths";
import { committedEnd, headSeq, listSegments, parseLines, ReadOptions } from "./read";

export interface WatchOptions extends Pick<ReadOptions, "lokiDir" | "types" | "sources" | "onBadLine"> {
  /** Deliver events from this seq on (default: only events appended after the call). */
  fromSeq?: number;
  /** How often to look without a notification, in ms (default 250). */
  intervalMs?: number;
  /** Called when the callback throws; the event is delivered again on the next look. */
  onError?: (error: unknown, event: StoredEvent) => void;
}

export interface Watcher {
  /** Stop watching; no callback runs after this returns. */
  close(): void;
  /** The seq of the last event delivered. */
  readonly lastSeq: number;
}

/** Call `callback` for every event appended to the log (from `fromSeq` if given). */
export function watch(callback: (event: StoredEvent) => void, options: WatchOptions = {}): Watcher {
  const loki = resolveLokiDir(options.lokiDir);
  let lastSeq = options.fromSeq !== undefined ? options.fromSeq - 1 : headSeq(options.lokiDir);
  let position: { firstSeq: number; offset: number } | null = null;
  let closed = false;
  let running = false;

  const look = (): void => {
    if (closed || running) return;
    running = true;
    try {
      lastSeq = deliverNew();
    } finally {
      running = false;
    }
  };

  const deliverNew = (): number => {
    let seen = lastSeq;
    const segments = listSegments(options.lokiDir);
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i];
      if (position && segment.firstSeq < position.firstSeq) continue;
      if (!position && i + 1 < segments.length && segments[i + 1].firstSeq <= seen + 1) continue;
      if (segment.compressed) continue; // only sealed segments are compressed, read before
      if (!position || segment.firstSeq !== position.firstSeq) position = { firstSeq: segment.firstSeq, offset: 0 };
      let size: number;
      try {
        const st = fs.statSync(segment.path);
        // Only up to the last completed append: what lies after it may still be cut.
        size = i === segments.length - 1 ? committedEnd(segment, st.size, st.ino) ?? st.size : st.size;
      } catch {
        continue;
      }
      if (size < position.offset) position.offset = 0; // a torn tail was cut: re-read, skipping seen seqs
      if (size === position.offset) continue;
      const buffer = Buffer.alloc(size - position.offset);
      const fd = fs.openSync(segment.path, "r");
      let got = 0;
      try {
        got = fs.readSync(fd, buffer, 0, buffer.length, position.offset);
      } finally {
        fs.closeSync(fd);
      }
      const { events, consumed } = parseLines(buffer.toString("utf8", 0, got), segment.path, options.onBadLine);
      for (const event of events) {
        if (closed) return seen;
        if (event.seq <= seen) continue;
        if (matchesFilter(event, options)) {
          try {
            callback(event);
          } catch (err) {
            options.onError?.(err, event);
            return seen; // at least once: start from here on the next look
          }
        }
        seen = event.seq;
      }
      position.offset += consumed;
    }
    return seen;
  };

  let notifier: fs.FSWatcher | null = null;
  try {
    fs.mkdirSync(logDir(loki), { recursive: true });
    notifier = fs.watch(logDir(loki), { persistent: false }, look);
    notifier.on("error", () => undefined);
  } catch {
    notifier = null; // polling alone still works
  }
  const timer = setInterval(look, options.intervalMs ?? 250);
  setImmediate(look);
  return {
    close(): void {
      closed = true;
      clearInterval(timer);
      notifier?.close();
    },
    get lastSeq(): number {
      return lastSeq;
    },
  };
}

function matchesFilter(event: StoredEvent, options: WatchOptions): boolean {
  if (options.types && options.types.length && !options.types.includes(event.type)) return false;
  if (options.sources && options.sources.length && !options.sources.includes(event.source)) return false;
  return true;
}
