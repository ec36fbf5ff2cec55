// Certificate renewal (issue 14; DESIGN.md topics cert/csr + cert/issued, invariant 1: the
// device private key never leaves the board). A new P-256 key is made on the board by the C
// helper (docs/agent-crypto.md) into the other key slot, its CSR goes up on
// devices/<id>/cert/csr, and a certificate from devices/<id>/cert/issued is taken only if
// espfleet_cert_matches says it fits the new key and chains to the fleet CA. The switch is a
// try_once Config.Set (conf9.json.try, loaded once at the next boot and deleted); the boot
// that runs on it keeps the pair (conf9.json) only after the broker's CONNACK, else it reboots
// back to the old pair. Every step is on record in the state file first, so a power loss at
// any point boots a board whose config names one pair that exists and fits.
// Plain functions over the Mongoose OS APIs; state in st.renew (userdata), never closures.
// Needs api_config.js, api_sys.js, api_timer.js, api_file.js, api_rpc.js, api_mqtt.js,
// espfleet_json.js, espfleet_cmd.js and espfleet_crypto.js loaded first.
// Unix seconds after which Timer.now() is taken as set (2020-01-01): before SNTP it counts from 0.
let FLEET_CLOCK_SET = 1577836800;

function fleetRenewInt(key, dflt) {
  let v = Cfg.get(key);
  return (FleetCmd.isInt(v) && v >= 0) ? v : dflt;
}

function fleetRenewEvent(st, phase, extra) {
  let e = extra;
  e.event = 'renew';
  e.phase = phase;
  e.req = st.renew.req;
  let r = MQTT.pub(st.eventsTopic, JSON.stringify(e), 1, false);
  if (r === 0) print('espfleet: renew event', phase, 'not published (not connected)');
  return r;
}

function fleetRenewSave(st) {
  let r = st.renew;
  let s = { phase: r.phase, req: r.req, cmd: r.cmd, key: r.key, crt: r.crt, old_key: r.oldKey, old_crt: r.oldCrt, not_after: r.notAfter };
  let text = JSON.stringify(s);
  return File.write(text, r.file) === text.length;
}

// Never File.read a key to see whether it exists: key bytes stay out of mJS too.
function fleetRenewRemove(path) {
  if (typeof path === 'string' && path !== '') File.remove(path);
}

// Back to idle: the state file goes last, after the new pair's files (when dropNew).
function fleetRenewClear(st, dropNew) {
  let r = st.renew;
  if (dropNew) {
    fleetRenewRemove(r.crt);
    fleetRenewRemove(r.key);
  }
  if (r.timer !== 0) Timer.del(r.timer);
  r.timer = 0;
  r.phase = '';
  fleetRenewRemove(r.file);
}

// The key slot not in use: espfleet_a.* unless the running key is espfleet_a.key.
function fleetRenewSlot(st) {
  let r = st.renew;
  let s = (r.oldKey === 'espfleet_a.key') ? 'b' : 'a';
  r.key = 'espfleet_' + s + '.key';
  r.crt = 'espfleet_' + s + '.crt';
  r.csr = 'espfleet_' + s + '.csr';
}

