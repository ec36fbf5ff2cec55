#!/usr/bin/env node
// The installed `espfleet` binary: loads the TypeScript sources through tsx and
// runs the program against the real process streams.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main();
