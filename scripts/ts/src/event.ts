/** The event envelope of lokilog's log format v1, its validation and its canonical JSON. */

export const FORMAT_VERSION = "1.0";

/** A JSON value as stored in a payload. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An event to emit: the log assigns its seq when the drop box is ingested. */
export interface NewEvent {
  type: string;
  source: string;
  payload?: { [key: string]: JsonValue };
  /** Reusing an id makes the emit idempotent: an id already stored is not stored again. */
  id?: string;
  /** RFC 3339; default now (UTC, milliseconds). */
  timestamp?: string;
  /** The entity the event belongs to, e.g. "task-001". */
  stream?: string;
  correlationId?: string;
  causationId?: string;
}

/** A stored event, as one line of the log holds it. Unknown top-level fields are kept. */
export interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  source: string;
  timestamp: string;
  version: string;
  stream?: string;
  correlation_id?: string;
  causation_id?: string;
  payload: { [key: string]: JsonValue };
  /** CRC-32 of the line without this member, written by Python writers (docs/INTEGRITY.md). */
  crc?: string;
  [extra: string]: unknown;
}

/** Bad input: nothing was written. */
export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidEventError";
  }
}

const ID_PATTERN = /^[A-Za-z0-9._:@+=-]{1,200}$/;
const CONTROL = /[\x00-\x1f\x7f]/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkName(kind: string, value: unknown): string {
  if (typeof value !== "string" || value === "") {
    throw new InvalidEventError(`${kind} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  if ([...value].length > 200) throw new InvalidEventError(`${kind} is longer than 200 characters`);
  if (CONTROL.test(value)) throw new InvalidEventError(`${kind} ${JSON.stringify(value)} contains control characters`);
  checkString(kind, value);
  return value;
}

function checkString(where: string, value: string): void {
  // A lone surrogate is not UTF-8: the log's readers would refuse the whole event.
  if (LONE_SURROGATE.test(value)) throw new InvalidEventError(`${where} holds a lone UTF-16 surrogate`);
}

/** Refuse what JSON.stringify would silently drop or change (undefined, NaN, functions, ...). */
function checkValue(value: unknown, where: string, depth: number): void {
  switch (typeof value) {
    case "string":
      checkString(where, value);
      return;
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new InvalidEventError(`${where} is ${value}, which JSON cannot represent`);
      return;
    case "object":
      if (value === null) return;
      if (depth > 500) throw new InvalidEventError(`${where} is nested more than 500 levels deep`);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) checkValue(value[i], `${where}[${i}]`, depth + 1);
        return;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
        throw new InvalidEventError(`${where} is a ${value.constructor?.name ?? "non-plain object"}; use plain JSON values`);
      }
      for (const key of Object.keys(value)) {
        checkString(`${where} key`, key);
        checkValue((value as Record<string, unknown>)[key], `${where}.${key}`, depth + 1);
      }
      return;
    default:
      throw new InvalidEventError(`${where} is a ${typeof value}, which JSON cannot represent`);
  }
}

/** Validate a new event and fill in its id and timestamp. */
export function prepare(event: NewEvent, newId: () => string, now: () => string): Required<Pick<NewEvent, "id" | "timestamp">> & NewEvent {
  checkName("type", event.type);
  checkName("source", event.source);
  const payload = event.payload ?? {};
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new InvalidEventError("payload must be a JSON object");
  }
  checkValue(payload, "payload", 0);
  const id = event.id ?? newId();
  if (!ID_PATTERN.test(id)) {
    throw new InvalidEventError(`event id ${JSON.stringify(id)} must be 1-200 characters of letters, digits and . _ : @ + = -`);
  }
  const timestamp = event.timestamp ?? now();
  if (!TIMESTAMP.test(timestamp)) throw new InvalidEventError(`timestamp ${JSON.stringify(timestamp)} is not RFC 3339`);
  if (event.stream !== undefined) checkName("stream", event.stream);
  if (event.correlationId !== undefined) checkName("correlation_id", event.correlationId);
  if (event.causationId !== undefined) checkName("causation_id", event.causationId);
  return { ...event, payload, id, timestamp };
}

/**
 * Encode an event in the canonical order of a log line, without seq: id, type, source,
 * timestamp, version, then stream / correlation_id / causation_id when set, payload last.
 * This is also exactly the body of a drop-box file.
 */
export function encodeEnvelope(event: NewEvent & { id: string; timestamp: string }): string {
  let text =
    `{"id":${JSON.stringify(event.id)},"type":${JSON.stringify(event.type)},"source":${JSON.stringify(event.source)},` +
    `"timestamp":${JSON.stringify(event.timestamp)},"version":"${FORMAT_VERSION}"`;
  if (event.stream !== undefined) text += `,"stream":${JSON.stringify(event.stream)}`;
  if (event.correlationId !== undefined) text += `,"correlation_id":${JSON.stringify(event.correlationId)}`;
  if (event.causationId !== undefined) text += `,"causation_id":${JSON.stringify(event.causationId)}`;
  return text + `,"payload":${JSON.stringify(event.payload ?? {})}}`;
}
