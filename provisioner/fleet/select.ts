// `--select`: which registry records a rollout targets. `all`, or comma-separated
// key=value terms that must all hold: status, station, id (a glob with *), version.
import type { DeviceRecord } from '../station/records.ts';
import { FleetError } from './errors.ts';

export type Selector = (r: DeviceRecord) => boolean;

const KEYS = ['status', 'station', 'id', 'version'] as const;

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

export function parseSelect(text: string): Selector {
  const t = text.trim();
  if (t === 'all') return () => true;
  const terms = t.split(',').map((s) => s.trim());
  const checks = terms.map((term): Selector => {
    const m = /^([a-z]+)=(.+)$/.exec(term);
    const key = m?.[1] as (typeof KEYS)[number] | undefined;
    if (!m || key === undefined || !KEYS.includes(key)) {
      throw new FleetError('fleet.select.bad_filter', `--select ${JSON.stringify(text)}: ${JSON.stringify(term)} is not one of ${KEYS.map((k) => `${k}=…`).join(', ')}`, {
        hint: 'e.g. --select status=provisioned,station=line1 or --select id=esp32_0A*, or --select all',
      });
    }
    const value = m[2]!;
    switch (key) {
      case 'status':
        return (r) => r.status === value;
      case 'station':
        return (r) => r.station === value;
      case 'id': {
        const re = glob(value);
        return (r) => re.test(r.deviceId);
      }
      case 'version':
        return (r) => (r.firmwareVersion ?? '') === value;
    }
  });
  return (r) => checks.every((c) => c(r));
}
