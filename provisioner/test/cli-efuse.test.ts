// `espfleet efuse summary|burn` on the virtual ESP32: every field with its protection, a dry
// run that prints exactly what would be burned and burns nothing, a confirmed burn that
// espefuse (over RFC 2217) reads back, and refusals that leave the chip as it was.
import { describe, expect, it } from 'vitest';
import { espefuse, expectOk } from '../../scripts/lib/oracles.ts';
import { EFUSE_FIELDS } from '../session/index.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest, type TestBoard } from './session-fixtures.ts';

const board = boardsPerTest();
const fuses = (b: TestBoard) => JSON.stringify(b.chip.efuse.fuses.map((w) => Array.from(w)));

describe('espfleet efuse summary', () => {
  it('lists every BLK0 field with access, the key blocks, and the encryption state (text and JSON)', async () => {
    const b = board({ mac: '24:0a:c4:01:02:03', efuseFields: { JTAG_DISABLE: 1, WR_DIS: 1 << 14, RD_DIS: 0b0100, FLASH_CRYPT_CONFIG: 0xf } });
    const j = await espfleet(['efuse', 'summary', '--port', b.simUrl, '--json']);
    expect(j.code, j.stderr).toBe(0);
    const d = JSON.parse(j.stdout);
    expect(d.mac).toBe('24:0a:c4:01:02:03');
    expect(d.efuse.fields.map((f: { name: string }) => f.name)).toEqual(EFUSE_FIELDS.map((f) => f.name));
    expect(d.efuse.fields.find((f: { name: string }) => f.name === 'JTAG_DISABLE')).toMatchObject({ value: 1, access: 'R/-' });
    expect(d.efuse.fields.find((f: { name: string }) => f.name === 'MAC')).toMatchObject({ value: 0xc4010203 });
    expect(d.efuse.blocks).toEqual([
      { block: 1, name: 'BLOCK1 (flash encryption key)', hex: '00'.repeat(32), blank: true, readProtected: false, writeProtected: false },
      { block: 2, name: 'BLOCK2 (secure boot key)', hex: '00'.repeat(32), blank: true, readProtected: false, writeProtected: false },
      { block: 3, name: 'BLOCK3 (user data)', hex: null, blank: null, readProtected: true, writeProtected: false },
    ]);
    expect(d.encryption).toMatchObject({ enabled: false, flashCryptCnt: 0, flashCryptConfig: 0xf, keyReadProtected: false });

    const t = await espfleet(['efuse', 'summary', '--port', b.simUrl]);
    expect(t.stdout).toMatch(/^eFuses of ESP32-D0WDQ6-V3 24:0a:c4:01:02:03 on sim:\/\/\S+ \(coding scheme none\)\n/);
    expect(t.stdout).toMatch(/^JTAG_DISABLE {11}0x1 {10}R\/- {2}JTAG disabled$/m);
    expect(t.stdout).toMatch(/^BLOCK3 -\/W {2}read-protected/m);
    expect(t.stdout).toMatch(/^flash encryption: off, FLASH_CRYPT_CNT 0b0000000, FLASH_CRYPT_CONFIG 0xf, key not protected$/m);
  });
});

describe('espfleet efuse burn', () => {
  it('dry run prints the plan and burns nothing; --confirm burns, and espefuse reads it back over RFC 2217', { timeout: 200_000 }, async () => {
    const b = board({ name: `efuse-burn-${process.pid}` });
    const before = fuses(b);
    const dry = await espfleet(['efuse', 'burn', '--port', b.simUrl, 'jtag_disable', '1', 'FLASH_CRYPT_CNT', '1']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(
      'burn BLOCK0 (fields): JTAG_DISABLE\n' +
        'burn BLOCK0 (last pass): FLASH_CRYPT_CNT\n' +
        '  JTAG_DISABLE: 0x0 → 0x1\n' +
        '  FLASH_CRYPT_CNT: 0x0 → 0x1\n' +
        `dry run on ${JSON.parse((await espfleet(['efuse', 'summary', '--port', b.simUrl, '--json'])).stdout).mac}: nothing was burned; add --confirm to burn (irreversible)\n`,
    );
    expect(fuses(b)).toBe(before);
    expect(b.chip.efuse.programCount).toBe(0);

    const url = await b.rfc2217();
    const burn = await espfleet(['efuse', 'burn', '--port', url, 'JTAG_DISABLE', '1', 'FLASH_CRYPT_CNT', '1', '--confirm', '--json']);
    expect(burn.code, burn.stderr).toBe(0);
    expect(JSON.parse(burn.stdout)).toMatchObject({ dryRun: false, programs: 2, changes: [{ name: 'JTAG_DISABLE', from: 0, to: 1 }, { name: 'FLASH_CRYPT_CNT', from: 0, to: 1 }] });
    await new Promise((r) => setTimeout(r, 300));
    const sum = expectOk(await espefuse(['--port', url, 'summary'], { timeoutMs: 170_000 }), 'espefuse summary');
    expect(sum).toMatch(/^JTAG_DISABLE \(BLOCK0\)[^\n]*= True R\/W/m);
    expect(sum).toMatch(/^FLASH_CRYPT_CNT \(BLOCK0\)[\s\S]*?= 1 R\/W \(0b0000001\)/m);

    // Asking again burns nothing.
    const again = await espfleet(['efuse', 'burn', '--port', b.simUrl, 'JTAG_DISABLE', '1', '--confirm']);
    expect(again.stdout).toBe('nothing to burn: every requested bit is already set\n');
    expect(b.chip.efuse.programCount).toBe(2);
  });

  it('refusals: unknown field, odd arguments, too wide, clearing bits, write-protected — nothing changes', async () => {
    const b = board({ efuseFields: { WR_DIS: 1 << 15, FLASH_CRYPT_CONFIG: 0x3 } });
    const before = fuses(b);
    const cases: Array<[string[], RegExp]> = [
      [['NOPE', '1'], /there is no BLK0 eFuse field "NOPE" \[efuse\.unknown_field\]/],
      [['JTAG_DISABLE'], /expected FIELD VALUE pairs, got 1 argument\(s\): JTAG_DISABLE \[cli\.efuse\.bad_args\]/],
      [['FLASH_CRYPT_CNT', '0x80', '--confirm'], /FLASH_CRYPT_CNT is 7 bit\(s\) wide; 128 does not fit \(max 0x7f\) \[efuse\.bad_value\]/],
      [['FLASH_CRYPT_CONFIG', '0xc', '--confirm'], /FLASH_CRYPT_CONFIG reads 0x3; 0xc would need bits cleared.* \[efuse\.cannot_clear\]\nhint: .*0xf/],
      [['DISABLE_DL_CACHE', '1', '--confirm'], /DISABLE_DL_CACHE is write-protected \(WR_DIS bit 15\).* \[efuse\.write_protected\]/],
    ];
    for (const [args, message] of cases) {
      const r = await espfleet(['efuse', 'burn', '--port', b.simUrl, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(fuses(b)).toBe(before);
    expect(b.chip.efuse.programCount).toBe(0);
  });
});
