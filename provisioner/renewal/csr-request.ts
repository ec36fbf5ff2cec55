// What a board sends on devices/<id>/cert/csr (agent/fs/espfleet_renew.js):
// {id: <req>, cn: <device id>, csr: <PEM>}. Pure checks of the message's shape; the
// CSR's own policy (signature, CN, key) is certs/csr.ts plus the service's P-256 rule.
import { RenewalError } from './errors.ts';

/** A CSR message larger than this is refused unread (an agent CSR is ~600 bytes). */
export const MAX_CSR_MESSAGE_BYTES = 8192;
const REQ_ID = /^[\x21-\x7e]{1,80}$/;

export interface CsrRequest {
  deviceId: string;
  req: string;
  csrPem: string;
}

export const CSR_TOPIC = /^devices\/([^/]+)\/cert\/csr$/;
export const STATUS_TOPIC = /^devices\/([^/]+)\/status$/;
export const issuedTopic = (deviceId: string): string => `devices/${deviceId}/cert/issued`;

/** The request id of a message, if it has a usable one (to address a refusal to the board). */
export function requestIdOf(payload: Uint8Array): string | null {
  if (payload.length > MAX_CSR_MESSAGE_BYTES) return null;
  try {
    const m = JSON.parse(Buffer.from(payload).toString('utf8')) as { id?: unknown };
    return typeof m?.id === 'string' && REQ_ID.test(m.id) ? m.id : null;
  } catch {
    return null;
  }
}

export function parseCsrRequest(deviceId: string, payload: Uint8Array): CsrRequest {
  if (payload.length > MAX_CSR_MESSAGE_BYTES) {
    throw new RenewalError('renewal.csr.too_large', `the CSR message is ${payload.length} bytes; at most ${MAX_CSR_MESSAGE_BYTES} are read`);
  }
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new RenewalError('renewal.csr.not_json', 'the CSR message is not JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new RenewalError('renewal.csr.bad_message', 'the CSR message is not a JSON object');
  const { id, cn, csr } = m as Record<string, unknown>;
  if (typeof id !== 'string' || !REQ_ID.test(id)) throw new RenewalError('renewal.csr.bad_message', 'the CSR message has no usable id (1-80 printable ASCII characters)');
  if (typeof csr !== 'string') throw new RenewalError('renewal.csr.bad_message', 'the CSR message has no csr string');
  if (cn !== undefined && cn !== deviceId) {
    throw new RenewalError('renewal.csr.cn_mismatch', `the message names cn ${JSON.stringify(cn)} on the topic of ${deviceId}`, { hint: 'a board may only request a certificate for its own device id' });
  }
  return { deviceId, req: id, csrPem: csr };
}
