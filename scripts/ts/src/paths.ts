/** Where the log lives under a `.loki/` directory. */
import * as path from "path";

/** The `.loki` directory: the explicit one, else $LOKI_DIR, else ./.loki. */
export function resolveLokiDir(explicit?: string): string {
  return explicit ?? (process.env.LOKI_DIR || ".loki");
}

export function logDir(loki: string): string {
  return path.join(loki, "events", "log");
}

export function pendingDir(loki: string): string {
  return path.join(loki, "events", "pending");
}
