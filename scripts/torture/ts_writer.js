// A TypeScript-client writer for the torture scenarios (the compiled scripts/ts/dist client):
//   node ts_writer.js ROOT TAG COUNT        (COUNT 0: until killed)
// Prints `ACK <id> pending <seconds>` once emit() returned: the durable drop-box file is in place.
"use strict";
const path = require("path");
const client = require(path.join(__dirname, "..", "ts", "dist", "index.js"));

const [root, tag, countText] = process.argv.slice(2);
const count = Number(countText);
const parent = process.ppid;
for (let n = 0; count === 0 || n < count; n++) {
  if (process.ppid !== parent) process.exit(0); // never outlive the suite
  const started = process.hrtime.bigint();
  const id = client.emitSimple("task", `torture-${tag}`, "claim", { n }, { lokiDir: root, durable: true });
  const took = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`ACK ${id} pending ${took.toFixed(4)}\n`);
}
