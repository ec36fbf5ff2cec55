// api_ota.js for the double's mJS runner: what the agent calls after its health check
// (spec mongoose-os.md §2.3 "have the agent call OTA.Commit / mgos_ota_commit", §5.2 OTA
// events). Our own file over the updater's RPC handlers, so a script and `mos call` see one
// state. C names follow ota-common's mgos_upd_* API; signatures there are not public.
import type { FfiTable } from '../mjs/index.ts';
import { textToBytes } from '../mjs/values.ts';
import type { MgosScriptContext } from './firmware.ts';
import { RpcFail } from './rpc-fail.ts';

export const MJS_OTA_API_FILES: Readonly<Record<string, string>> = {
  'api_ota.js': `let OTA = {
  _commit: ffi('bool mgos_upd_commit(void)'),
  _isCommitted: ffi('bool mgos_upd_is_committed(void)'),
  _revert: ffi('bool mgos_upd_revert(bool)'),
  _bootState: ffi('char *mgos_dbl_ota_boot_state(void)'),
  _status: ffi('char *mgos_dbl_ota_status(void)'),
  EV_BEGIN: 0x4F544100,
  EV_STATUS: 0x4F544101,
  commit: function() { return OTA._commit(); },
  isCommitted: function() { return OTA._isCommitted(); },
  revert: function(reboot) { return OTA._revert(reboot === undefined ? true : reboot); },
  getBootState: function() { return JSON.parse(OTA._bootState()); },
  status: function() { return JSON.parse(OTA._status()); }
};
`,
};

/** The ffi symbols behind api_ota.js; each call goes to the OTA.* RPC handler of this boot. */
export function otaFfi(ctx: MgosScriptContext): FfiTable {
  const call = (method: string): { ok: true; result: unknown } | { ok: false } => {
    const h = ctx.handler(method);
    if (!h) return { ok: false };
    try {
      return { ok: true, result: h(null, '') };
    } catch (e) {
      if (e instanceof RpcFail) return { ok: false };
      throw e;
    }
  };
  const state = (): Record<string, unknown> => {
    const r = call('OTA.GetBootState');
    return r.ok ? (r.result as Record<string, unknown>) : {};
  };
  return {
    mgos_upd_commit: () => call('OTA.Commit').ok,
    mgos_upd_is_committed: () => state().is_committed !== false,
    // Revert always reboots in the double (100 ms later, as OTA.Revert does); the flag is kept for the C signature.
    mgos_upd_revert: () => call('OTA.Revert').ok,
    mgos_dbl_ota_boot_state: () => textToBytes(JSON.stringify(state())),
    mgos_dbl_ota_status: () => {
      const r = call('OTA.Status');
      return textToBytes(JSON.stringify(r.ok ? r.result : {}));
    },
  };
}
