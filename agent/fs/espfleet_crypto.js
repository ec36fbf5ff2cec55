// The agent's C helper (agent/src/espfleet_crypto.c, docs/agent-crypto.md) as mJS sees it:
// every argument a path on the board's filesystem, every result a number, so key bytes never
// reach mJS. `mos build` makes the ffi symbol table from these literal ffi('...') strings.
let fleetKeygen = ffi('int espfleet_keygen(char *)');
let fleetCsr = ffi('int espfleet_csr(char *, char *, char *)');
let fleetNotAfter = ffi('double espfleet_cert_not_after(char *)');
let fleetMatches = ffi('int espfleet_cert_matches(char *, char *, char *)');
// cmd/keys (espfleet_keys.js): public keys and signatures as Base64 strings, no files.
let fleetKeyVerify = ffi('int espfleet_p256_verify(char *, char *, char *)');
let fleetKeyFp = ffi('char *espfleet_key_fp(char *)');

// The C helper's codes (docs/agent-crypto.md) as words for the events.
function fleetCryptoWhy(rc) {
  if (rc === -1) return 'bad argument';
  if (rc === -2) return 'file missing, too big or not writable';
  if (rc === -3) return 'does not parse';
  if (rc === -4) return 'crypto failure';
  if (rc === -5) return 'the certificate is not for the new key';
  if (rc === -6) return 'the certificate does not chain to the fleet CA';
  if (rc === -7) return 'not an EC P-256 key';
  if (rc === -8) return 'the key file exists';
  if (rc === -9) return 'the signature does not verify';
  return 'code ' + JSON.stringify(rc);
}

