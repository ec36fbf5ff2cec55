// Issuing-CA rollover (certs/issuing-ca.ts): a new issuing CA under the same root signs from
// the start on; during the overlap the broker trusts leaves of both (chain.pem holds both
// intermediates, crl.pem one CRL from each, checked by openssl and a real mosquitto); the
// old one retires only when no live certificate depends on it, and once retired mosquitto
// refuses its leaves because their issuer has no CRL any more.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOk, openssl, oracleAvailable } from '../../scripts/lib/oracles.ts';
import { encryptedPrivateKeyPem, generateCaKey, stretchPassphrase } from '../keys.ts';
import { pemBlocks, toPem } from '../pem.ts';
import {
  buildCrl, initCa, issueDeviceCert, issueServerCert, openCa, retireIssuing, revoke, rolloverStatus, startRollover, writeBrokerProfile,
  type Ca, type IssuedWithKey,
} from '../index.ts';
import { tempDir, testPassphrase } from './helpers.ts';
import { connectOutcome, freePort, MOSQUITTO, mosquittoAvailable, startMosquitto, type Broker } from './mosquitto-harness.ts';

const tmp = tempDir('espfleet-rollover-');
const passphrase = testPassphrase();
const hasOpenssl = oracleAvailable('openssl');
const hasMosquitto = mosquittoAvailable();
afterAll(() => tmp.cleanup());

const split = (text: string, label: string) => pemBlocks(text, label).map((der) => toPem(label, der));

async function verify(dir: string, caFile: string, leaf: IssuedWithKey, crlFile?: string): Promise<string> {
  const leafFile = join(dir, `leaf-${leaf.serialHex}.pem`);
  writeFileSync(leafFile, leaf.certPem);
  const r = await openssl(['verify', '-CAfile', caFile, ...(crlFile ? ['-crl_check', '-CRLfile', crlFile] : []), leafFile]);
  return (r.stdout + r.stderr).trim();
}

