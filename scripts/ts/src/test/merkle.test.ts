import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { checkProof, leafHash, nodeHash, ProofError, rootFromInclusionProof, verifyConsistency, verifyInclusion } from "../index";

const VECTORS = path.resolve(__dirname, "..", "..", "..", "..", "tests", "vectors");
// RFC 6962 / 9162 reference vectors of transparency-dev/merkle (source cited in the file).
const rfc = JSON.parse(fs.readFileSync(path.join(VECTORS, "merkle_rfc9162.json"), "utf8"));
// Bundles written by lokilog's Python side with a fixed test key.
const bundles = JSON.parse(fs.readFileSync(path.join(VECTORS, "merkle_bundles.json"), "utf8"));

const leaves: Buffer[] = rfc.leaves.map((h: string) => leafHash(Buffer.from(h, "hex")));
const roots: Buffer[] = rfc.roots.map((h: string) => Buffer.from(h, "hex"));
const hashes = (list: string[]) => list.map((h) => Buffer.from(h, "hex"));
const flipped = (h: Buffer, bit: number) => {
  const copy = Buffer.from(h);
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
};

function mth(items: Buffer[]): Buffer {
  if (items.length === 1) return items[0];
  let k = 1;
  while (k * 2 < items.length) k *= 2;
  return nodeHash(mth(items.slice(0, k)), mth(items.slice(k)));
}

test("roots of the reference trees", () => {
  for (let n = 1; n <= leaves.length; n++) assert.ok(mth(leaves.slice(0, n)).equals(roots[n - 1]), `size ${n}`);
});

test("every reference inclusion proof verifies, and every corruption of it fails", () => {
  for (const v of rfc.inclusion) {
    const proof = hashes(v.path);
    const root = roots[v.tree_size - 1];
    const leaf = leaves[v.leaf_index];
    assert.ok(rootFromInclusionProof(v.leaf_index, v.tree_size, leaf, proof).equals(root));
    const probes: [number, number, Buffer, Buffer[], Buffer][] = [
      [v.leaf_index + 1, v.tree_size, leaf, proof, root],
      [v.leaf_index ^ 2, v.tree_size, leaf, proof, root],
      [v.leaf_index, v.tree_size * 2, leaf, proof, root],
      [v.leaf_index, Math.floor(v.tree_size / 2), leaf, proof, root],
      [v.leaf_index, v.tree_size, leafHash("WrongLeaf"), proof, root],
      [v.leaf_index, v.tree_size, leaf, proof, Buffer.from(rfc.empty_root, "hex")],
      [v.leaf_index, v.tree_size, leaf, [...proof, root], root],
      [v.leaf_index, v.tree_size, leaf, [root, ...proof], root],
      ...proof.map((_, i): [number, number, Buffer, Buffer[], Buffer] =>
        [v.leaf_index, v.tree_size, leaf, proof.map((p, j) => (j === i ? flipped(p, 3) : p)), root]),
    ];
    if (proof.length) probes.push([v.leaf_index, v.tree_size, leaf, proof.slice(0, -1), root]);
    for (const [i, n, l, p, r] of probes) {
      assert.throws(() => verifyInclusion(i, n, l, p, r), ProofError, `index ${i} size ${n}`);
    }
  }
});

test("every reference consistency proof verifies, and every corruption of it fails", () => {
  for (const v of rfc.consistency) {
    const proof = hashes(v.path);
    const [r1, r2] = [roots[v.old_size - 1], roots[v.new_size - 1]];
    verifyConsistency(v.old_size, v.new_size, r1, r2, proof);
    if (!proof.length) continue;
    const probes: [number, number, Buffer, Buffer, Buffer[]][] = [
      [v.old_size - 1, v.new_size, r1, r2, proof],
      [v.old_size + 1, v.new_size, r1, r2, proof],
      [v.old_size ^ 2, v.new_size, r1, r2, proof],
      [v.old_size, v.new_size * 2, r1, r2, proof],
      [v.old_size, Math.floor(v.new_size / 2), r1, r2, proof],
      [v.old_size, v.new_size, r2, r1, proof],
      [v.old_size, v.new_size, r1, r2, []],
      [v.old_size, v.new_size, r1, r2, [...proof, r1]],
      [v.old_size, v.new_size, r1, r2, [proof[0], ...proof]],
      [v.old_size, v.new_size, r1, r2, proof.slice(0, -1)],
      ...proof.map((_, i): [number, number, Buffer, Buffer, Buffer[]] =>
        [v.old_size, v.new_size, r1, r2, proof.map((p, j) => (j === i ? flipped(p, 4) : p))]),
    ];
    for (const [m, n, a, b, p] of probes) {
      assert.throws(() => verifyConsistency(m, n, a, b, p), ProofError, `sizes ${m} -> ${n}`);
    }
  }
});

test("trivial consistency cases follow the reference implementation", () => {
  const a = roots[0];
  const b = roots[1];
  verifyConsistency(0, 0, a, a, []);
  verifyConsistency(0, 1, a, b, []);
  verifyConsistency(1, 1, b, b, []);
  assert.throws(() => verifyConsistency(1, 1, a, b, []), ProofError);
  assert.throws(() => verifyConsistency(2, 1, a, b, []), ProofError);
  assert.throws(() => verifyConsistency(1, 2, a, b, []), ProofError);
  assert.throws(() => verifyConsistency(0, 1, a, a, [a]), ProofError);
});

test("lokilog's bundles: the valid ones verify with their signed heads, every altered one fails", () => {
  assert.ok(bundles.cases.length >= 10);
  for (const c of bundles.cases) {
    const result = checkProof(c.bundle, { publicKey: bundles.key_id });
    assert.equal(result.valid, c.valid, `${c.name}: ${result.error}`);
    if (c.valid) assert.equal(result.signed, true);
  }
});

test("a pinned key other than the signer's is refused", () => {
  const good = bundles.cases[0].bundle;
  const result = checkProof(good, { publicKey: "0".repeat(64) });
  assert.equal(result.valid, false);
  assert.match(result.error!, /not by the pinned key/);
});

test("single-bit changes of the entry or the head's signature fail", () => {
  const good = bundles.cases[0].bundle;
  const entry = Buffer.from(good.entry, "utf8");
  for (let bit = 0; bit < entry.length * 8; bit += 37) {
    assert.equal(checkProof(good, { entry: flipped(entry, bit) }).valid, false, `entry bit ${bit}`);
  }
  const signature = Buffer.from(good.head.signature, "base64");
  for (let bit = 0; bit < 512; bit += 29) {
    const head = { ...good.head, signature: flipped(signature, bit).toString("base64") };
    assert.equal(checkProof(good, { head }).valid, false, `signature bit ${bit}`);
  }
});