// The first step of every renewal: the new key into the free slot and its CSR (on record
// first). Returns the CSR's PEM, or null with the reason in st.renew.why (state cleared).
function fleetRenewMakeCsr(st, cmdId) {
  let r = st.renew;
  let crt = Cfg.get('mqtt.ssl_cert');
  let key = Cfg.get('mqtt.ssl_key');
  if (typeof crt !== 'string' || crt === '' || typeof r.ca !== 'string' || r.ca === '') {
    r.why = 'no device certificate or CA in the config';
    return null;
  }
  if (typeof key !== 'string' || key === '') key = crt;
  r.oldCrt = crt;
  r.oldKey = key;
  fleetRenewSlot(st);
  r.cmd = cmdId;
  r.notAfter = 0;
  r.seq = r.seq + 1;
  // Unique per attempt: the command id (or "exp"), the attempt and the uptime.
  r.req = ((cmdId !== null) ? cmdId : 'exp') + '-' + JSON.stringify(r.seq) + '-' + JSON.stringify(Sys.uptime());
  // Leftovers of an earlier attempt: keygen never overwrites a key.
  fleetRenewRemove(r.key);
  fleetRenewRemove(r.crt);
  fleetRenewRemove(r.csr);
  r.phase = 'csr';
  if (!fleetRenewSave(st)) {
    r.phase = '';
    r.why = 'could not write ' + r.file;
    return null;
  }
  let rc = fleetKeygen(r.key);
  if (rc !== 0) {
    fleetRenewClear(st, true);
    r.why = 'keygen failed: ' + fleetCryptoWhy(rc);
    return null;
  }
  rc = fleetCsr(r.key, st.id, r.csr);
  let pem = (rc === 0) ? File.read(r.csr) : null;
  fleetRenewRemove(r.csr);
  if (pem === null) {
    fleetRenewClear(st, true);
    r.why = 'CSR failed: ' + fleetCryptoWhy(rc);
    return null;
  }
  return pem;
}

// Starts a renewal over MQTT; returns null when the CSR is out, else the reason it did not start.
function fleetRenewStart(st, cmdId) {
  let r = st.renew;
  if (r.phase !== '') return 'renewal in progress (' + r.req + ')';
  if (!MQTT.isConnected()) return 'not connected';
  let pem = fleetRenewMakeCsr(st, cmdId);
  if (pem === null) return r.why;
  if (MQTT.pub(st.csrTopic, JSON.stringify({ id: r.req, cn: st.id, csr: pem }), 1, false) === 0) {
    fleetRenewClear(st, true);
    return 'CSR not published (not connected)';
  }
  r.timer = Timer.set(fleetRenewInt('espfleet.renew.answer_timeout', 600) * 1000, 0, fleetRenewOnNoAnswer, st);
  fleetRenewEvent(st, 'csr_sent', { cmd_id: cmdId, key: r.key });
  return null;
}

function fleetRenewOnNoAnswer(st) {
  let r = st.renew;
  r.timer = 0;
  if (r.phase !== 'csr') return;
  r.last = 'failed: no certificate in time';
  fleetRenewEvent(st, 'failed', { reason: 'no certificate on cert/issued in time; keeping the old pair' });
  fleetRenewClear(st, true);
}

// devices/<id>/cert/issued: {id: <req>, cert: <PEM, leaf first>}.
function fleetRenewOnIssued(conn, topic, msg, st) {
  let r = st.renew;
  if (r.phase !== 'csr') {
    print('espfleet: cert/issued with no renewal waiting; ignored');
    return;
  }
  if (typeof msg !== 'string' || msg.length > fleetRenewInt('espfleet.renew.max_cert_bytes', 4096) || !FleetJson.valid(msg, 2)) {
    print('espfleet: cert/issued is not a usable JSON message; ignored');
    return;
  }
  let m = JSON.parse(msg);
  if (typeof m !== 'object' || m.id !== r.req) {
    print('espfleet: cert/issued for another request; ignored');
    return;
  }
  let why = fleetRenewTake(st, m.cert);
  if (why !== null) {
    fleetRenewEvent(st, r.refusal, { reason: why + '; keeping the old pair' });
    fleetRenewClear(st, true);
    return;
  }
  fleetRenewSwitch(st);
}

// Takes the answer to the CSR (phase csr): written to the slot's .crt, kept only if it fits
// the new key, chains to the fleet CA and has not expired. Returns null when it is on record
// as phase switch; else the reason, with r.refusal 'refused' (the certificate) or 'failed'.
function fleetRenewTake(st, cert) {
  let r = st.renew;
  r.refusal = 'failed';
  if (typeof cert !== 'string' || cert.indexOf('-----BEGIN CERTIFICATE-----') !== 0) return 'answer without a PEM certificate';
  if (File.write(cert, r.crt) !== cert.length) return 'could not write ' + r.crt;
  let rc = fleetMatches(r.crt, r.key, r.ca);
  r.refusal = 'refused';
  if (rc !== 0) return 'certificate refused: ' + fleetCryptoWhy(rc);
  let na = fleetNotAfter(r.crt);
  let now = Timer.now();
  if (na <= 0 || (now > FLEET_CLOCK_SET && na <= now)) return 'certificate refused: expired or no expiry';
  r.notAfter = na;
  r.phase = 'switch';
  r.refusal = 'failed';
  if (!fleetRenewSave(st)) {
    r.phase = 'csr';
    return 'could not write ' + r.file;
  }
  if (r.timer !== 0) Timer.del(r.timer);
  r.timer = 0;
  return null;
}

