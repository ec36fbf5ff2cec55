// Firmware signing keys (docs/ota-protocol.md "Signing keys", issue 21): cmd/keys changes
// update.key0..7 and update.sig_req_mask, the keys the firmware's updater checks bundles
// with. They live in conf9.json, which an OTA carries over, so only a command can change
// them, and it must be signed by the keys the board trusts NOW, by the rule bundles follow
// (every bit of the current mask; with -1 any one set key), over the canonical text below.
// device_id and a seq above the saved espfleet.keys_seq stop replays. Keys, mask and seq go
// into conf9.json in one save. The state is in the retained status ("keys"); the answer is
// the cmd_result. Needs api_config.js, api_mqtt.js, espfleet_cmd.js and espfleet_crypto.js
// (fleetKeyVerify, fleetKeyFp) loaded first.
let FLEET_KEYS_FIELDS = ['id', 'device_id', 'seq', 'set', 'mask', 'tombstone', 'sigs'];
let FLEET_KEYS_SLOTS = 8;

function fleetKeysSlot(i) {
  let v = Cfg.get('update.key' + JSON.stringify(i));
  return typeof v === 'string' ? v : '';
}

function fleetKeysMask() {
  let m = Cfg.get('update.sig_req_mask');
  return FleetCmd.isInt(m) ? m : -1;
}

function fleetKeysSeq() {
  let s = Cfg.get('espfleet.keys_seq');
  return (FleetCmd.isInt(s) && s > 0) ? s : 0;
}

// st.keys: what the status reports — seq, mask and each slot's SHA-256 fingerprint ("" = empty).
function fleetKeysLoad(st) {
  let fp = [];
  for (let i = 0; i < FLEET_KEYS_SLOTS; i++) {
    let k = fleetKeysSlot(i);
    let f = k === '' ? '' : fleetKeyFp(k);
    // A set key the helper cannot read verifies nothing; "?" tells it from an empty slot.
    fp.push((k !== '' && (typeof f !== 'string' || f === '')) ? '?' : f);
  }
  st.keys = { seq: fleetKeysSeq(), mask: fleetKeysMask(), fp: fp };
}

function fleetKeysInit(st) {
  fleetKeysLoad(st);
}

function fleetKeysState(st) {
  return st.keys;
}

// Slot number of a "set" name ("0".."7"), or -1.
function fleetKeysSlotOf(k) {
  if (typeof k !== 'string' || k.length !== 1) return -1;
  let c = k.at(0);
  return (c >= 48 && c < 48 + FLEET_KEYS_SLOTS) ? c - 48 : -1;
}

// The signed text: lines joined by "\n", no trailing newline — the version, device_id, id,
// seq, each changed slot in slot order as set<i>=<Base64 or empty>, mask, and tombstone=1
// when given.
function fleetKeysText(c, slots) {
  let t = 'espfleet-keys-v1\ndevice_id=' + c.device_id + '\nid=' + c.id + '\nseq=' + JSON.stringify(c.seq);
  for (let i = 0; i < FLEET_KEYS_SLOTS; i++) {
    if (typeof slots[i] === 'string') t = t + '\nset' + JSON.stringify(i) + '=' + slots[i];
  }
  t = t + '\nmask=' + JSON.stringify(c.mask);
  if (c.tombstone === true) t = t + '\ntombstone=1';
  return t;
}

