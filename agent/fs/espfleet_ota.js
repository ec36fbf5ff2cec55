// OTA over MQTT (docs/ota-protocol.md; spec mongoose-os.md §2): cmd/ota is checked in full
// before anything happens, then the update is on record in the device-only state file,
// OTA.Update (ota-http-client) runs over RPC.LOCAL and devices/<id>/ota/status (retained)
// follows it. The file reaches the new slot through the first-boot FS merge (§2.5), so the
// new firmware knows what it verifies, and the old one, after a revert, finds its own copy
// with stage "applied". Health check (CONNACK + retained status within
// espfleet.ota.health_timeout) → OTA.Commit; else OTA.Revert. Plain functions; state in
// st.ota (userdata), never closures. Needs api_config.js, api_sys.js, api_timer.js,
// api_file.js, api_rpc.js, api_mqtt.js, espfleet_json.js and espfleet_cmd.js loaded first.
let FLEET_OTA_FIELDS = ['id', 'rollout', 'url', 'version', 'sha256', 'commit_timeout', 'allow_downgrade'];

function fleetOtaInt(key, dflt, min, max) {
  let v = Cfg.get(key);
  return (FleetCmd.isInt(v) && v >= min && v <= max) ? v : dflt;
}

function fleetOtaTerminal(stage) {
  return stage === 'committed' || stage === 'failed' || stage === 'reverted';
}

// The status topic's "ota": the stage of the last update, "idle" before any.
function fleetOtaState(st) {
  if (st.ota === null || st.ota.stage === '') return 'idle';
  return st.ota.stage;
}

// The status topic's "rollout": the last rollout the board took part in.
function fleetOtaRollout(st) {
  if (st.ota !== null && st.ota.stage !== '') return st.ota.rollout;
  return fleetAscii(Cfg.get('espfleet.rollout'));
}

// The record of the update o (st.ota, or the one about to be) in the state file.
function fleetOtaSave(o) {
  let s = { cmd: o.cmd, rollout: o.rollout, version: o.version, from: o.from, stage: o.stage, reported: o.reported };
  if (o.sha256 !== '') s.sha256 = o.sha256;
  if (o.reason !== '') s.reason = o.reason;
  let text = JSON.stringify(s);
  let ok = File.write(text, o.file) === text.length;
  if (!ok) print('espfleet: could not write', o.file);
  return ok;
}

// One retained devices/<id>/ota/status message about the update in st.ota.
function fleetOtaPub(st, state, reason) {
  let o = st.ota;
  let m = { rollout: o.rollout, cmd: o.cmd, version: o.version, running: st.fw, state: state, uptime: Sys.uptime() };
  if (state === 'downloading' || state === 'applied') m.progress = o.progress;
  if (o.sha256 !== '') m.sha256 = o.sha256;
  if (reason !== '') m.reason = reason;
  let r = MQTT.pub(st.otaTopic, JSON.stringify(m), 1, true);
  if (r === 0) print('espfleet: ota/status', state, 'not published (not connected)');
  return r;
}

// --- cmd/ota -------------------------------------------------------------------------

// Lower-case ASCII copy of s.
function fleetOtaLower(s) {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let c = s.at(i);
    out = out + ((c >= 65 && c <= 90) ? chr(c + 32) : s.slice(i, i + 1));
  }
  return out;
}

function fleetOtaHostChar(c) {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || c === 45 || c === 46;
}

// "host[:port]" (lower case) → host, or null when it is not a plain DNS name / IPv4 with an
// optional numeric port (no user@, no [IPv6], nothing empty).
function fleetOtaHostOf(auth) {
  let colon = auth.indexOf(':');
  let end = colon < 0 ? auth.length : colon;
  if (end < 1) return null;
  let host = auth.slice(0, end);
  for (let i = 0; i < host.length; i++) {
    if (!fleetOtaHostChar(host.at(i))) return null;
  }
  if (colon >= 0) {
    let from = colon + 1;
    let to = auth.length;
    let port = auth.slice(from, to);
    if (port.length < 1 || port.length > 5) return null;
    let n = 0;
    for (let i = 0; i < port.length; i++) {
      let c = port.at(i);
      if (c < 48 || c > 57) return null;
      n = n * 10 + (c - 48);
    }
    if (n < 1 || n > 65535) return null;
  }
  return host;
}

