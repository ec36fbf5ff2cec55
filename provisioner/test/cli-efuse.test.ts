// `espfleet efuse summary|burn` on the virtual ESP32: every field with its protection, a dry
// run that prints exactly what would be burned and burns nothing, a confirmed burn that
// espefuse (over RFC 2217) reads back, and refusals that leave the chip as it was.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createKeystore } from '../../certs/index.ts';
import { keyToBlockWords } from '../encryption/index.ts';
import { espefuse, expectOk } from '../../scripts/lib/oracles.ts';
import { EFUSE_FIELDS } from '../session/index.ts';
import { espfleet } from './cli-harness.ts';
import { boardsPerTest, type TestBoard } from './session-fixtures.ts';

const board = boardsPerTest();
const dir = mkdtempSync(join(tmpdir(), 'espfleet-cli-efuse-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
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
  it('dry run prints the burn and writes a plan; --plan --confirm burns it, and espefuse reads it back over RFC 2217', { timeout: 200_000 }, async () => {
    const b = board({ name: `efuse-burn-${process.pid}` });
    const before = fuses(b);
    const mac = JSON.parse((await espfleet(['efuse', 'summary', '--port', b.simUrl, '--json'])).stdout).mac;
    const planPath = join(dir, `burn-${process.pid}.json`);
    const dry = await espfleet(['efuse', 'burn', '--port', b.simUrl, 'xpd_sdio_force', '1', 'UART_DOWNLOAD_DIS', '1', '--plan-out', planPath]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toBe(
      'burn BLOCK0 (fields): XPD_SDIO_FORCE\n' +
        'burn BLOCK0 (last pass): UART_DOWNLOAD_DIS\n' +
        '  XPD_SDIO_FORCE: 0x0 → 0x1\n' +
        '  UART_DOWNLOAD_DIS: 0x0 → 0x1\n' +
        `dry run on ${mac}: nothing was burned; plan written to ${planPath}\n` +
        `review it, then burn it (irreversible): espfleet efuse burn --port ${b.simUrl} --plan ${planPath} --confirm\n`,
    );
    expect(fuses(b)).toBe(before);
    expect(b.chip.efuse.programCount).toBe(0);
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    expect(plan).toMatchObject({ format: 'espfleet-efuse-plan', mac, request: { XPD_SDIO_FORCE: 1, UART_DOWNLOAD_DIS: 1 }, encryptionFuses: false });
    expect(plan.steps).toEqual([
      { block: 0, pass: 'fields', words: ['0x00000000', '0x00000000', '0x00000000', '0x00000000', '0x00010000', '0x00000000', '0x00000000'], what: ['XPD_SDIO_FORCE'] },
      { block: 0, pass: 'final', words: ['0x08000000', '0x00000000', '0x00000000', '0x00000000', '0x00000000', '0x00000000', '0x00000000'], what: ['UART_DOWNLOAD_DIS'] },
    ]);

    const url = await b.rfc2217();
    const burn = await espfleet(['efuse', 'burn', '--port', url, '--plan', planPath, '--confirm', '--json']);
    expect(burn.code, burn.stderr).toBe(0);
    expect(JSON.parse(burn.stdout)).toMatchObject({ dryRun: false, programs: 2, changes: [{ name: 'XPD_SDIO_FORCE', from: 0, to: 1 }, { name: 'UART_DOWNLOAD_DIS', from: 0, to: 1 }] });
    await new Promise((r) => setTimeout(r, 300));
    const sum = expectOk(await espefuse(['--port', url, 'summary'], { timeoutMs: 170_000 }), 'espefuse summary');
    expect(sum).toMatch(/^XPD_SDIO_FORCE \(BLOCK0\)[^\n]*= True R\/W/m);
    expect(sum).toMatch(/^UART_DOWNLOAD_DIS \(BLOCK0\)[^\n]*= True R\/W/m);

    // The same plan again: the board no longer reads as planned.
    const again = await espfleet(['efuse', 'burn', '--port', b.simUrl, '--plan', planPath, '--confirm']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/XPD_SDIO_FORCE read 0x0 when planned, reads 0x1 now.* \[efuse\.plan_stale\]/);
    expect(b.chip.efuse.programCount).toBe(2);
  });

  it('refusals: unknown field, odd arguments, too wide, clearing bits, write-protected — nothing changes', async () => {
    const b = board({ efuseFields: { WR_DIS: 1 << 15, FLASH_CRYPT_CONFIG: 0x3 } });
    const before = fuses(b);
    const cases: Array<[string[], RegExp]> = [
      [['NOPE', '1'], /there is no BLK0 eFuse field "NOPE" \[efuse\.unknown_field\]/],
      [['JTAG_DISABLE'], /expected FIELD VALUE pairs, got 1 argument\(s\): JTAG_DISABLE \[cli\.efuse\.bad_args\]/],
      [['FLASH_CRYPT_CNT', '0x80'], /FLASH_CRYPT_CNT is 7 bit\(s\) wide; 128 does not fit \(max 0x7f\) \[efuse\.bad_value\]/],
      [['FLASH_CRYPT_CONFIG', '0xc'], /FLASH_CRYPT_CONFIG reads 0x3; 0xc would need bits cleared.* \[efuse\.cannot_clear\]\nhint: .*0xf/],
      [['DISABLE_DL_CACHE', '1'], /DISABLE_DL_CACHE is write-protected \(WR_DIS bit 15\).* \[efuse\.write_protected\]/],
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

describe('espfleet efuse burn leaves flash encryption to encrypt-flash', () => {
  it('FLASH_CRYPT_CNT 1 --confirm on a fresh board is refused: nothing burned', async () => {
    const b = board();
    const before = fuses(b);
    const r = await espfleet(['efuse', 'burn', '--port', b.simUrl, 'FLASH_CRYPT_CNT', '1', '--confirm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[efuse\.needs_plan\]/);
    expect(fuses(b)).toBe(before);
    expect(b.chip.efuse.programCount).toBe(0);
    expect(b.chip.flashEncryptionEnabled()).toBe(false);
  });

  it('refuses every field encrypt-flash owns without --allow-encryption-fuses, even as a dry run, and writes no plan', async () => {
    const b = board();
    const before = fuses(b);
    const planPath = join(dir, `owned-${process.pid}.json`);
    const owned: string[][] = [
      ['FLASH_CRYPT_CNT', '1'], ['FLASH_CRYPT_CONFIG', '0xf'], ['CODING_SCHEME', '1'], ['RD_DIS', '1'], ['RD_DIS', '2'], ['WR_DIS', '0x80'], ['WR_DIS', '0x100'],
      ['WR_DIS', '0x4'], ['ABS_DONE_0', '1'], ['ABS_DONE_1', '1'], ['DISABLE_DL_ENCRYPT', '1'], ['DISABLE_DL_DECRYPT', '1'], ['DISABLE_DL_CACHE', '1'],
      ['JTAG_DISABLE', '1'], ['CONSOLE_DEBUG_DISABLE', '1'],
    ];
    for (const args of owned) {
      const r = await espfleet(['efuse', 'burn', '--port', b.simUrl, ...args, '--plan-out', planPath]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`refusing to burn fields that flash encryption owns on [0-9a-f:]+: ${args[0]} \\(.*\\[efuse\\.encryption_owned\\]\\nhint: .*encrypt-flash.*--allow-encryption-fuses`));
    }
    // Fields it does not own plan fine, and WR_DIS/RD_DIS bits of other groups too.
    const ok = await espfleet(['efuse', 'burn', '--port', b.simUrl, 'WR_DIS', '0x20', 'RD_DIS', '0x4', 'DISABLE_SDIO_HOST', '1']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(() => readFileSync(planPath)).toThrow();
    expect(fuses(b)).toBe(before);
    expect(b.chip.efuse.programCount).toBe(0);
  });

  it('with --allow-encryption-fuses, FLASH_CRYPT_CNT or RD_DIS bit0 still needs the key escrowed for this MAC and burned in BLK1', async () => {
    const key = randomBytes(32);
    const keyFile = join(dir, `ks-${process.pid}.key`);
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const ksPath = join(dir, `ks-${process.pid}-${Math.random()}.json`);
    const ks = await createKeystore(ksPath, { keyFile });
    const ksArgs = ['--keystore', ksPath, '--keystore-key-file', keyFile];
    const allow = '--allow-encryption-fuses';

    const blank = board({ mac: '24:0a:c4:00:00:01' });
    await ks.put({ deviceId: 'esp32-240ac4000001', mac: '24:0a:c4:00:00:01', kind: 'flash-encryption-key', secret: key });
    const before = fuses(blank);
    const cases: Array<[string[], RegExp]> = [
      [['FLASH_CRYPT_CNT', '1', allow], /would turn flash encryption on on 24:0a:c4:00:00:01, and no keystore was given.* \[efuse\.key_not_escrowed\]/],
      [['RD_DIS', '1', allow], /would read-protect BLK1 .*no keystore was given.* \[efuse\.key_not_escrowed\]/],
      [['FLASH_CRYPT_CNT', '1', allow, ...ksArgs], /BLK1 of 24:0a:c4:00:00:01 is blank: this burn would turn flash encryption on with an all-zero key.* \[efuse\.key_not_escrowed\]/],
    ];
    for (const [args, message] of cases) {
      const r = await espfleet(['efuse', 'burn', '--port', blank.simUrl, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    expect(fuses(blank)).toBe(before);

    // BLK1 holds a key that is not escrowed here (another MAC's record does not count).
    const foreign = board({ mac: '24:0a:c4:00:00:02', efuseBlocks: [[], keyToBlockWords(randomBytes(32))] });
    const f = await espfleet(['efuse', 'burn', '--port', foreign.simUrl, 'FLASH_CRYPT_CNT', '1', allow, ...ksArgs]);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/escrows no flash-encryption key for it; the key would be unrecoverable.* \[efuse\.key_not_escrowed\]/);
    expect(foreign.chip.efuse.programCount).toBe(0);

    // BLK1 holds another key than the escrowed one.
    const wrong = board({ mac: '24:0a:c4:00:00:01', efuseBlocks: [[], keyToBlockWords(randomBytes(32))] });
    const w = await espfleet(['efuse', 'burn', '--port', wrong.simUrl, 'FLASH_CRYPT_CNT', '1', allow, ...ksArgs]);
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/BLK1 of 24:0a:c4:00:00:01 does not hold the key escrowed for esp32-240ac4000001.* \[efuse\.key_not_escrowed\]/);
    expect(wrong.chip.efuse.programCount).toBe(0);

    // BLK1 holds the escrowed key, flash blank: planned and burned, the plan names the escrow (never the key).
    const good = board({ mac: '24:0a:c4:00:00:01', efuseBlocks: [[], keyToBlockWords(key)] });
    const planPath = join(dir, `enc-${process.pid}.json`);
    const dry = await espfleet(['efuse', 'burn', '--port', good.simUrl, 'FLASH_CRYPT_CONFIG', '0xf', 'FLASH_CRYPT_CNT', '1', 'RD_DIS', '1', 'WR_DIS', '0x80', allow, ...ksArgs, '--plan-out', planPath]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^key escrowed for esp32-240ac4000001 in .*: BLK1 reads as the escrowed key$/m);
    const planText = readFileSync(planPath, 'utf8');
    expect(JSON.parse(planText)).toMatchObject({ encryptionFuses: true, escrow: { deviceId: 'esp32-240ac4000001', proof: 'BLK1 reads as the escrowed key' } });
    expect(planText).not.toContain(key.toString('hex'));
    for (const w of keyToBlockWords(key)) expect(planText).not.toContain(w.toString(16).padStart(8, '0'));
    // Burning the plan needs the override again (and the keystore again: a plan file proves nothing).
    const noAllow = await espfleet(['efuse', 'burn', '--port', good.simUrl, '--plan', planPath, '--confirm', ...ksArgs]);
    expect(noAllow.stderr).toMatch(/\[efuse\.encryption_owned\]/);
    const noKs = await espfleet(['efuse', 'burn', '--port', good.simUrl, '--plan', planPath, '--confirm', allow]);
    expect(noKs.stderr).toMatch(/\[efuse\.key_not_escrowed\]/);
    expect(good.chip.efuse.programCount).toBe(0);
    const burn = await espfleet(['efuse', 'burn', '--port', good.simUrl, '--plan', planPath, '--confirm', allow, ...ksArgs]);
    expect(burn.code, burn.stderr).toBe(0);
    expect(good.chip.flashEncryptionEnabled()).toBe(true);
  });
});

describe('espfleet efuse burn --plan', () => {
  it('burns only on the board and eFuse state it was made for, and only the words it records', async () => {
    const a = board({ mac: '24:0a:c4:00:00:0a' });
    const other = board({ mac: '24:0a:c4:00:00:0b' });
    const planPath = join(dir, `plan-${process.pid}.json`);
    const dry = await espfleet(['efuse', 'burn', '--port', a.simUrl, 'XPD_SDIO_FORCE', '1', '--plan-out', planPath]);
    expect(dry.code, dry.stderr).toBe(0);

    const wrongBoard = await espfleet(['efuse', 'burn', '--port', other.simUrl, '--plan', planPath, '--confirm']);
    expect(wrongBoard.code).toBe(1);
    expect(wrongBoard.stderr).toMatch(/was made for the board 24:0a:c4:00:00:0a, but this board is 24:0a:c4:00:00:0b; nothing was burned \[efuse\.plan_wrong_board\]/);
    expect(other.chip.efuse.programCount).toBe(0);

    // Edited words: refused.
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    const edited = join(dir, `edited-${process.pid}.json`);
    plan.steps[0].words[4] = '0x00070000';
    writeFileSync(edited, JSON.stringify(plan));
    const e = await espfleet(['efuse', 'burn', '--port', a.simUrl, '--plan', edited, '--confirm']);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/is not a usable eFuse plan: its "steps" are not the words its "request" yields on this board.* \[efuse\.bad_plan\]/);

    // Something else burned the board since the plan was made: refused, nothing more burned.
    const mid = await espfleet(['efuse', 'burn', '--port', a.simUrl, 'DISABLE_SDIO_HOST', '1', '--plan-out', join(dir, `mid-${process.pid}.json`)]);
    expect(mid.code, mid.stderr).toBe(0);
    expect((await espfleet(['efuse', 'burn', '--port', a.simUrl, '--plan', join(dir, `mid-${process.pid}.json`), '--confirm'])).code).toBe(0);
    const programs = a.chip.efuse.programCount;
    const stale = await espfleet(['efuse', 'burn', '--port', a.simUrl, '--plan', planPath, '--confirm']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/the eFuses of 24:0a:c4:00:00:0a changed since .*: DISABLE_SDIO_HOST read 0x0 when planned, reads 0x1 now; nothing was burned \[efuse\.plan_stale\]/);
    expect(a.chip.efuse.programCount).toBe(programs);

    // FIELD VALUE pairs with --plan are refused; so is --confirm alone.
    expect((await espfleet(['efuse', 'burn', '--port', a.simUrl, '--plan', planPath, 'JTAG_DISABLE', '1', '--confirm'])).stderr).toMatch(/\[cli\.efuse\.bad_args\]/);
    const alone = await espfleet(['efuse', 'burn', '--port', a.simUrl, 'XPD_SDIO_FORCE', '1', '--confirm']);
    expect(alone.stderr).toMatch(/--confirm burns a reviewed plan file, and no --plan was given; nothing was burned \[efuse\.needs_plan\]\nhint: .*--plan-out plan\.json/);
  });
});