describe.skipIf(!hasOpenssl)('issuing-CA rollover (needs openssl)', () => {
  let ca: Ca;
  let dir: string;
  let oldLeaf: IssuedWithKey;

  beforeAll(async () => {
    dir = join(tmp.path, 'ca');
    ca = await initCa({ dir, passphrase });
    oldLeaf = await issueDeviceCert(ca, { cn: 'board-old' });
  });

  it('before any rollover: one issuing CA, number 1, with every live certificate', () => {
    const s = rolloverStatus(dir);
    expect(s.issuing.map((i) => [i.label, i.state, i.live.device])).toEqual([[1, 'active', 1]]);
    expect(s.ready).toBe(false);
    expect(() => retireIssuing(ca)).toThrow(expect.objectContaining({ code: 'certs.rollover.none' }));
  });

  it('start: the root signs issuing CA 2, which signs from now on; chain.pem holds 2, 1 and the root', async () => {
    const { ca: rolled, from, to } = await startRollover(dir, passphrase);
    ca = rolled;
    expect([from.label, from.state, to.label, to.state]).toEqual([1, 'retiring', 2, 'active']);
    expect(to.cn).toBe('espfleet Issuing CA 2');
    const chain = split(readFileSync(join(dir, 'chain.pem'), 'utf8'), 'CERTIFICATE');
    expect(chain).toHaveLength(3);
    expect(chain[0]).toBe(ca.intermediateCertPem);
    expect(chain[2]).toBe(ca.rootCertPem);
    // openssl: the new intermediate is the root's child with pathlen 0.
    writeFileSync(join(tmp.path, 'root.pem'), ca.rootCertPem);
    writeFileSync(join(tmp.path, 'inter2.pem'), chain[0]!);
    expect(expectOk(await openssl(['verify', '-CAfile', join(tmp.path, 'root.pem'), join(tmp.path, 'inter2.pem')]), 'verify')).toContain(': OK');
    const text = expectOk(await openssl(['x509', '-in', join(tmp.path, 'inter2.pem'), '-noout', '-text']), 'x509');
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toContain('Subject: O = espfleet, CN = espfleet Issuing CA 2');
    // A new leaf is signed by CA 2 and both leaves verify against the chain.
    const newLeaf = await issueDeviceCert(ca, { cn: 'board-new' });
    expect(newLeaf.chainPem).toBe(newLeaf.certPem + ca.intermediateCertPem);
    expect(await verify(tmp.path, join(dir, 'chain.pem'), newLeaf)).toMatch(/: OK$/);
    expect(await verify(tmp.path, join(dir, 'chain.pem'), oldLeaf)).toMatch(/: OK$/);
    const s = rolloverStatus(dir);
    expect(s.issuing.map((i) => [i.label, i.state, i.devices])).toEqual([
      [1, 'retiring', ['board-old']],
      [2, 'active', ['board-new']],
    ]);
    await expect(startRollover(dir, passphrase)).rejects.toMatchObject({ code: 'certs.rollover.in_progress' });
  });

  it('reopening keeps CA 2 as the signer, and a wrong root key is refused', async () => {
    const again = openCa(dir, passphrase);
    expect(again.intermediateCertPem).toBe(ca.intermediateCertPem);
    expect(again.issuingCas.map((c) => c.record.label)).toEqual([2, 1]);
    const fresh = await initCa({ dir: join(tmp.path, 'third'), passphrase });
    // A key that opens with this CA's passphrase but is not its root's.
    const stranger = join(tmp.path, 'stranger.key.pem');
    writeFileSync(stranger, encryptedPrivateKeyPem((await generateCaKey('ec-p256')).privateKey, stretchPassphrase(passphrase, fresh.meta.keyKdf)));
    await expect(startRollover(fresh.dir, passphrase, { rootKeyPath: stranger })).rejects.toMatchObject({ code: 'certs.rollover.wrong_root_key' });
    await expect(startRollover(fresh.dir, passphrase, { rootKeyPath: join(tmp.path, 'nowhere.pem') })).rejects.toMatchObject({ code: 'certs.rollover.no_root_key' });
    expect(rolloverStatus(fresh.dir).issuing).toHaveLength(1);
  });

  it('the CRL file holds one CRL per trusted issuing CA, each listing only its own revocations', async () => {
    const extra = await issueDeviceCert(ca, { cn: 'board-extra' });
    await revoke(ca, extra.serialHex, 'keyCompromise');
    ca = openCa(dir, passphrase);
    const crls = split(buildCrl(ca).crlPem, 'X509 CRL');
    expect(crls).toHaveLength(2);
    const texts = await Promise.all(
      crls.map(async (crl, i) => {
        const f = join(tmp.path, `crl-${i}.pem`);
        writeFileSync(f, crl);
        return expectOk(await openssl(['crl', '-in', f, '-noout', '-text', '-CAfile', join(dir, 'chain.pem')]), 'crl');
      }),
    );
    expect(texts[0]).toContain('Issuer: O = espfleet, CN = espfleet Issuing CA 2');
    expect(texts[0]).toContain(extra.serialHex.toUpperCase());
    expect(texts[1]).toContain('Issuer: O = espfleet, CN = espfleet Issuing CA 1');
    expect(texts[1]).toContain('No Revoked Certificates');
    // openssl with CRL checking: both issuers' leaves are judged by their own CRL.
    const crlFile = join(dir, 'crl.pem');
    expect(await verify(tmp.path, join(dir, 'chain.pem'), oldLeaf, crlFile)).toMatch(/: OK$/);
    expect(await verify(tmp.path, join(dir, 'chain.pem'), extra, crlFile)).toMatch(/certificate revoked/);
  });

  it('retire is refused while a live certificate depends on CA 1; allowed once none does', async () => {
    expect(() => retireIssuing(ca)).toThrow(expect.objectContaining({ code: 'certs.rollover.still_used', message: expect.stringContaining('board-old') }));
    await revoke(ca, oldLeaf.serialHex, 'superseded');
    ca = openCa(dir, passphrase);
    expect(rolloverStatus(dir).ready).toBe(true);
    const { ca: after, retired } = retireIssuing(ca);
    expect([retired.label, retired.state]).toEqual([1, 'retired']);
    expect(split(after.chainPem, 'CERTIFICATE')).toHaveLength(2);
    expect(readFileSync(join(dir, 'chain.pem'), 'utf8')).toBe(after.intermediateCertPem + after.rootCertPem);
    expect(split(buildCrl(after).crlPem, 'X509 CRL')).toHaveLength(1);
    expect(rolloverStatus(dir).issuing.map((i) => i.state)).toEqual(['retired', 'active']);
    // The next rollover is allowed and makes number 3.
    const third = await startRollover(dir, passphrase);
    expect(third.to.label).toBe(3);
  });
});