// Why the URL may not be fetched, or null. https only, host in espfleet.ota.allowed_hosts.
function fleetOtaBadUrl(url) {
  if (typeof url !== 'string') return 'url must be a string';
  if (url.length > 256) return 'url must be at most 256 bytes';
  for (let i = 0; i < url.length; i++) {
    let c = url.at(i);
    if (c <= 32 || c > 126) return 'url must be printable ASCII without spaces';
  }
  let low = fleetOtaLower(url);
  if (low.indexOf('https://') !== 0) return 'url must be https://';
  let n = low.length;
  let end = n;
  let seps = ['/', '?', '#'];
  for (let k = 0; k < seps.length; k++) {
    let j = low.indexOf(seps[k], 8);
    if (j >= 0 && j < end) end = j;
  }
  let auth = low.slice(8, end);
  let host = fleetOtaHostOf(auth);
  if (host === null) return 'url has no usable host';
  let allowed = Cfg.get('espfleet.ota.allowed_hosts');
  if (typeof allowed !== 'string' || allowed === '') return 'OTA disabled: espfleet.ota.allowed_hosts is empty';
  let list = fleetOtaLower(allowed);
  let start = 0;
  while (start <= list.length) {
    let comma = list.indexOf(',', start);
    let stop = comma < 0 ? list.length : comma;
    let entry = fleetOtaTrim(list.slice(start, stop));
    let eh = entry === '' ? null : fleetOtaHostOf(entry);
    if (eh !== null && eh === host) return null;
    if (comma < 0) break;
    start = comma + 1;
  }
  return 'host ' + host + ' is not in espfleet.ota.allowed_hosts';
}

function fleetOtaTrim(s) {
  let a = 0;
  let b = s.length;
  while (a < b && s.at(a) === 32) a = a + 1;
  while (b > a && s.at(b - 1) === 32) b = b - 1;
  return s.slice(a, b);
}

// Versions: 1..32 of A-Za-z0-9 . - +
function fleetOtaVersionOk(v) {
  if (typeof v !== 'string' || v.length < 1 || v.length > 32) return false;
  for (let i = 0; i < v.length; i++) {
    let c = v.at(i);
    let ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 45 || c === 43;
    if (!ok) return false;
  }
  return true;
}

// The leading dotted number of v ("1.10.2-rc1" → [1, 10, 2]), or null when v starts otherwise.
function fleetOtaNumbers(v) {
  let out = [];
  let i = 0;
  let n = v.length;
  while (i < n) {
    let c = v.at(i);
    if (c < 48 || c > 57) break;
    let x = 0;
    while (i < n && v.at(i) >= 48 && v.at(i) <= 57) {
      x = x * 10 + (v.at(i) - 48);
      i = i + 1;
    }
    out.push(x);
    if (i < n && v.at(i) === 46) {
      i = i + 1;
    } else {
      break;
    }
  }
  return out.length > 0 ? out : null;
}

// -1, 0, 1 as the dotted numbers of a and b compare (missing parts are 0); null if either has none.
function fleetOtaCompare(a, b) {
  let x = fleetOtaNumbers(a);
  let y = fleetOtaNumbers(b);
  if (x === null || y === null) return null;
  let n = x.length > y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) {
    let p = i < x.length ? x[i] : 0;
    let q = i < y.length ? y[i] : 0;
    if (p > q) return 1;
    if (p < q) return -1;
  }
  return 0;
}

