// `espfleet info` against virtual boards, checked against Espressif's own tools
// (esptool flash-id, espefuse summary) reading the same board over RFC 2217.
import { describe, expect, it } from 'vitest';
import { espefuse, esptool, expectOk } from '../../scripts/lib/oracles.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest, type TestBoard } from './session-fixtures.ts';

const board = boardsPerTest();

/** A BLK0 field's value from `espefuse summary` (the text after "= ", up to the R/W column). */
function efuseValue(summary: string, name: string): string {
  const m = new RegExp(`^${name} \\(BLOCK0\\)[\\s\\S]*?= (.+?) R`, 'm').exec(summary);
  if (!m) throw new Error(`espefuse summary has no ${name}:\n${summary}`);
  return (m[1] as string).trim();
}

describe('espfleet info', () => {
  it('prints one line per fact, and the same facts as JSON', async () => {
    const b = board({ mac: '24:6f:28:aa:bb:cc', flashSize: '8MB' });
    const text = await espfleet(['info', '--port', b.simUrl]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^mac: +24:6f:28:aa:bb:cc$/m);
    expect(text.stdout).toMatch(/^chip: +ESP32-D0WDQ6-V3 \(revision v3\.0\)$/m);
    expect(text.stdout).toMatch(/^flash: +8 MB \(JEDEC id 0x1740ef: manufacturer 0xef, device 0x4017\)$/m);
    expect(text.stdout).toMatch(/^crystal: +40 MHz$/m);
    expect(text.stdout).toMatch(/^flash encryption: +off \(FLASH_CRYPT_CNT 0b0000000\)$/m);

    const json = await espfleet(['info', '--port', b.simUrl, '--json', '--reset', 'tight']);
    expect(json.code).toBe(0);
    const facts = JSON.parse(json.stdout);
    expect(facts).toMatchObject({ port: b.simUrl, chip: 'ESP32', mac: '24:6f:28:aa:bb:cc', revision: { major: 3, minor: 0 }, flash: { sizeBytes: 8 << 20 } });
    expect(facts.efuse.encryptionEnabled).toBe(false);

    // esptool-js's own log goes to stderr only when asked for, and never into stdout.
    const debug = await espfleet(['info', '--port', b.simUrl, '--json'], { env: { ESPFLEET_DEBUG: '1' } });
    expect(JSON.parse(debug.stdout).mac).toBe('24:6f:28:aa:bb:cc');
    expect(debug.stderr).toMatch(/^debug: Stub running\.\.\.$/m);
  });

  it('reports what esptool and espefuse report for the same board over RFC 2217', { timeout: 180_000 }, async () => {
    const b = board({
      mac: '94:b9:7e:5a:6e:58',
      revision: 1,
      flashSize: '16MB',
      efuseFields: { FLASH_CRYPT_CNT: 0b11, FLASH_CRYPT_CONFIG: 0xf, JTAG_DISABLE: 1, DISABLE_DL_CACHE: 1 },
    });
    const url = await b.rfc2217();
    const ours = await espfleet(['info', '--port', url, '--json']);
    expect(ours.stderr).toBe('');
    const facts = JSON.parse(ours.stdout);

    const flashId = expectOk(await esptool(['--port', url, 'flash-id']), 'esptool flash-id');
    expect(flashId).toContain(`MAC:                ${facts.mac}`);
    expect(flashId).toContain(`(revision v${facts.revision.major}.${facts.revision.minor})`);
    expect(flashId).toContain(`Chip type:          ${facts.package} (revision`);
    expect(flashId).toContain(`Detected flash size: ${facts.flash.sizeBytes / 0x100000}MB`);
    expect(flashId).toContain(`Crystal frequency:  ${facts.crystalMHz}MHz`);
    const id: number = facts.flash.jedecId;
    expect(flashId).toContain(`Manufacturer: ${(id & 0xff).toString(16)}\nDevice: ${((id >>> 8) & 0xff).toString(16)}${((id >>> 16) & 0xff).toString(16)}`);
    expect(facts).toMatchObject({ mac: '94:b9:7e:5a:6e:58', revision: { major: 1 }, flash: { sizeBytes: 16 << 20 } });

    const summary = expectOk(await espefuse(['--port', url, 'summary']), 'espefuse summary');
    expect(efuseValue(summary, 'MAC')).toBe(`${facts.mac} (CRC 0xe2 OK)`);
    expect(Number(efuseValue(summary, 'FLASH_CRYPT_CNT'))).toBe(facts.efuse.flashCryptCnt);
    expect(facts.efuse.flashCryptCnt).toBe(3);
    expect(facts.efuse.encryptionEnabled).toBe(false); // two bits: enabled, then disabled again
    expect(Number(efuseValue(summary, 'FLASH_CRYPT_CONFIG'))).toBe(facts.efuse.flashCryptConfig);
    const bool = (name: string) => efuseValue(summary, name) === 'True';
    expect(bool('JTAG_DISABLE')).toBe(facts.efuse.jtagDisabled);
    expect(bool('DISABLE_DL_CACHE')).toBe(facts.efuse.downloadDisables.cache);
    expect(bool('DISABLE_DL_ENCRYPT')).toBe(facts.efuse.downloadDisables.encrypt);
    expect(bool('DISABLE_DL_DECRYPT')).toBe(facts.efuse.downloadDisables.decrypt);
    expect(bool('UART_DOWNLOAD_DIS')).toBe(facts.efuse.uartDownloadDisabled);
    expect(efuseValue(summary, 'CODING_SCHEME')).toMatch(/^NONE/);
    expect(facts.efuse.codingScheme).toBe('none');
  });

  it('a board that is not an ESP32 gives one error line with the magic and a hint', async () => {
    const b = board({ chipMagic: 0x00000009 });
    const r = await espfleet(['info', '--port', b.simUrl]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      `error: the board on ${b.simUrl} is not an ESP32: chip magic 0x00000009, expected 0x00f01d83 [session.wrong_chip]`,
      expect.stringMatching(/^hint: espfleet supports the original ESP32 only/),
    ]);
  });

  it('a port that does not exist gives one error line', async () => {
    const r = await espfleet(['info', '--port', '/dev/ttyESPFLEET-NONE']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: .*\/dev\/ttyESPFLEET-NONE.* \[session\.port_not_found\]\nhint: .*espfleet ports/);
  });
});
