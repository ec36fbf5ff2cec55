// The one place that knows the port-URL schemes (DESIGN.md "Transport"): a device path or
// serial:// for node serialport, rfc2217://host:port for network serial, sim://name for an
// in-process virtual board. Transports, the station config and the port checks all ask here.
import { TransportError } from './errors.ts';

export type PortUrl =
  | { kind: 'serial'; url: string; path: string }
  | { kind: 'rfc2217'; url: string; host: string; port: number }
  | { kind: 'sim'; url: string; name: string };

export const PORT_URL_EXAMPLES = '/dev/ttyUSB0, COM3, serial:///dev/ttyUSB0, rfc2217://host:port or sim://name';

export function parsePortUrl(url: string): PortUrl {
  if (url.startsWith('rfc2217://')) return { kind: 'rfc2217', url, ...parseRfc2217(url) };
  if (url.startsWith('sim://')) {
    const name = url.slice('sim://'.length);
    if (name === '') throw badUrl(url);
    return { kind: 'sim', url, name };
  }
  if (url.startsWith('serial://')) {
    const path = url.slice('serial://'.length);
    if (path === '') throw badUrl(url);
    return { kind: 'serial', url, path };
  }
  if (url.startsWith('/') || /^COM\d+$/i.test(url)) return { kind: 'serial', url, path: url };
  throw badUrl(url);
}

/** Why a text is not a port URL, for config validation; undefined when it is one. */
export function portUrlProblem(url: string): string | undefined {
  try {
    parsePortUrl(url);
    return undefined;
  } catch (e) {
    return (e as TransportError).message;
  }
}

function parseRfc2217(url: string): { host: string; port: number } {
  const m = /^rfc2217:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(url);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new TransportError('transport.bad_url', `not an RFC 2217 URL: ${url}`, { hint: 'use rfc2217://<host>:<port>, e.g. rfc2217://127.0.0.1:4000' });
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

function badUrl(url: string): TransportError {
  return new TransportError('transport.bad_url', `${JSON.stringify(url)} is not a port URL`, { hint: `use a port such as ${PORT_URL_EXAMPLES}` });
}