// Phase switch is on record: announce it, then the try_once save and the reboot onto the new pair.
function fleetRenewSwitch(st) {
  let r = st.renew;
  fleetRenewEvent(st, 'switching', { crt: r.crt, not_after: r.notAfter });
  // try_once: conf9.json.try names the new pair for the next boot only; conf9.json keeps the old.
  let args = { config: { mqtt: { ssl_cert: r.crt, ssl_key: r.key } }, save: true, try_once: true, reboot: true };
  if (!RPC.call(RPC.LOCAL, 'Config.Set', args, fleetRenewOnSwitch, st)) {
    fleetRenewBack(st, 'Config.Set not callable');
  }
}

// The switch did not happen: the running config goes back to the old pair (not saved: conf9.json has it).
function fleetRenewBack(st, why) {
  let r = st.renew;
  if (!Cfg.set({ mqtt: { ssl_cert: r.oldCrt, ssl_key: r.oldKey } }, false)) print('espfleet: could not restore the old pair in the running config');
  r.last = 'failed: switch failed: ' + why;
  fleetRenewEvent(st, 'failed', { reason: 'switch failed: ' + why + '; keeping the old pair' });
  fleetRenewClear(st, true);
}

function fleetRenewOnSwitch(res, code, msg, st) {
  if (code !== 0) {
    fleetRenewBack(st, 'Config.Set error ' + JSON.stringify(code));
    return;
  }
  print('espfleet: new pair saved try_once; rebooting onto it');
}

// At boot, before MQTT connects: what the state file and the config say happened.
function fleetRenewBoot(st) {
  let r = st.renew;
  let s = File.read(r.file);
  if (s === null) return;
  let ok = FleetJson.valid(s, 2);
  let p = ok ? JSON.parse(s) : null;
  if (p === null || typeof p !== 'object' || typeof p.key !== 'string' || typeof p.crt !== 'string' || typeof p.old_key !== 'string' || typeof p.old_crt !== 'string') {
    print('espfleet: renewal state unreadable; dropped');
    File.remove(r.file);
    return;
  }
  r.phase = p.phase;
  r.req = (typeof p.req === 'string') ? p.req : '?';
  r.cmd = (typeof p.cmd === 'string') ? p.cmd : null;
  r.key = p.key;
  r.crt = p.crt;
  r.oldKey = p.old_key;
  r.oldCrt = p.old_crt;
  r.notAfter = (typeof p.not_after === 'number') ? p.not_after : 0;
  let onNew = Cfg.get('mqtt.ssl_cert') === r.crt && Cfg.get('mqtt.ssl_key') === r.key;
  if (r.phase === 'switch' && onNew) {
    // The conf9.json.try boot (already deleted): prove the pair with a CONNACK or go back.
    r.phase = 'trial';
    if (!fleetRenewSave(st)) print('espfleet: could not record the trial');
    r.timer = Timer.set(fleetRenewInt('espfleet.renew.confirm_timeout', 60) * 1000, 0, fleetRenewOnNoConfirm, st);
    print('espfleet: trying the new certificate', r.crt);
    return;
  }
  if (r.phase === 'trial' && onNew) {
    // Committed, then power was lost before the old pair was removed.
    r.report = 'renewed';
    return;
  }
  // Anything else runs on the old pair: drop the new one.
  if (r.phase === 'trial') {
    r.report = 'the broker did not accept the new certificate; back on the old pair';
  } else if (r.phase === 'switch') {
    r.report = 'rebooted before the switch; keeping the old pair';
  } else {
    r.report = 'rebooted before a certificate arrived; keeping the old pair';
  }
  r.last = 'failed: ' + r.report;
  fleetRenewClear(st, true);
}