describe.skipIf(!hasMosquitto || !hasOpenssl)(`issuing-CA rollover against mosquitto (needs ${MOSQUITTO})`, () => {
  let broker: Broker | undefined;
  afterAll(async () => broker?.stop());

  it('overlap: leaves of both CAs get in; after retire and a reload the old CA\'s leaves are refused, the new one\'s are not', async () => {
    const dir = join(tmp.path, 'broker-ca');
    let ca = await initCa({ dir, passphrase });
    const oldBoard = await issueDeviceCert(ca, { cn: 'board-1' });
    const port = await freePort();
    const profileOpts = { outDir: join(tmp.path, 'broker'), host: 'localhost', ip: ['127.0.0.1'], port, bindAddress: '127.0.0.1', ...(process.getuid?.() === 0 ? { user: 'root' } : {}) };
    const profile = await writeBrokerProfile(ca, profileOpts);
    broker = await startMosquitto(profile.confPath);
    const rootPem = ca.rootCertPem;
    const id = (c: IssuedWithKey) => ({ cert: c.chainPem, key: c.privateKeyPem });

    ca = (await startRollover(dir, passphrase)).ca;
    const newBoard = await issueDeviceCert(ca, { cn: 'board-2' });
    // What `ca rollover start --broker-dir` writes: the chain and the CRLs the broker reads, then a reload.
    writeFileSync(profile.paths.cafile, ca.chainPem);
    writeFileSync(profile.paths.crlfile, buildCrl(ca).crlPem);
    // The broker's own certificate moves to CA 2 as well (a live server certificate keeps CA 1 from retiring).
    const server = await issueServerCert(ca, { dns: ['localhost'], ip: ['127.0.0.1'] });
    writeFileSync(profile.paths.certfile, server.chainPem);
    writeFileSync(profile.paths.keyfile, server.privateKeyPem);
    await broker.reload();
    expect(await connectOutcome(port, rootPem, id(oldBoard))).toBe('connected');
    expect(await connectOutcome(port, rootPem, id(newBoard))).toBe('connected');

    // What retiring relies on: mosquitto refuses a leaf whose issuer has no CRL in crlfile.
    const [crl2] = split(buildCrl(ca).crlPem, 'X509 CRL');
    writeFileSync(profile.paths.crlfile, crl2!);
    await broker.reload();
    expect(await connectOutcome(port, rootPem, id(oldBoard))).toMatch(/^refused/);
    expect(await connectOutcome(port, rootPem, id(newBoard))).toBe('connected');

    // Every CA-1 certificate is superseded (what renewal does for boards), then CA 1 retires.
    const ca2 = Buffer.from(ca.issuer.keyId).toString('hex');
    for (const rec of ca.index.all()) {
      if (rec.status === 'valid' && rec.issuerKeyIdHex !== ca2) await revoke(ca, rec.serialHex, 'superseded');
    }
    ca = retireIssuing(openCa(dir, passphrase)).ca;
    writeFileSync(profile.paths.cafile, ca.chainPem);
    writeFileSync(profile.paths.crlfile, buildCrl(ca).crlPem);
    await broker.reload();
    expect(await connectOutcome(port, rootPem, id(newBoard))).toBe('connected');
    expect(await connectOutcome(port, rootPem, id(oldBoard))).toMatch(/^refused/);
  }, 60_000);
});

