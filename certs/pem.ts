// PEM armour (RFC 7468) for the certificates, CSRs and CRLs the CA reads and writes.
import { CertsError } from './errors.ts';

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Every block with `label`, in order. */
export function pemBlocks(text: string, label: string): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(re)].map((m) => new Uint8Array(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')));
}

/** The single block with `label`; `what` names the input in the error. */
export function fromPem(text: string, label: string, what: string): Uint8Array {
  const [first] = pemBlocks(text, label);
  if (!first || first.length === 0) {
    throw new CertsError('certs.pem.missing', `${what} holds no "${label}" PEM block`, {
      hint: `expected text starting with -----BEGIN ${label}-----`,
    });
  }
  return first;
}
