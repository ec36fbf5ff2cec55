// Every command group of the CLI, in the order `espfleet --help` lists them: board work
// first (factory and field), then offline firmware, PKI, records, the rig and the agent.
// Each group's code is loaded only when that command is chosen, so `espfleet --version`,
// `--help` and one command pay for nothing else (the virtual board only loads for `sim`).
// The summary here is also the command's own description: one place for each text.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

export type RegisterGroup = (program: Command, ctx: CliContext) => void;

export interface CommandGroup {
  /** The top-level command, as typed. */
  name: string;
  /** One line in `espfleet --help`, and the command's description. */
  summary: string;
  /** Loads the group's modules and returns its registration. */
  load(): Promise<RegisterGroup>;
}

export const commandGroups: readonly CommandGroup[] = [
  {
    name: 'provision',
    summary: 'provision boards: identity, certificate, conf9.json, escrowed flash encryption, firmware, boot check, registry record',
    load: async () => (await import('./provision/index.ts')).registerProvision,
  },
  {
    name: 'ports',
    summary: 'list serial ports: port, USB VID:PID, ESP? for likely ESP boards, bridge',
    load: async () => (await import('./ports/index.ts')).registerPorts,
  },
  {
    name: 'info',
    summary: 'show what the board on a port is: chip, MAC, revision, flash and eFuse security state',
    load: async () => (await import('./info/index.ts')).registerInfo,
  },
  {
    name: 'device',
    summary: 'talk to a board running Mongoose OS over USB: info, RPC calls, config, files, reboot',
    load: async () => (await import('./device/index.ts')).registerDevice,
  },
  {
    name: 'flash',
    summary: 'write a firmware bundle or raw images to a board, skipping sectors that already match',
    load: async () => (await import('./flash/index.ts')).registerFlash,
  },
  {
    name: 'encrypt-flash',
    summary: 'turn on flash encryption with a new key escrowed in the keystore first (irreversible; dry run unless --confirm)',
    load: async () => (await import('./encrypt-flash/index.ts')).registerEncryptFlash,
  },
  {
    name: 'efuse',
    summary: 'read and burn ESP32 eFuses (irreversible: a dry run writes a plan, --plan FILE --confirm burns it)',
    load: async () => (await import('./efuse/index.ts')).registerEfuse,
  },
  {
    name: 'fw',
    summary: 'inspect, sign, verify and encrypt firmware files offline (no board needed)',
    load: async () => (await import('./fw/index.ts')).registerFw,
  },
  {
    name: 'fs',
    summary: 'build, list, read and change LittleFS filesystem images offline (the fs_0 partition)',
    load: async () => (await import('./fs/index.ts')).registerFs,
  },
  {
    name: 'ota',
    summary: 'update boards over the air: serve signed bundles over HTTPS, roll them out in waves over MQTT (plan, start, pause, resume, abort, rollback, status)',
    load: async () => (await import('./ota/index.ts')).registerOta,
  },
  {
    name: 'ca',
    summary: 'run the fleet CA: device, server and operator certificates, revocation, CRLs, the renewal service',
    load: async () => (await import('./ca/index.ts')).registerCa,
  },
  {
    name: 'keystore',
    summary: 'manage the encrypted escrow of per-device flash-encryption keys',
    load: async () => (await import('./keystore/index.ts')).registerKeystore,
  },
  {
    name: 'backup',
    summary: 'back up a station (CA, keystore, registry, audit log, station.toml) to one encrypted archive; verify and restore it',
    load: async () => (await import('./backup/index.ts')).registerBackup,
  },
  {
    name: 'devices',
    summary: 'list and inspect boards recorded in the device registry, and whose certificates expire soon',
    load: async () => (await import('./devices/index.ts')).registerDevices,
  },
  {
    name: 'audit',
    summary: 'check the hash-chained audit log of provisioning, revocation and rollouts',
    load: async () => (await import('./audit/index.ts')).registerAudit,
  },
  {
    name: 'registry',
    summary: 'the station registry: which backend (SQLite file or PostgreSQL) and what it holds; move a SQLite station into PostgreSQL',
    load: async () => (await import('./registry/index.ts')).registerRegistry,
  },
  {
    name: 'dashboard',
    summary: 'serve the local web dashboard: stations, devices, rollouts (pause/resume/abort), charts, audit log — live over Server-Sent Events',
    load: async () => (await import('./dashboard/index.ts')).registerDashboard,
  },
  {
    name: 'broker',
    summary: "generate the hardened mosquitto configuration for the fleet; close a board's open session",
    load: async () => (await import('./broker/index.ts')).registerBroker,
  },
  {
    name: 'sim',
    summary: 'serve a virtual ESP32 (ROM loader, eFuses, flash, boot check) as an RFC 2217 port; `sim fleet`: a headless fleet of provisioned boards',
    load: async () => (await import('./sim/index.ts')).registerSim,
  },
  {
    name: 'agent',
    summary: "check and run the mJS agent off-board, as a board's mJS would",
    load: async () => (await import('./agent/index.ts')).registerAgent,
  },
  {
    name: 'completion',
    summary: 'print a shell completion script: espfleet completion bash|zsh|fish',
    load: async () => (await import('./completion/index.ts')).registerCompletion,
  },
];
