// Which backends this run can use, from the environment (docs/hil.md). A real-board run
// needs every variable of its list; the skip title names the ones missing.
export interface RealBoardEnv {
  port: string;
  /** host:port the board reaches this machine's broker on (the rig runs mosquitto there). */
  broker: string;
  /** https://host:port/ the board reaches this machine's firmware server on. */
  otaUrl: string;
  /** Folder of Mongoose OS bundles built from agent/: factory.zip, update.zip, crash.zip. */
  firmwareDir: string;
  wifi: { ssid: string; pass: string };
  /** ESPFLEET_HIL_ENCRYPTION=development burns the board's flash-encryption eFuses; default off. */
  encryption: 'off' | 'development';
}

export const REAL_BOARD_VARIABLES = ['ESPFLEET_HIL_PORT', 'ESPFLEET_HIL_BROKER', 'ESPFLEET_HIL_OTA_URL', 'ESPFLEET_HIL_FIRMWARE_DIR', 'ESPFLEET_HIL_WIFI_SSID'] as const;

export function realBoardEnv(env: Record<string, string | undefined> = process.env): { env?: RealBoardEnv; missing: string[] } {
  const missing = REAL_BOARD_VARIABLES.filter((v) => !env[v]);
  if (missing.length > 0) return { missing };
  return {
    missing,
    env: {
      port: env.ESPFLEET_HIL_PORT!,
      broker: env.ESPFLEET_HIL_BROKER!,
      otaUrl: env.ESPFLEET_HIL_OTA_URL!,
      firmwareDir: env.ESPFLEET_HIL_FIRMWARE_DIR!,
      wifi: { ssid: env.ESPFLEET_HIL_WIFI_SSID!, pass: env.ESPFLEET_HIL_WIFI_PASS ?? '' },
      encryption: env.ESPFLEET_HIL_ENCRYPTION === 'development' ? 'development' : 'off',
    },
  };
}

/** The describe title of the real-board run: what it runs on, or which variables enable it. */
export function realBoardTitle(r: { env?: RealBoardEnv; missing: string[] }): string {
  return r.env ? `real ESP32 on ESPFLEET_HIL_PORT=${r.env.port}` : `real ESP32 (skipped: set ${r.missing.join(', ')} to run on hardware; see docs/hil.md)`;
}

/** Where transcripts go: ESPFLEET_HIL_LOG_DIR, else hil-tests/logs/<run stamp>. */
export function logDirFor(root: string, env: Record<string, string | undefined> = process.env): string {
  return env.ESPFLEET_HIL_LOG_DIR ?? `${root}/hil-tests/logs/${new Date().toISOString().replace(/[:.]/g, '-')}`;
}
