// `espfleet fw encrypt|decrypt`: ESP32 flash encryption of a file at a flash address,
// byte-compatible with `espsecure encrypt-flash-data` / `decrypt-flash-data`.
import type { Command } from 'commander';
import {
  DEFAULT_FLASH_CRYPT_CONFIG,
  decryptFlash,
  encryptFlash,
  padForEncryption,
} from '../../../../firmware-js/flash-encryption/index.ts';
import { readInputFile, writeFileDurable } from '../../../io/files.ts';
import { intArg, numberArg } from '../../args.ts';
import type { CliContext } from '../../context.ts';
import { addr } from '../../format.ts';

interface Options {
  key: string;
  address: number;
  flashCryptConf: number;
  json?: boolean;
}

export function register(fw: Command, ctx: CliContext): void {
  for (const direction of ['encrypt', 'decrypt'] as const) {
    fw.command(`${direction} <in> <out>`)
      .description(
        direction === 'encrypt'
          ? 'encrypt a file as the ESP32 flash-encryption engine stores it at --address'
          : 'decrypt a file read raw from an encrypted ESP32 flash at --address',
      )
      .requiredOption('--key <key.bin>', '256-bit flash-encryption key file (32 bytes; 24 under 3/4 coding)')
      .requiredOption('--address <addr>', 'flash address the data lives at (hex or decimal, multiple of 16)', numberArg)
      .option(
        '--flash-crypt-conf <n>',
        'FLASH_CRYPT_CONFIG eFuse value that selects the key tweak',
        intArg(0, 15),
        DEFAULT_FLASH_CRYPT_CONFIG,
      )
      .option('--json', 'print the result as JSON')
      .addHelpText(
        'after',
        `
The output equals Espressif's \`espsecure ${direction}-flash-data\` for the same key,
address and config. Input is padded with 0xFF to a multiple of 32 bytes (the unit
the chip encrypts), so results are reproducible.

Example:
  espfleet fw ${direction} --key fe.key --address 0x10000 app.bin app.${direction === 'encrypt' ? 'enc' : 'plain'}.bin`,
      )
      .action((input: string, output: string, opts: Options) => {
        const key = readInputFile(opts.key, 'key file');
        const data = padForEncryption(readInputFile(input, 'input'));
        const run = direction === 'encrypt' ? encryptFlash : decryptFlash;
        writeFileDurable(output, run(data, opts.address, key, opts.flashCryptConf));
        if (opts.json) return ctx.json({ [direction === 'encrypt' ? 'encrypted' : 'decrypted']: input, out: output, bytes: data.length, address: addr(opts.address), flashCryptConf: opts.flashCryptConf });
        ctx.out(`${direction}ed ${data.length} bytes for address ${addr(opts.address)} → ${output}`);
      });
  }
}
