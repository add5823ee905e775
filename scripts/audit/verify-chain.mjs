// An independent verifier of a lokilog audit chain (docs/AUDIT.md), in plain Node (no packages).
// Usage: node verify-chain.mjs [--start HASH] FILE...   (files in chain order: sealed ones, then audit.jsonl)
// Prints {"valid":..,"entries":..,"brokenIndex":..,"head":..,"error":..} and exits 1 when broken.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
let previous = "GENESIS";
if (args[0] === "--start") { previous = args[1]; args.splice(0, 2); }

let index = 0;
let head = null;
const fail = (error) => {
  console.log(JSON.stringify({ valid: false, entries: index, brokenIndex: index, head, error }));
  process.exit(1);
};
for (const file of args) {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  lines.pop(); // the text after the last newline: empty, or a torn line that does not count
  for (const line of lines) {
    let entry;
    try { entry = JSON.parse(line); } catch (e) { fail(`entry is not JSON: ${e.message}`); }
    const suffix = `,"hash":"${entry.hash}"}`;
    if (typeof entry.hash !== "string" || !line.endsWith(suffix)) fail("the hash member is not last");
    const body = line.slice(0, line.length - suffix.length) + "}";
    const digest = "sha256:" + createHash("sha256").update(body, "utf8").digest("hex");
    if (digest !== entry.hash) fail(`entry seq ${entry.seq}: hash does not match its content`);
    if (entry.previousHash !== previous) fail(`entry seq ${entry.seq}: previousHash does not link`);
    previous = entry.hash;
    head = { seq: entry.seq, hash: entry.hash };
    index += 1;
  }
}
console.log(JSON.stringify({ valid: true, entries: index, brokenIndex: null, head, error: null }));