function fleetRenewOnNoConfirm(st) {
  let r = st.renew;
  r.timer = 0;
  if (r.phase !== 'trial') return;
  print('espfleet: no CONNACK with the new certificate; rebooting to the old pair');
  Sys.reboot(100);
}

// The new pair is in use and the broker took it: keep it (conf9.json), then drop the old files.
function fleetRenewCommit(st) {
  let r = st.renew;
  if (r.timer !== 0) Timer.del(r.timer);
  r.timer = 0;
  if (!Cfg.set({ mqtt: { ssl_cert: r.crt, ssl_key: r.key }, espfleet: { cert_expiry: r.notAfter } }, true)) {
    print('espfleet: could not commit the new pair; rebooting to the old one');
    Sys.reboot(100);
    return false;
  }
  r.report = 'renewed';
  fleetRenewFinish(st);
  return true;
}

function fleetRenewFinish(st) {
  let r = st.renew;
  if (r.oldCrt !== r.crt && r.oldCrt !== r.ca) fleetRenewRemove(r.oldCrt);
  if (r.oldKey !== r.key && r.oldKey !== r.ca) fleetRenewRemove(r.oldKey);
  st.certExpiry = r.notAfter;
  r.last = 'renewed';
  fleetRenewEvent(st, 'renewed', { cmd_id: r.cmd, crt: r.crt, not_after: r.notAfter });
  r.report = '';
  fleetRenewClear(st, false);
}

// Every CONNACK: finish a trial, report what a reboot decided, or check the expiry. Returns
// false when the board is about to reboot (the new pair could not be kept): no status then.
function fleetRenewOnConnack(st) {
  let r = st.renew;
  if (r.phase === 'trial') {
    if (r.report === 'renewed') {
      fleetRenewFinish(st);
      return true;
    }
    return fleetRenewCommit(st);
  }
  if (r.report !== '') {
    fleetRenewEvent(st, 'failed', { cmd_id: r.cmd, reason: r.report });
    r.last = 'failed: ' + r.report;
    r.report = '';
  }
  fleetRenewCheck(st);
  return true;
}

// Seconds of validity left on the running certificate, or -1 when unknown (no clock, no cert).
function fleetRenewLeft(st) {
  let now = Timer.now();
  if (now < FLEET_CLOCK_SET) return -1;
  let crt = Cfg.get('mqtt.ssl_cert');
  if (typeof crt !== 'string' || crt === '') return -1;
  let na = fleetNotAfter(crt);
  if (na <= 0) return -1;
  st.certExpiry = na;
  return na - now;
}

function fleetRenewCheck(st) {
  if (st.renew.phase !== '' || !MQTT.isConnected()) return;
  let left = fleetRenewLeft(st);
  if (left < 0) return;
  if (left > fleetRenewInt('espfleet.renew.before_days', 30) * 86400) return;
  let why = fleetRenewStart(st, null);
  if (why !== null) print('espfleet: renewal not started:', why);
}

function fleetRenewOnTick(st) {
  fleetRenewCheck(st);
}

// cmd/renew {id}: the result says whether the CSR went out; the rest comes as renew events.
function fleetRenewCommand(c, st) {
  let bad = FleetCmd.unknownField(c, ['id']);
  if (bad !== null) return FleetCmd.result(c.id, 'renew', false, 'unknown field: ' + bad);
  if (Cfg.get('espfleet.renew.enable') === false) return FleetCmd.result(c.id, 'renew', false, 'renewal disabled by espfleet.renew.enable');
  let why = fleetRenewStart(st, c.id);
  if (why !== null) return FleetCmd.result(c.id, 'renew', false, why);
  return FleetCmd.result(c.id, 'renew', true, { req: st.renew.req, key: st.renew.key });
}

