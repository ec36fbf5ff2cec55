// Runs the agent's command modules on plain-mJS stand-ins for Cfg, Sys and File, printing
// every result: the same file gives the same output on Cesanta's mJS and on the double.
let Cfg = {
  tree: { debug: { level: 2 }, sys: { tz_spec: '' }, mqtt: {}, espfleet: { status_interval: 300 } },
  saves: 0,
  get: function(path) {
    let i = path.indexOf('.');
    let a = path.slice(0, i);
    let b = path.slice(i + 1, path.length);
    return Cfg.tree[a][b];
  },
  set: function(obj, save) {
    for (let a in obj) {
      for (let b in obj[a]) Cfg.tree[a][b] = obj[a][b];
    }
    if (save) Cfg.saves = Cfg.saves + 1;
    return true;
  }
};
let Sys = {
  reboots: [],
  reboot: function(ms) { Sys.reboots.push(ms); },
  uptime: function() { return 12; }
};
let File = {
  files: {},
  read: function(p) {
    let v = File.files[p];
    if (v === undefined) return null;
    return v;
  },
  write: function(s, p) {
    File.files[p] = s;
    return s.length;
  }
};
let MQTT = { connected: false, isConnected: function() { return MQTT.connected; }, pub: function(t, m, q, r) { return 0; } };
load('espfleet_json.js');
load('espfleet_cmd.js');
load('espfleet_crypto.js');
load('espfleet_renew.js');
load('espfleet_ota.js');

let st = { id: 'esp32_A1B2C3', maxBytes: 1024, idsFile: 'ids.json', ids: [] };
fleetRenewInit(st);
fleetOtaInit(st);
File.files['ids.json'] = '["old-1",5,"old-2"]';
FleetCmd.loadIds(st);
print('ids', JSON.stringify(st.ids));

let pad = 'x';
for (let i = 0; i < 11; i++) pad = pad + pad;
let cases = [
  ['reboot', '{"id":"r1"}'],
  ['reboot', '{"id":"r2","delay_ms":5000}'],
  ['reboot', '{"id":"r3","delay_ms":"5"}'],
  ['reboot', '{"id":"r4","delay_ms":700.5}'],
  ['reboot', '{"id":"r5","force":true}'],
  ['config', '{"id":"c1","set":{"debug.level":3,"sys.tz_spec":"CET-1CEST"}}'],
  ['config', '{"id":"c2","set":{"debug.level":1,"mqtt.server":"evil:1883"}}'],
  ['config', '{"id":"c3","set":{"debug.level":"3"}}'],
  ['config', '{"id":"c4","set":{"espfleet.status_interval":-1}}'],
  ['config', '{"id":"c6"}'],
  ['config', '{"id":"c7","set":[1]}'],
  ['config', '{"id":"c8","set":{}}'],
  ['ota', '{"id":"o1","url":"https://fw.example.net/a.zip"}'],
  ['renew', '{"id":"n1"}'],
  ['selfdestruct', '{"id":"u1"}'],
  ['reboot', '{"delay_ms":1000}'],
  ['reboot', '{"id":7}'],
  ['reboot', '{"id":""}'],
  ['reboot', '[1,2]'],
  ['reboot', '"reboot"'],
  ['reboot', 'null'],
  ['reboot', '{"id":"big","pad":"' + pad + '"}'],
  ['reboot', '{"id":"j1"'],
  ['reboot', '{"id":"j2"} x'],
  ['reboot', "{'id':'j3'}"],
  ['config', 'reboot'],
  ['config', ''],
  ['config', '{"id":"j4","set":{"debug.level":03}}'],
  ['config', '{"id":"j5","set":{"a":[[[[1]]]]}}'],
  ['config', '{"id":"j6","set":{"sys.tz_spec":"' + chr(195) + chr(169) + '"}}'],
  ['config', '{"id":"j7","set":{"sys.tz_spec":"\\u00e9"}}'],
  ['config', '{"id":"j8","set":{"sys.tz_spec":"a\\u0041\\n"}}'],
  ['config', ' { "id" : "j9" , "set" : { "debug.level" : 1e0 } } '],
  ['config', '{"id":"j10","set":{"debug.level":-0.5e+1}}'],
  ['reboot', '{"id":"r1"}'],
  ['reboot', '{"id":"old-2"}'],
  ['a/b', '{"id":"q1"}']
];
for (let i = 0; i < cases.length; i++) {
  let r = FleetCmd.handle(cases[i][0], cases[i][1], st);
  if (r === null) {
    print(JSON.stringify(i), 'ignored');
  } else {
    print(JSON.stringify(i), r.cmd, r.ok, r.id, r.ok ? JSON.stringify(r.result) : r.reason);
  }
}
print('reboots', JSON.stringify(Sys.reboots));
print('config', Cfg.get('debug.level'), JSON.stringify(Cfg.get('sys.tz_spec')), Cfg.get('espfleet.status_interval'), Cfg.saves);
print('ids', File.files['ids.json']);
