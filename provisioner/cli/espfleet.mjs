#!/usr/bin/env node
// The `espfleet` binary. It runs the compiled JavaScript in dist/ that scripts/build makes
// (scripts/setup runs it), so starting needs no TypeScript compiler. In a checkout where a
// source file is newer than that build, it runs the sources through tsx instead, so a
// developer never runs stale code by accident. ESPFLEET_FROM_SOURCE=1 forces the sources.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SOURCES = ['firmware-js', 'certs', 'provisioner', 'hil-tests/virtual-esp32', 'hil-tests/mjs', 'agent'];

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function newestSource() {
  let newest = 0;
  for (const dir of SOURCES) {
    let names;
    try {
      names = readdirSync(root + dir, { recursive: true });
    } catch {
      continue; // an installed package without sources
    }
    for (const name of names) {
      // Tests are not part of the build, so editing one does not make the build stale.
      if (name.endsWith('.ts') && !name.split('/').includes('test')) newest = Math.max(newest, mtime(`${root}${dir}/${name}`));
    }
  }
  return newest;
}

const built = mtime(`${root}dist/.build-stamp`);
let main;
if (process.env.ESPFLEET_FROM_SOURCE !== '1' && built >= 0 && newestSource() <= built) {
  ({ main } = await import('../../dist/provisioner/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
process.exitCode = await main();
