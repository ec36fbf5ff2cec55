// The agent's commands on devices/<id>/cmd/<name> (DESIGN.md topics): each answered with
// one result tied to its id, or refused with a reason and nothing changed. Every check runs
// before any effect: mJS has no try, so a bad field must never reach a call that can fail.
// Needs api_config.js, api_sys.js, api_file.js and espfleet_json.js loaded first, and
// espfleet_renew.js (fleetRenewCommand), espfleet_ota.js (fleetOtaCommand) and
// espfleet_keys.js (fleetKeysCommand) before a command arrives.
let FleetCmd = {
  MAX_DEPTH: 4,
  MAX_IDS: 16,
  MAX_ID_LEN: 64,
  // The only keys cmd/config may set; two-level keys, applied together or not at all.
  CONFIG_KEYS: [
    { key: 'debug.level', a: 'debug', b: 'level', type: 'number', min: 0, max: 4 },
    { key: 'sys.tz_spec', a: 'sys', b: 'tz_spec', type: 'string', maxLen: 64 },
    { key: 'espfleet.status_interval', a: 'espfleet', b: 'status_interval', type: 'number', min: 0, max: 86400 }
  ],

  // ids are short ASCII tokens: letters, digits and - _ . :
  tokenOk: function(s, maxLen) {
    if (typeof s !== 'string' || s.length < 1 || s.length > maxLen) return false;
    for (let i = 0; i < s.length; i++) {
      let c = s.at(i);
      let ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95 || c === 46 || c === 58;
      if (!ok) return false;
    }
    return true;
  },

  isInt: function(v) {
    return typeof v === 'number' && !isNaN(v) && v === (v | 0);
  },

  result: function(id, cmd, ok, what) {
    let r = { event: 'cmd_result', id: id, cmd: cmd, ok: ok };
    if (ok) {
      r.result = what;
    } else {
      r.reason = what;
    }
    return r;
  },

  // The replay guard: the last MAX_IDS ids, kept in a device-only file so a reboot
  // (or a redelivered message after one) does not run a command twice.
  loadIds: function(st) {
    st.ids = [];
    let s = File.read(st.idsFile);
    if (s === null || !FleetJson.valid(s, 2)) return;
    let a = JSON.parse(s);
    if (typeof a !== 'array') return;
    for (let i = 0; i < a.length && i < FleetCmd.MAX_IDS; i++) {
      if (FleetCmd.tokenOk(a[i], FleetCmd.MAX_ID_LEN)) st.ids.push(a[i]);
    }
  },

  seen: function(st, id) {
    for (let i = 0; i < st.ids.length; i++) {
      if (st.ids[i] === id) return true;
    }
    return false;
  },

  remember: function(st, id) {
    st.ids.push(id);
    if (st.ids.length > FleetCmd.MAX_IDS) st.ids.splice(0, st.ids.length - FleetCmd.MAX_IDS);
    let text = JSON.stringify(st.ids);
    let n = File.write(text, st.idsFile);
    if (n !== text.length) print('espfleet: could not save the command ids to', st.idsFile);
  },

  // Returns the result event to publish, or null when the command is a replay (ignored).
  handle: function(name, msg, st) {
    let cmd = FleetCmd.tokenOk(name, 32) ? name : '?';
    if (typeof msg !== 'string') return FleetCmd.result(null, cmd, false, 'no payload');
    if (msg.length > st.maxBytes) {
      return FleetCmd.result(null, cmd, false, 'oversized: ' + JSON.stringify(msg.length) + ' bytes, limit ' + JSON.stringify(st.maxBytes));
    }
    if (!FleetJson.valid(msg, FleetCmd.MAX_DEPTH)) return FleetCmd.result(null, cmd, false, 'invalid JSON');
    let c = JSON.parse(msg);
    if (typeof c !== 'object') return FleetCmd.result(null, cmd, false, 'command must be a JSON object');
    if (c.id === undefined) return FleetCmd.result(null, cmd, false, 'missing field: id');
    if (!FleetCmd.tokenOk(c.id, FleetCmd.MAX_ID_LEN)) {
      return FleetCmd.result(null, cmd, false, 'id must be a string of 1..64 letters, digits, - _ . :');
    }
    if (FleetCmd.seen(st, c.id)) {
      print('espfleet: command id', c.id, 'seen before; ignored');
      return null;
    }
    FleetCmd.remember(st, c.id);
    if (cmd === 'reboot') return FleetCmd.reboot(c, st);
    if (cmd === 'config') return FleetCmd.config(c, st);
    if (cmd === 'renew') return fleetRenewCommand(c, st);
    if (cmd === 'ota') return fleetOtaCommand(c, st);
    if (cmd === 'keys') return fleetKeysCommand(c, st);
    return FleetCmd.result(c.id, cmd, false, 'unknown command');
  },

  // First field of c not in allowed (an array of names), or null.
  unknownField: function(c, allowed) {
    for (let k in c) {
      let found = false;
      for (let i = 0; i < allowed.length; i++) {
        if (allowed[i] === k) found = true;
      }
      if (!found) return k;
    }
    return null;
  },

  // {id, delay_ms?}: answered first, then a reboot after delay_ms (default 1000, 500..60000).
  reboot: function(c, st) {
    let bad = FleetCmd.unknownField(c, ['id', 'delay_ms']);
    if (bad !== null) return FleetCmd.result(c.id, 'reboot', false, 'unknown field: ' + bad);
    let delay = 1000;
    if (c.delay_ms !== undefined) {
      if (!FleetCmd.isInt(c.delay_ms) || c.delay_ms < 500 || c.delay_ms > 60000) {
        return FleetCmd.result(c.id, 'reboot', false, 'delay_ms must be an integer 500..60000');
      }
      delay = c.delay_ms;
    }
    Sys.reboot(delay);
    return FleetCmd.result(c.id, 'reboot', true, { delay_ms: delay });
  },

  rule: function(key) {
    for (let i = 0; i < FleetCmd.CONFIG_KEYS.length; i++) {
      if (FleetCmd.CONFIG_KEYS[i].key === key) return FleetCmd.CONFIG_KEYS[i];
    }
    return null;
  },

  // Reason the value v is wrong for rule r, or null.
  badValue: function(r, v) {
    if (r.type === 'number') {
      if (!FleetCmd.isInt(v)) return r.key + ' must be an integer';
      if (v < r.min || v > r.max) return r.key + ' must be ' + JSON.stringify(r.min) + '..' + JSON.stringify(r.max);
      return null;
    }
    if (typeof v !== 'string') return r.key + ' must be a string';
    if (v.length > r.maxLen) return r.key + ' must be at most ' + JSON.stringify(r.maxLen) + ' bytes';
    return null;
  },

  // {id, set: {"debug.level": 3, ...}}: allow-listed keys, all checked before any is saved.
  config: function(c, st) {
    let bad = FleetCmd.unknownField(c, ['id', 'set']);
    if (bad !== null) return FleetCmd.result(c.id, 'config', false, 'unknown field: ' + bad);
    if (typeof c.set !== 'object') return FleetCmd.result(c.id, 'config', false, 'set must be an object of key: value');
    let tree = {};
    let keys = [];
    for (let k in c.set) {
      let r = FleetCmd.rule(k);
      if (r === null) return FleetCmd.result(c.id, 'config', false, 'key not allowed: ' + k);
      let why = FleetCmd.badValue(r, c.set[k]);
      if (why !== null) return FleetCmd.result(c.id, 'config', false, why);
      if (tree[r.a] === undefined) tree[r.a] = {};
      tree[r.a][r.b] = c.set[k];
      keys.push(k);
    }
    if (keys.length === 0) return FleetCmd.result(c.id, 'config', false, 'set is empty');
    if (!Cfg.set(tree, true)) return FleetCmd.result(c.id, 'config', false, 'the firmware refused the change');
    return FleetCmd.result(c.id, 'config', true, { applied: keys });
  }
};
