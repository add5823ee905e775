/**
 * Stand-alone verifier for lokilog's audit Merkle proofs (RFC 9162) and signed tree heads.
 *
 * Needs only the proof bundle printed by `lokilog audit prove` / `lokilog audit consistency`,
 * the audit entry (its stored line, without "\n") and a signed tree head: no log, no tree.
 * leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right); the verification
 * follows RFC 9162 sections 2.1.3.2 and 2.1.4.2. Sizes and indices are handled as BigInt,
 * because JavaScript's bit operators work on 32 bits only.
 */
import * as crypto from "crypto";

export type Hash = Buffer;

export class ProofError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProofError";
  }
}

export interface SignedHead {
  tree_size: number;
  root_hash: string;
  timestamp: string;
  signature: string;
  public_key: string;
  key_id: string;
}

export interface CheckOptions {
  /** The entry's stored line, instead of the bundle's. */
  entry?: Buffer | string;
  /** The signed head the auditor holds, instead of the bundle's. */
  head?: SignedHead;
  /** For consistency proofs: the older signed head the auditor holds. */
  oldHead?: SignedHead;
  /** The signer's base64 public key or hex key id, known out of band. */
  publicKey?: string;
}

export interface CheckResult {
  valid: boolean;
  type: string | null;
  checks: string[];
  error: string | null;
  signed: boolean;
}

const sha256 = (...parts: Buffer[]): Buffer => crypto.createHash("sha256").update(Buffer.concat(parts)).digest();

export function leafHash(entry: Buffer | string): Hash {
  return sha256(Buffer.from([0]), Buffer.from(entry));
}

export function nodeHash(left: Hash, right: Hash): Hash {
  return sha256(Buffer.from([1]), left, right);
}

function checkHashes(hashes: Hash[]): void {
  for (const h of hashes) {
    if (h.length !== 32) throw new ProofError(`a hash in the proof has ${h.length} bytes, not 32`);
  }
}

function toBig(value: number | bigint, what: string): bigint {
  if (typeof value === "bigint") return value;
  if (!Number.isSafeInteger(value) || value < 0) throw new ProofError(`${what} must be an integer >= 0, got ${value}`);
  return BigInt(value);
}

