// The station's escrow: keystore.path alone, or it and every keystore.mirrors path as
// KeystoreCopies, so a flash-encryption key is durable in each before any eFuse is burned
// (DESIGN.md invariant 2). escrow.copies (2 in release mode) is the least number of stores.
import { KeystoreCopies, openKeystore, type KeyEscrow, type KeystoreSecret } from '../../certs/index.ts';
import { escrowCopies, escrowStores, type StationConfig } from './config.ts';
import { StationError } from './pipeline.ts';

export async function openEscrow(config: StationConfig, primary: string, secret: KeystoreSecret): Promise<KeyEscrow> {
  const stores = [primary, ...escrowStores(config).slice(1)];
  const copies = escrowCopies(config);
  if (stores.length < copies) {
    const why = config.escrow.copies === null ? ` (the default in ${config.encryption.mode} mode)` : '';
    throw new StationError('station.escrow.too_few_stores', `${config.source}: escrow.copies is ${copies}${why} but only ${stores.length} store(s) are configured`, {
      hint: 'add a keystore copy on another disk: [keystore] mirrors = ["/mnt/usb/keystore.json"] (created from keystore.path when missing); or set [escrow] copies = 1',
    });
  }
  if (stores.length === 1) return openKeystore(primary, secret);
  return KeystoreCopies.open(stores, secret, { createMissing: true });
}
