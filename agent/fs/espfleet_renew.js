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

// Starts a renewal; returns null when the CSR is out, else the reason it did not start.
function fleetRenewStart(st, cmdId) {
  let r = st.renew;
  if (r.phase !== '') return 'renewal in progress (' + r.req + ')';
  if (!MQTT.isConnected()) return 'not connected';
  let crt = Cfg.get('mqtt.ssl_cert');
  let key = Cfg.get('mqtt.ssl_key');
  if (typeof crt !== 'string' || crt === '' || typeof r.ca !== 'string' || r.ca === '') return 'no device certificate or CA in the config';
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
    return 'could not write ' + r.file;
  }
  let rc = fleetKeygen(r.key);
  if (rc !== 0) {
    fleetRenewClear(st, true);
    return 'keygen failed: ' + fleetCryptoWhy(rc);
  }
  rc = fleetCsr(r.key, st.id, r.csr);
  let pem = (rc === 0) ? File.read(r.csr) : null;
  fleetRenewRemove(r.csr);
  if (pem === null) {
    fleetRenewClear(st, true);
    return 'CSR failed: ' + fleetCryptoWhy(rc);
  }
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
  if (typeof m.cert !== 'string' || m.cert.indexOf('-----BEGIN CERTIFICATE-----') !== 0) {
    fleetRenewEvent(st, 'failed', { reason: 'cert/issued without a PEM certificate; keeping the old pair' });
    fleetRenewClear(st, true);
    return;
  }
  if (File.write(m.cert, r.crt) !== m.cert.length) {
    fleetRenewEvent(st, 'failed', { reason: 'could not write ' + r.crt + '; keeping the old pair' });
    fleetRenewClear(st, true);
    return;
  }
  let rc = fleetMatches(r.crt, r.key, r.ca);
  if (rc !== 0) {
    fleetRenewEvent(st, 'refused', { reason: 'certificate refused: ' + fleetCryptoWhy(rc) + '; keeping the old pair' });
    fleetRenewClear(st, true);
    return;
  }
  let na = fleetNotAfter(r.crt);
  let now = Timer.now();
  if (na <= 0 || (now > FLEET_CLOCK_SET && na <= now)) {
    fleetRenewEvent(st, 'refused', { reason: 'certificate refused: expired or no expiry; keeping the old pair' });
    fleetRenewClear(st, true);
    return;
  }
  r.notAfter = na;
  r.phase = 'switch';
  if (!fleetRenewSave(st)) {
    fleetRenewEvent(st, 'failed', { reason: 'could not write ' + r.file + '; keeping the old pair' });
    fleetRenewClear(st, true);
    return;
  }
  if (r.timer !== 0) Timer.del(r.timer);
  r.timer = 0;
  fleetRenewEvent(st, 'switching', { crt: r.crt, not_after: na });
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
    return;
  }
  r.report = 'renewed';
  fleetRenewFinish(st);
}

function fleetRenewFinish(st) {
  let r = st.renew;
  if (r.oldCrt !== r.crt && r.oldCrt !== r.ca) fleetRenewRemove(r.oldCrt);
  if (r.oldKey !== r.key && r.oldKey !== r.ca) fleetRenewRemove(r.oldKey);
  fleetRenewEvent(st, 'renewed', { cmd_id: r.cmd, crt: r.crt, not_after: r.notAfter });
  r.report = '';
  fleetRenewClear(st, false);
}

// Every CONNACK: finish a trial, report what a reboot decided, or check the expiry.
function fleetRenewOnConnack(st) {
  let r = st.renew;
  if (r.phase === 'trial') {
    if (r.report === 'renewed') {
      fleetRenewFinish(st);
    } else {
      fleetRenewCommit(st);
    }
    return;
  }
  if (r.report !== '') {
    fleetRenewEvent(st, 'failed', { cmd_id: r.cmd, reason: r.report });
    r.report = '';
  }
  fleetRenewCheck(st);
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
  st.renew = { phase: '', req: '', cmd: null, key: '', crt: '', csr: '', oldKey: '', oldCrt: '', notAfter: 0, timer: 0, seq: 0, report: '', file: 'espfleet_renew.json', ca: Cfg.get('mqtt.ssl_ca_cert') };
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
  MQTT.sub(st.issuedTopic, fleetRenewOnIssued, st);
  let every = fleetRenewInt('espfleet.renew.check_interval', 3600);
  if (every > 0) {
    if (Timer.set(every * 1000, Timer.REPEAT, fleetRenewOnTick, st) === 0) print('espfleet: no renewal timer');
  }
}