function fleetOtaHex64(s) {
  if (typeof s !== 'string' || s.length !== 64) return false;
  for (let i = 0; i < s.length; i++) {
    let c = s.at(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

// Why the version may not be installed over the running one, or null.
function fleetOtaBadVersion(st, c) {
  if (!fleetOtaVersionOk(c.version)) return 'version must be a string of 1..32 letters, digits, . - +';
  if (st.fw === '') return 'the running version is not known yet';
  if (c.version === st.fw) return 'version ' + c.version + ' is already running';
  if (c.allow_downgrade === true) return null;
  let cmp = fleetOtaCompare(c.version, st.fw);
  if (cmp === null) return 'version ' + c.version + ' or running ' + st.fw + ' is not a dotted number; only with allow_downgrade';
  if (cmp < 0) return 'version ' + c.version + ' is older than running ' + st.fw + ' (allow_downgrade not set)';
  if (cmp === 0) return 'version ' + c.version + ' is not newer than running ' + st.fw + ' (allow_downgrade not set)';
  return null;
}

// Why the fields of c are refused, or null. Fills c.commit_timeout with the one to use.
function fleetOtaBadFields(st, c) {
  let bad = FleetCmd.unknownField(c, FLEET_OTA_FIELDS);
  if (bad !== null) return 'unknown field: ' + bad;
  if (c.rollout === undefined) return 'missing field: rollout';
  if (!FleetCmd.tokenOk(c.rollout, 64)) return 'rollout must be a string of 1..64 letters, digits, - _ . :';
  if (c.url === undefined) return 'missing field: url';
  let why = fleetOtaBadUrl(c.url);
  if (why !== null) return why;
  if (c.version === undefined) return 'missing field: version';
  if (c.sha256 !== undefined && !fleetOtaHex64(c.sha256)) return 'sha256 must be 64 lowercase hex digits';
  if (c.allow_downgrade !== undefined && typeof c.allow_downgrade !== 'boolean') return 'allow_downgrade must be true or false';
  let health = fleetOtaInt('espfleet.ota.health_timeout', 120, 1, 3600);
  if (c.commit_timeout === undefined) {
    c.commit_timeout = fleetOtaInt('espfleet.ota.commit_timeout', 300, 30, 3600);
  } else if (!FleetCmd.isInt(c.commit_timeout) || c.commit_timeout < 30 || c.commit_timeout > 3600) {
    return 'commit_timeout must be an integer 30..3600';
  }
  if (c.commit_timeout <= health) {
    return 'commit_timeout ' + JSON.stringify(c.commit_timeout) + ' must exceed espfleet.ota.health_timeout ' + JSON.stringify(health);
  }
  return fleetOtaBadVersion(st, c);
}

// Why no update may start now, or null.
function fleetOtaBusy(st) {
  let o = st.ota;
  if (o.stage === 'downloading' || o.stage === 'applied') return 'update in progress (' + o.cmd + ', ' + o.stage + ')';
  if (o.boot === '') return 'the boot state is not known yet';
  if (o.boot !== 'committed') return 'the running firmware is not committed yet';
  return null;
}

function fleetOtaRefuse(st, c, why) {
  let m = { rollout: FleetCmd.tokenOk(c.rollout, 64) ? c.rollout : null, cmd: c.id, version: fleetOtaVersionOk(c.version) ? c.version : null, running: st.fw, state: 'refused', reason: why, uptime: Sys.uptime() };
  if (MQTT.pub(st.otaTopic, JSON.stringify(m), 1, true) === 0) print('espfleet: ota/status refused not published (not connected)');
  return FleetCmd.result(c.id, 'ota', false, why);
}

// cmd/ota: the result says whether the update started; the rest comes on ota/status.
function fleetOtaCommand(c, st) {
  let why = fleetOtaBadFields(st, c);
  if (why === null) why = fleetOtaBusy(st);
  if (why !== null) return fleetOtaRefuse(st, c, why);
  // Every check passed: first the record (kept only once it is on flash), then the firmware.
  let o = st.ota;
  let n = { file: o.file, stage: 'downloading', cmd: c.id, rollout: c.rollout, version: c.version, from: st.fw, sha256: '', reason: '', reported: false, progress: 0, boot: o.boot, poll: 0, health: 0, committing: false, decided: o.decided };
  if (c.sha256 !== undefined) n.sha256 = c.sha256;
  if (!fleetOtaSave(n)) return fleetOtaRefuse(st, c, 'could not write ' + o.file);
  st.ota = n;
  fleetOtaPub(st, 'downloading', '');
  if (!RPC.call(RPC.LOCAL, 'OTA.Update', { url: c.url, commit_timeout: c.commit_timeout }, fleetOtaOnUpdate, st)) {
    fleetOtaEnd(st, 'failed', 'OTA.Update not callable');
    return FleetCmd.result(c.id, 'ota', false, 'OTA.Update not callable');
  }
  let every = fleetOtaInt('espfleet.ota.progress_interval', 2, 1, 60);
  n.poll = Timer.set(every * 1000, Timer.REPEAT, fleetOtaOnPoll, st);
  return FleetCmd.result(c.id, 'ota', true, { rollout: n.rollout, version: n.version, running: n.from, commit_timeout: c.commit_timeout });
}

function fleetOtaStopPoll(st) {
  if (st.ota.poll !== 0) Timer.del(st.ota.poll);
  st.ota.poll = 0;
}

function fleetOtaOnPoll(st) {
  if (st.ota.stage !== 'downloading') {
    fleetOtaStopPoll(st);
    return;
  }
  if (!RPC.call(RPC.LOCAL, 'OTA.Status', null, fleetOtaOnStatus, st)) print('espfleet: OTA.Status not callable');
}

// OTA.Status (state, progress_percent): a progress message every 10 points.
function fleetOtaOnStatus(res, code, msg, st) {
  let o = st.ota;
  if (o.stage !== 'downloading' || code !== 0 || res === null || typeof res !== 'object') return;
  let p = res.progress_percent;
  if (typeof p !== 'number' || isNaN(p) || p < 0 || p > 100) return;
  p = p | 0;
  if (((p / 10) | 0) <= ((o.progress / 10) | 0)) return;
  o.progress = p;
  fleetOtaPub(st, 'downloading', '');
}

// The firmware's printable message, bounded.
function fleetOtaWhy(code, msg) {
  let m = (typeof msg === 'string') ? fleetAscii(msg) : '';
  if (m.length > 120) m = m.slice(0, 120);
  return 'OTA.Update error ' + JSON.stringify(code) + (m !== '' ? ': ' + m : '');
}

// The OTA.Update reply. Error code 0 is success, whatever the result (contract §4).
function fleetOtaOnUpdate(res, code, msg, st) {
  let o = st.ota;
  if (o.stage !== 'downloading') return;
  fleetOtaStopPoll(st);
  if (code !== 0) {
    fleetOtaEnd(st, 'failed', fleetOtaWhy(code, msg));
    return;
  }
  o.stage = 'applied';
  o.progress = 100;
  fleetOtaSave(st.ota);
  fleetOtaPub(st, 'applied', '');
  print('espfleet: update', o.version, 'applied; the firmware reboots into it');
}

// A terminal stage: on record first, then reported (now if connected, else at the next CONNACK).
function fleetOtaEnd(st, stage, reason) {
  let o = st.ota;
  fleetOtaStopPoll(st);
  o.stage = stage;
  o.reason = reason;
  o.reported = false;
  fleetOtaSave(st.ota);
  fleetOtaReport(st);
}

// Publishes a terminal stage not yet reported, then marks the file. The rollout id goes into
// the config only here, after a CONNACK: a renewal trial boot must save nothing before it.
function fleetOtaReport(st) {
  let o = st.ota;
  if (!fleetOtaTerminal(o.stage) || o.reported || !MQTT.isConnected()) return;
  if (o.stage === 'committed' && Cfg.get('espfleet.rollout') !== o.rollout) {
    if (!Cfg.set({ espfleet: { rollout: o.rollout } }, true)) print('espfleet: could not save espfleet.rollout');
  }
  if (fleetOtaPub(st, o.stage, o.reason) === 0) return;
  o.reported = true;
  fleetOtaSave(st.ota);
}

// --- boot ----------------------------------------------------------------------------

function fleetOtaLoad(st) {
  let o = st.ota;
  let s = File.read(o.file);
  if (s === null) return;
  let p = (FleetJson.valid(s, 2)) ? JSON.parse(s) : null;
  let stages = ['downloading', 'applied', 'verifying', 'committed', 'failed', 'reverted'];
  let known = false;
  if (p !== null && typeof p === 'object') {
    for (let i = 0; i < stages.length; i++) {
      if (p.stage === stages[i]) known = true;
    }
  }
  if (!known || !FleetCmd.tokenOk(p.cmd, 64) || !FleetCmd.tokenOk(p.rollout, 64) || !fleetOtaVersionOk(p.version) || typeof p.from !== 'string') {
    print('espfleet: OTA state unreadable; dropped');
    File.remove(o.file);
    return;
  }
  o.cmd = p.cmd;
  o.rollout = p.rollout;
  o.version = p.version;
  o.from = fleetAscii(p.from);
  o.stage = p.stage;
  o.sha256 = fleetOtaHex64(p.sha256) ? p.sha256 : '';
  o.reason = (typeof p.reason === 'string') ? fleetAscii(p.reason) : '';
  o.reported = p.reported === true;
}

// Called by fleetStart after fleetRenewInit: reads the record; nothing is saved here.
function fleetOtaInit(st) {
  st.ota = { file: 'espfleet_ota.json', stage: '', cmd: '', rollout: '', version: '', from: '', sha256: '', reason: '', reported: false, progress: 0, boot: '', poll: 0, health: 0, committing: false, decided: false };
  let f = Cfg.get('espfleet.ota.state_file');
  if (typeof f === 'string' && f !== '') st.ota.file = f;
  st.otaTopic = 'devices/' + st.id + '/ota/status';
  fleetOtaLoad(st);
}

// Called by fleetStart after Sys.GetInfo: the boot state decides what the record means.
function fleetOtaStart(st) {
  if (!RPC.call(RPC.LOCAL, 'OTA.GetBootState', null, fleetOtaOnBootState, st)) print('espfleet: OTA.GetBootState not callable; no OTA');
}

function fleetOtaOnBootState(res, code, msg, st) {
  if (code !== 0 || res === null || typeof res !== 'object' || typeof res.is_committed !== 'boolean') {
    print('espfleet: OTA.GetBootState failed', code, '; no OTA this boot');
    return;
  }
  st.ota.boot = res.is_committed ? 'committed' : 'uncommitted';
  fleetOtaDecide(st);
}

// Called from fleetOnInfo: the running version is known.
function fleetOtaOnInfo(st) {
  fleetOtaDecide(st);
}

// Once per boot, with the boot state and the running version both known.
function fleetOtaDecide(st) {
  let o = st.ota;
  if (o.decided || o.boot === '' || st.fw === '') return;
  o.decided = true;
  if (o.stage === '' || fleetOtaTerminal(o.stage)) {
    if (o.boot === 'uncommitted') print('espfleet: running uncommitted firmware this agent did not install; left to whoever did');
    fleetOtaReport(st);
    return;
  }
  if (o.boot === 'uncommitted') {
    if (st.fw !== o.version) {
      fleetOtaRevert(st, 'the new firmware runs ' + st.fw + ', not the target ' + o.version);
      return;
    }
    fleetOtaVerify(st);
    return;
  }
  if (st.fw === o.version) {
    fleetOtaEnd(st, 'committed', '');
  } else if (st.fw === o.from && o.stage === 'downloading') {
    fleetOtaEnd(st, 'failed', 'a reboot interrupted the download; the running firmware is untouched');
  } else if (st.fw === o.from) {
    fleetOtaEnd(st, 'reverted', 'the new firmware did not commit (health check failed, crash or power loss before the commit); back on ' + o.from);
  } else {
    fleetOtaEnd(st, 'failed', 'running ' + st.fw + ' is neither the target ' + o.version + ' nor the old ' + o.from);
  }
}

// The new firmware's first boot: prove health within espfleet.ota.health_timeout of boot.
function fleetOtaVerify(st) {
  let o = st.ota;
  o.stage = 'verifying';
  fleetOtaSave(st.ota);
  let limit = fleetOtaInt('espfleet.ota.health_timeout', 120, 1, 3600);
  let left = limit - Sys.uptime();
  if (left < 1) left = 1;
  o.health = Timer.set((left * 1000) | 0, 0, fleetOtaOnHealthTimeout, st);
  print('espfleet: verifying', o.version, 'for', limit, 's');
  if (MQTT.isConnected()) {
    if (fleetStatus(st) !== 0) fleetOtaHealthy(st);
  }
}

// The health check passed (CONNACK with the device certificate, retained status out): commit.
function fleetOtaHealthy(st) {
  let o = st.ota;
  if (o.stage !== 'verifying' || o.committing) return;
  fleetOtaPub(st, 'verifying', '');
  o.committing = true;
  if (!RPC.call(RPC.LOCAL, 'OTA.Commit', null, fleetOtaOnCommit, st)) {
    o.committing = false;
    print('espfleet: OTA.Commit not callable');
  }
}

function fleetOtaOnCommit(res, code, msg, st) {
  let o = st.ota;
  o.committing = false;
  if (o.stage !== 'verifying') return;
  if (code !== 0) {
    // Committed by someone else (mos call OTA.Commit)? Else left to the health timer
    // (revert) or the next CONNACK (commit again).
    print('espfleet: OTA.Commit failed', code, msg);
    fleetOtaRecheck(st);
    return;
  }
  fleetOtaCommitted(st);
}

function fleetOtaCommitted(st) {
  let o = st.ota;
  if (o.health !== 0) Timer.del(o.health);
  o.health = 0;
  o.boot = 'committed';
  fleetOtaEnd(st, 'committed', '');
  print('espfleet: committed', o.version);
  if (MQTT.isConnected()) fleetStatus(st);
}

// After a failed OTA.Commit or OTA.Revert: what the firmware says now decides.
function fleetOtaRecheck(st) {
  if (!RPC.call(RPC.LOCAL, 'OTA.GetBootState', null, fleetOtaOnRecheck, st)) print('espfleet: OTA.GetBootState not callable');
}

function fleetOtaOnRecheck(res, code, msg, st) {
  let o = st.ota;
  if (code !== 0 || res === null || typeof res !== 'object' || res.is_committed !== true) return;
  if ((o.stage === 'verifying' || o.stage === 'reverted') && st.fw === o.version && o.boot === 'uncommitted') {
    print('espfleet: the firmware is committed after all');
    fleetOtaCommitted(st);
  }
}

function fleetOtaOnHealthTimeout(st) {
  let o = st.ota;
  o.health = 0;
  if (o.stage !== 'verifying') return;
  let limit = fleetOtaInt('espfleet.ota.health_timeout', 120, 1, 3600);
  fleetOtaRevert(st, 'health check failed: no CONNACK with the device certificate and retained status within ' + JSON.stringify(limit) + ' s');
}

// Not committing: the reason on record (this slot's copy), then back to the old firmware now
// rather than at the firmware's commit timeout (its timer is the net if this call fails).
function fleetOtaRevert(st, why) {
  print('espfleet: reverting:', why);
  fleetOtaEnd(st, 'reverted', why);
  if (!RPC.call(RPC.LOCAL, 'OTA.Revert', null, fleetOtaOnRevert, st)) print('espfleet: OTA.Revert not callable; the commit timeout reverts');
}

function fleetOtaOnRevert(res, code, msg, st) {
  if (code === 0) return;
  print('espfleet: OTA.Revert failed', code, msg, '; the commit timeout reverts');
  fleetOtaRecheck(st);
}

// Every CONNACK, after the status went out (published: its MQTT.pub result).
function fleetOtaOnConnack(st, published) {
  let o = st.ota;
  // Before the boot state and the version are known a record means nothing yet (it may be
  // the one the last firmware left): fleetOtaDecide reports it.
  if (!o.decided) return;
  if (o.stage === 'verifying') {
    if (published !== 0) fleetOtaHealthy(st);
    return;
  }
  if (o.stage === 'downloading' || o.stage === 'applied') {
    fleetOtaPub(st, o.stage, '');
    return;
  }
  fleetOtaReport(st);
}
