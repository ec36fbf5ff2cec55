// Bench: the mJS engine double — host heap per engine instance running a 300-line agent-like
// script (heap delta over 1000 live instances), whether 1000 instances fit comfortably in
// this process's heap, and calls per second of a small MQTT-style handler.
// Prints figures; asserts nothing.
import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMjsEngine, type MjsEngine } from '../../hil-tests/mjs/index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const line = (label: string, value: string) => console.log(`${label.padEnd(52)} ${value}`);

/** A 300-line script shaped like the agent: config tables, helpers, handlers, state. */
function agentScript(): string {
  const out = ['let STATE = {count: 0, last: "", errors: 0};', 'let CFG = {topic: "/devices/x/events", period: 1000, name: "dev"};'];
  for (let i = 0; out.length < 290; i++) {
    out.push(
      `function handler${i}(conn, topic, msg, ud) {`,
      `  let o = JSON.parse(msg);`,
      `  if (o === null || typeof o !== "object") { STATE.errors++; return false; }`,
      `  STATE.count = STATE.count + ${i};`,
      `  STATE.last = topic.slice(0, 8) + JSON.stringify(o.v);`,
      `  return {ok: true, n: STATE.count, ud: ud};`,
      `}`,
      `let TABLE${i} = {id: ${i}, name: "entry-${i}", handler: handler${i}, flags: [1, 2, 3]};`,
    );
  }
  out.push('function onMessage(conn, topic, msg, ud) {', '  let o = JSON.parse(msg);', '  STATE.count++;', '  return JSON.stringify({n: STATE.count, v: o.v, ud: ud.id});', '}');
  while (out.length < 300) out.push('// padding');
  return out.join('\n');
}

const script = agentScript();
const N = 1000;
gc();
const before = process.memoryUsage().heapUsed;
const engines: MjsEngine[] = [];
for (let i = 0; i < N; i++) {
  const e = createMjsEngine();
  const r = e.run(script, 'agent.js');
  if (!r.ok) throw new Error(`bench script failed: ${r.error.message} at ${r.error.line}`);
  engines.push(e);
}
gc();
const perInstance = (process.memoryUsage().heapUsed - before) / N;
const limit = getHeapStatistics().heap_size_limit;
line(`script`, `${script.split('\n').length} lines, ${script.length} bytes`);
line(`host heap per engine instance (over ${N})`, `${(perInstance / 1024).toFixed(1).padStart(8)} KiB`);
line(`engine's own mJS heap estimate per instance`, `${((engines[0]?.memoryUsed() ?? 0) / 1024).toFixed(1).padStart(8)} KiB`);
const total = perInstance * N;
line(`${N} instances`, `${(total / 2 ** 20).toFixed(1).padStart(8)} MiB of a ${(limit / 2 ** 20).toFixed(0)} MiB heap limit: ${total < limit / 4 ? 'fit comfortably (< 25%)' : 'do NOT fit comfortably'}`);

const engine = engines[0] as MjsEngine;
const fn = engine.getGlobal('onMessage');
engine.run('let UD = {id: 7};');
const ud = engine.getGlobal('UD');
const msg = '{"v":12,"extra":"abc"}';
for (let i = 0; i < 2000; i++) engine.call(fn, [null, '/t', msg, ud]);
let calls = 0;
const start = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < 1) {
  for (let i = 0; i < 1000; i++) {
    const r = engine.call(fn, [null, '/t', msg, ud]);
    if (!r.ok) throw new Error(r.error.message);
  }
  calls += 1000;
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
}
line('handler calls/s (JSON.parse + JSON.stringify, 4 lines)', `${(calls / elapsed).toFixed(0).padStart(8)} /s`);
engines.length = 0;