// Why the fields are refused, or null. Fills slots[i] with the new value of each changed slot.
function fleetKeysBadFields(st, c, slots) {
  let bad = FleetCmd.unknownField(c, FLEET_KEYS_FIELDS);
  if (bad !== null) return 'unknown field: ' + bad;
  if (c.device_id !== st.id) return "device_id must be this board's id";
  if (!FleetCmd.isInt(c.seq) || c.seq < 1) return 'seq must be a positive integer';
  let had = fleetKeysSeq();
  if (c.seq <= had) return 'seq ' + JSON.stringify(c.seq) + " is not above the board's " + JSON.stringify(had) + ' (replayed or stale)';
  if (typeof c.set !== 'object') return 'set must be an object of slot: key';
  for (let k in c.set) {
    let i = fleetKeysSlotOf(k);
    if (i < 0) return 'set: slot ' + k + ' is not 0..7';
    let v = c.set[k];
    if (typeof v !== 'string') return 'set.' + k + ' must be a string';
    if (v !== '' && fleetKeyFp(v) === '') return 'set.' + k + ' is not a P-256 public key (Base64 DER SPKI)';
    slots[i] = v;
  }
  if (!FleetCmd.isInt(c.mask)) return 'mask must be an integer';
  if (c.tombstone !== undefined && (c.tombstone !== true || c.mask !== 0)) return 'tombstone must be true, and only with mask 0';
  if (c.mask === -1) return 'mask -1 (signatures ignored) cannot be set by a command';
  if (c.mask === 0 && c.tombstone !== true) return 'mask 0 refuses every update and key change for good; send tombstone: true to mean it';
  if (c.mask < 0 || c.mask > 255) return 'mask must be 1..255 (or 0 with tombstone)';
  for (let i = 0; i < FLEET_KEYS_SLOTS; i++) {
    let after = typeof slots[i] === 'string' ? slots[i] : fleetKeysSlot(i);
    if (((c.mask >> i) & 1) === 1 && after === '') return 'mask ' + JSON.stringify(c.mask) + ' needs key slot ' + JSON.stringify(i) + ', which would be empty';
  }
  if (typeof c.sigs !== 'object') return 'sigs must be an object of sig<i>: Base64 DER signature';
  for (let k in c.sigs) {
    let ok = k.length === 4 && k.slice(0, 3) === 'sig' && fleetKeysSlotOf(k.slice(3, 4)) >= 0;
    if (!ok) return 'sigs: ' + k + ' is not sig0..sig7';
    if (typeof c.sigs[k] !== 'string') return 'sigs.' + k + ' must be a string';
  }
  return null;
}

// rc of slot i's signature over text: 0 when it verifies.
function fleetKeysCheck(c, i, text) {
  let sig = c.sigs['sig' + JSON.stringify(i)];
  if (typeof sig !== 'string') return -1;
  return fleetKeyVerify(fleetKeysSlot(i), text, sig);
}

// Why the signatures do not satisfy the keys and mask the board has now, or null.
function fleetKeysBadSigs(c, text) {
  let mask = fleetKeysMask();
  if (mask === 0) return 'the board is tombstoned (update.sig_req_mask 0): it takes no key change';
  if (mask < 0) {
    let any = false;
    for (let i = 0; i < FLEET_KEYS_SLOTS; i++) {
      if (fleetKeysSlot(i) !== '') {
        any = true;
        if (fleetKeysCheck(c, i, text) === 0) return null;
      }
    }
    return any ? 'no signature verifies with a key in update.key0..7' : 'no update.key0..7 is set: nothing can sign a key change';
  }
  if (mask > 255) return 'update.sig_req_mask ' + JSON.stringify(mask) + ' needs slots beyond 7';
  for (let i = 0; i < FLEET_KEYS_SLOTS; i++) {
    if (((mask >> i) & 1) === 1) {
      let n = JSON.stringify(i);
      if (fleetKeysSlot(i) === '') return 'update.sig_req_mask needs key slot ' + n + ', which is empty';
      let rc = fleetKeysCheck(c, i, text);
      if (rc === -1 && typeof c.sigs['sig' + n] !== 'string') return 'sig' + n + ' is required by update.sig_req_mask ' + JSON.stringify(mask);
      if (rc !== 0) return 'sig' + n + ' does not verify with update.key' + n + ' (' + fleetCryptoWhy(rc) + ')';
    }
  }
  return null;
}

// cmd/keys: every check first, then one conf9.json save of keys, mask and seq together.
function fleetKeysCommand(c, st) {
  let slots = [];
  for (let i = 0; i < FLEET_KEYS_SLOTS; i++) slots.push(null);
  let why = fleetKeysBadFields(st, c, slots);
  if (why === null) why = fleetKeysBadSigs(c, fleetKeysText(c, slots));
  if (why !== null) {
    print('espfleet: keys command', c.id, 'refused:', why);
    return FleetCmd.result(c.id, 'keys', false, why);
  }
  let update = { sig_req_mask: c.mask };
  for (let i = 0; i < FLEET_KEYS_SLOTS; i++) {
    if (typeof slots[i] === 'string') update['key' + JSON.stringify(i)] = slots[i];
  }
  if (!Cfg.set({ update: update, espfleet: { keys_seq: c.seq } }, true)) return FleetCmd.result(c.id, 'keys', false, 'the firmware refused the change');
  fleetKeysLoad(st);
  print('espfleet: signing keys changed, seq', c.seq, 'mask', c.mask);
  if (MQTT.isConnected()) fleetStatus(st);
  return FleetCmd.result(c.id, 'keys', true, fleetKeysState(st));
}
