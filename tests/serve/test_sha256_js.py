"""web/static/sha256.js (the streaming hash the browser checks every file with) agrees with
Python's hashlib on lengths around the 64-byte block and 56-byte padding edges, fed in
random chunk sizes, and on a few megabytes."""

from __future__ import annotations

import hashlib
import json
import random

from serve_helpers import run_node_checks

LENGTHS = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 65_537, 3 * 2**20 + 7]


def test_streaming_sha256_matches_hashlib(tmp_path):
    rng = random.Random(15)
    cases = []
    for n in LENGTHS:
        data = rng.randbytes(n)
        (tmp_path / f"in-{n}.bin").write_bytes(data)
        cases.append({"n": n, "sha256": hashlib.sha256(data).hexdigest()})
    run_node_checks(tmp_path, """
import { readFileSync } from "node:fs";
import { Sha256, sha256Hex } from "./static/sha256.js";
const cases = %s;
let seed = 7;
const next = () => (seed = (seed * 1103515245 + 12345) %% 2147483648);
for (const { n, sha256 } of cases) {
  const data = new Uint8Array(readFileSync(`in-${n}.bin`));
  const hash = new Sha256();
  for (let at = 0; at < n;) { const k = 1 + (next() %% 300); hash.update(data.subarray(at, at + k)); at += k; }
  const streamed = hash.hex(), whole = sha256Hex(data);
  if (streamed !== sha256 || whole !== sha256) throw new Error(`length ${n}: ${streamed} / ${whole} != ${sha256}`);
}
console.log("ok");
""" % json.dumps(cases))