/** Recompute the root from a leaf hash and its inclusion path (RFC 9162 2.1.3.2). */
export function rootFromInclusionProof(index: number | bigint, size: number | bigint, leaf: Hash, path: Hash[]): Hash {
  let fn = toBig(index, "leaf_index");
  let sn = toBig(size, "tree_size");
  if (fn >= sn) throw new ProofError(`leaf index ${fn} is not in a tree of size ${sn}`);
  checkHashes([leaf, ...path]);
  sn -= 1n;
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new ProofError("the inclusion path is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("the inclusion path is shorter than the tree is deep");
  return r;
}

export function verifyInclusion(index: number | bigint, size: number | bigint, leaf: Hash, path: Hash[], root: Hash): void {
  if (!rootFromInclusionProof(index, size, leaf, path).equals(root)) {
    throw new ProofError(`the inclusion proof of leaf ${index} does not lead to the root of size ${size}`);
  }
}

/** Verify that the tree of oldSize leaves is a prefix of the tree of newSize leaves (RFC 9162 2.1.4.2). */
export function verifyConsistency(oldSize: number | bigint, newSize: number | bigint, oldRoot: Hash, newRoot: Hash, path: Hash[]): void {
  const m = toBig(oldSize, "old_size");
  const n = toBig(newSize, "new_size");
  checkHashes([oldRoot, newRoot, ...path]);
  if (m > n) throw new ProofError(`size ${m} cannot be a prefix of size ${n}`);
  if (m === n) {
    if (path.length || !oldRoot.equals(newRoot)) throw new ProofError("equal sizes need an empty proof and equal roots");
    return;
  }
  if (m === 0n) {
    if (path.length) throw new ProofError("a proof from the empty tree must be empty");
    return;
  }
  if (!path.length) throw new ProofError("the consistency proof is empty");
  const nodes = (m & (m - 1n)) === 0n ? [oldRoot, ...path] : [...path];
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = nodes[0];
  let sr = nodes[0];
  for (const c of nodes.slice(1)) {
    if (sn === 0n) throw new ProofError("the consistency proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("the consistency proof is shorter than the tree is deep");
  if (!fr.equals(oldRoot)) throw new ProofError(`the consistency proof does not lead to the old root (size ${m}): the old tree is not a prefix of the new one`);
  if (!sr.equals(newRoot)) throw new ProofError(`the consistency proof does not lead to the new root (size ${n})`);
}

/** The exact bytes a tree head's Ed25519 signature covers. */
export function headMessage(head: Pick<SignedHead, "tree_size" | "root_hash" | "timestamp">): Buffer {
  return Buffer.from(JSON.stringify({ tree_size: head.tree_size, root_hash: head.root_hash, timestamp: head.timestamp }), "utf8");
}

function strictBase64(text: unknown, what: string): Buffer {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new ProofError(`the head's ${what} is not base64`);
  }
  const data = Buffer.from(text, "base64");
  if (data.toString("base64") !== text) throw new ProofError(`the head's ${what} is not base64`);
  return data;
}

/** Throw unless the head is well formed and its signature verifies (under the pinned key, if given). */
export function verifyHeadSignature(head: SignedHead, pinnedKey?: string): void {
  if (!head || typeof head !== "object") throw new ProofError("not a signed tree head");
  if (!Number.isSafeInteger(head.tree_size) || head.tree_size < 0) throw new ProofError("not a signed tree head: bad tree_size");
  if (typeof head.root_hash !== "string" || !/^[0-9a-f]{64}$/.test(head.root_hash)) throw new ProofError("not a signed tree head: bad root_hash");
  if (typeof head.timestamp !== "string") throw new ProofError("not a signed tree head: bad timestamp");
  const raw = strictBase64(head.public_key, "public_key");
  const signature = strictBase64(head.signature, "signature");
  if (raw.length !== 32) throw new ProofError("the head's public_key is not a 32-byte Ed25519 key");
  if (crypto.createHash("sha256").update(raw).digest("hex") !== head.key_id) {
    throw new ProofError("the head's key_id is not the SHA-256 of its public key");
  }
  if (pinnedKey !== undefined && pinnedKey !== head.public_key && pinnedKey !== head.key_id) {
    throw new ProofError(`the head is signed by key ${head.key_id}, not by the pinned key`);
  }
  let verified = false;
  try {
    const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
    verified = crypto.verify(null, headMessage(head), key, signature);
  } catch {
    verified = false; // not a point on the curve, or a malformed signature
  }
  if (!verified) {
    throw new ProofError(`the signature of the tree head (size ${head.tree_size}) does not verify`);
  }
}

function hex(value: unknown): Hash {
  if (typeof value !== "string" || !/^[0-9a-f]{64}$/.test(value)) throw new ProofError(`not a SHA-256 hash in lowercase hex: ${JSON.stringify(value)}`);
  return Buffer.from(value, "hex");
}

function int(bundle: any, key: string): number {
  const value = bundle[key];
  if (!Number.isSafeInteger(value) || value < 0) throw new ProofError(`the bundle's ${key} must be an integer >= 0, got ${JSON.stringify(value)}`);
  return value;
}

function pathOf(bundle: any): Hash[] {
  if (!Array.isArray(bundle.path)) throw new ProofError("the bundle's path must be a list of hex hashes");
  return bundle.path.map(hex);
}

function rootFor(bundle: any, key: string, size: number, head: SignedHead | null | undefined, opts: CheckOptions,
                 result: CheckResult, which: string): Hash {
  if (head === null || head === undefined) {
    result.checks.push(`${which}root ${bundle[key]} taken from the bundle: NOT signed, compare it yourself`);
    return hex(bundle[key]);
  }
  if (head.tree_size !== size) throw new ProofError(`the ${which}head is for a tree of size ${head.tree_size}, the proof for size ${size}`);
  verifyHeadSignature(head, opts.publicKey);
  const pin = opts.publicKey ? "the pinned key" : `key ${head.key_id} (the head's own: pin it)`;
  result.checks.push(`${which}head of size ${size} signed by ${pin}, timestamp ${head.timestamp}`);
  result.signed = true;
  return hex(head.root_hash);
}

/** Verify an inclusion or consistency bundle; options given by the auditor replace the bundle's own. */
export function checkProof(bundle: any, opts: CheckOptions = {}): CheckResult {
  const result: CheckResult = { valid: false, type: null, checks: [], error: null, signed: false };
  try {
    if (!bundle || typeof bundle !== "object") throw new ProofError("a proof bundle is a JSON object");
    result.type = bundle.type ?? null;
    if (bundle.type === "inclusion") {
      const entry = opts.entry ?? bundle.entry;
      if (typeof entry !== "string" && !Buffer.isBuffer(entry)) throw new ProofError("the bundle carries no entry: give it (the stored line)");
      const index = int(bundle, "leaf_index");
      const size = int(bundle, "tree_size");
      const leaf = leafHash(entry);
      if (bundle.leaf_hash != null && !hex(bundle.leaf_hash).equals(leaf)) {
        throw new ProofError("the entry does not hash to the proof's leaf_hash (the entry was altered)");
      }
      const root = rootFor(bundle, "root_hash", size, opts.head ?? bundle.head, opts, result, "");
      verifyInclusion(index, size, leaf, pathOf(bundle), root);
      result.checks.push(`entry is leaf ${index} of the tree of size ${size} with root ${root.toString("hex")}`);
    } else if (bundle.type === "consistency") {
      const oldSize = int(bundle, "old_size");
      const newSize = int(bundle, "new_size");
      const oldRoot = rootFor(bundle, "old_root", oldSize, opts.oldHead ?? bundle.old_head, opts, result, "old ");
      const newRoot = rootFor(bundle, "new_root", newSize, opts.head ?? bundle.head, opts, result, "new ");
      verifyConsistency(oldSize, newSize, oldRoot, newRoot, pathOf(bundle));
      result.checks.push(`the tree of size ${oldSize} is a prefix of the tree of size ${newSize}`);
    } else {
      throw new ProofError(`a proof bundle's "type" is "inclusion" or "consistency", not ${JSON.stringify(bundle.type)}`);
    }
    result.valid = true;
  } catch (error) {
    if (!(error instanceof ProofError)) throw error;
    result.error = error.message;
  }
  return result;
}
