/**
 * lokilog client for Node and TypeScript: emit events into a project's `.loki/events/`
 * log (through the pending drop box) and read or follow the log.
 */
export { FORMAT_VERSION, InvalidEventError, encodeEnvelope } from "./event";
export type { JsonValue, NewEvent, StoredEvent } from "./event";
export { emit, emitSimple, newEventId, nowTimestamp, pendingFileName } from "./emit";
export type { EmitOptions } from "./emit";
export { read, tail, headSeq, listSegments } from "./read";
export type { ReadOptions, Segment } from "./read";
export { watch } from "./watch";
export type { WatchOptions, Watcher } from "./watch";
export {
  ProofError, checkProof, headMessage, leafHash, nodeHash, rootFromInclusionProof, verifyConsistency,
  verifyHeadSignature, verifyInclusion,
} from "./merkle";
export type { CheckOptions, CheckResult, SignedHead } from "./merkle";
