// Plain-mJS stand-in for the agent's C helper (no ffi): every file is missing (E_IO), so a
// bare Cesanta mjs binary runs espfleet_renew.js with the same codes the board would give.
let fleetKeygen = function(path) { return -2; };
let fleetCsr = function(key, cn, out) { return -2; };
let fleetNotAfter = function(path) { return -2; };
let fleetMatches = function(crt, key, ca) { return -2; };
// No key verifies (E_BAD_SIG) and none has a fingerprint, as for keys the helper cannot read.
let fleetKeyVerify = function(key, msg, sig) { return -9; };
let fleetKeyFp = function(key) { return ''; };
function fleetCryptoWhy(rc) {
  return 'code ' + JSON.stringify(rc);
}
