// Step 3, compose: conf9.json (conf9.ts) and the identity files for this board, in memory.
// The journal records what went in, never the files themselves (device.key is among them).
import { composeConf9, deviceFiles } from '../conf9.ts';
import { completeStep, type RunState } from './run-state.ts';

export function composeDevice(run: RunState): void {
  const { ctx } = run;
  if (!run.identity) throw new Error('bug: compose before identity');
  const conf9 = composeConf9({
    deviceId: run.deviceId,
    mqttServer: ctx.mqttServer,
    signingPublicKeys: ctx.signingPublicKeys,
    requireSignatures: ctx.requireSignatures,
    agentSettings: ctx.agentSettings ?? {},
  });
  run.files = deviceFiles(conf9, run.identity, ctx.ca.rootCertPem);
  const keys = ctx.signingPublicKeys.length;
  completeStep(run, 'compose', `conf9.json for ${run.deviceId} (mqtt ${ctx.mqttServer}, ${keys} update key${keys === 1 ? '' : 's'}), ${Object.keys(run.files).join(', ')}`);
}
