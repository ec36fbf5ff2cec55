// Plain-mJS stand-in for the agent's C helper (no ffi): every file is missing (E_IO), so a
// bare Cesanta mjs binary runs espfleet_renew.js with the same codes the board would give.
let fleetKeygen = function(path) { return -2; };
let fleetCsr = function(key, cn, out) { return -2; };
let fleetNotAfter = function(path) { return -2; };
let fleetMatches = function(crt, key, ca) { return -2; };
// cmd/keys (keys.js): a "key" is KEY<name>, its fingerprint fp-KEY<name>; a signature
// verifies when it is "good-" + the key, and each checked text is printed.
let fleetKeyVerify = function(key, msg, sig) {
  print('verify', key, JSON.stringify(msg));
  return sig === 'good-' + key ? 0 : -9;
};
let fleetKeyFp = function(key) { return (key.length > 3 && key.slice(0, 3) === 'KEY') ? 'fp-' + key : ''; };
function fleetCryptoWhy(rc) {
  return 'code ' + JSON.stringify(rc);
}