// Called by fleetStart once the topics are known, before anything may save the config.
function fleetRenewInit(st) {
  st.renew = { phase: '', req: '', cmd: null, key: '', crt: '', csr: '', oldKey: '', oldCrt: '', notAfter: 0, timer: 0, seq: 0, report: '', why: '', refusal: '', last: '', file: 'espfleet_renew.json', ca: Cfg.get('mqtt.ssl_ca_cert') };
  let f = Cfg.get('espfleet.renew.state_file');
  if (typeof f === 'string' && f !== '') st.renew.file = f;
  st.csrTopic = 'devices/' + st.id + '/cert/csr';
  st.issuedTopic = 'devices/' + st.id + '/cert/issued';
  fleetRenewBoot(st);
  // The status reports the running certificate's own expiry (no clock needed to read it).
  let crt = Cfg.get('mqtt.ssl_cert');
  if (typeof crt === 'string' && crt !== '') {
    let na = fleetNotAfter(crt);
    if (na > 0) st.certExpiry = na;
  }
}

// Called by fleetStart after its own subscription and timers.
function fleetRenewSubscribe(st) {
  if (Cfg.get('espfleet.renew.enable') === false) return;
  fleetRotateAddHandlers(st);
  MQTT.sub(st.issuedTopic, fleetRenewOnIssued, st);
  let every = fleetRenewInt('espfleet.renew.check_interval', 3600);
  if (every > 0) {
    if (Timer.set(every * 1000, Timer.REPEAT, fleetRenewOnTick, st) === 0) print('espfleet: no renewal timer');
  }
}

// Field rotation over USB (issue 16; `espfleet device rotate-cert`): the renewal's steps with
// the CSR and the certificate carried over the cable by RPC instead of MQTT, for a board that
// has been offline too long to renew by itself. The key is made here and never leaves.
//   Espfleet.CertRequest {}            → {req, cn, csr, key}
//   Espfleet.CertInstall {req, cert}   → {crt, not_after}, then the try_once switch and a reboot
//   Espfleet.CertStatus {}             → {phase, req, last, crt, mqtt_connected}
// After the reboot the trial boot keeps the pair only after a CONNACK (fleetRenewOnConnack),
// exactly as an MQTT renewal; `last` says how the latest attempt ended.
function fleetRotateFail(code, message) {
  return { error: code, message: message };
}

function fleetRotateOnRequest(args, src, st) {
  let r = st.renew;
  if (r.phase !== '') return fleetRotateFail(409, 'renewal in progress (' + r.req + ')');
  let pem = fleetRenewMakeCsr(st, 'usb');
  if (pem === null) return fleetRotateFail(500, r.why);
  // A technician who walks away leaves no renewal hanging: the same answer timeout applies.
  r.timer = Timer.set(fleetRenewInt('espfleet.renew.answer_timeout', 600) * 1000, 0, fleetRenewOnNoAnswer, st);
  r.last = 'csr_sent';
  return { req: r.req, cn: st.id, csr: pem, key: r.key };
}

function fleetRotateOnInstall(args, src, st) {
  let r = st.renew;
  if (args === null || typeof args !== 'object') return fleetRotateFail(400, 'expected {req, cert}');
  if (r.phase !== 'csr' || args.req !== r.req) return fleetRotateFail(409, 'no certificate request ' + JSON.stringify(args.req) + ' waiting');
  let why = fleetRenewTake(st, args.cert);
  if (why !== null) {
    r.last = r.refusal + ': ' + why;
    fleetRenewClear(st, true);
    return fleetRotateFail(r.refusal === 'refused' ? 422 : 500, why + '; keeping the old pair');
  }
  r.last = 'switching';
  fleetRenewSwitch(st);
  return { crt: r.crt, not_after: r.notAfter };
}

function fleetRotateOnStatus(args, src, st) {
  let r = st.renew;
  return { phase: r.phase, req: r.req, last: r.last, crt: fleetAscii(Cfg.get('mqtt.ssl_cert')), not_after: st.certExpiry, mqtt_connected: MQTT.isConnected() };
}

function fleetRotateAddHandlers(st) {
  RPC.addHandler('Espfleet.CertRequest', fleetRotateOnRequest, st);
  RPC.addHandler('Espfleet.CertInstall', fleetRotateOnInstall, st);
  RPC.addHandler('Espfleet.CertStatus', fleetRotateOnStatus, st);
}
