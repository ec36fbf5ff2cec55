// Boots init.js on the plain-mJS stand-ins and drives OTA (espfleet_ota.js): cmd/ota refusals
// and one update through OTA.Status progress to the OTA.Update reply, a failed reply, then the
// boot-time decisions on fresh agent states: verify + commit, health timeout + revert, and a
// committed boot after each kind of record.
load('init.js');
Cfg.tree.espfleet['ota.allowed_hosts'] = 'fw.example.net, OTA.Example.com:8443';
MQTT.connected = true;
let h = MQTT.handlers[0];
h.fn(null, 202, null, h.ud);
let last = function() { return RPC.calls[RPC.calls.length - 1]; };
let answer = function(i, res, code, msg) {
  let c = RPC.calls[i];
  print('rpc', c.method, JSON.stringify(c.args));
  c.cb(res, code, msg, c.ud);
};
answer(0, { id: 'esp32_A1B2C3', app: 'espfleet-agent', fw_version: '1.2.0' }, 0, '');
answer(1, { active_slot: 0, is_committed: true, revert_slot: 0, commit_timeout: 0 }, 0, '');
let s = MQTT.subs[0];
let cmd = function(p) { s.fn(null, 'devices/esp32_A1B2C3/cmd/ota', p, s.ud); };
let U = '"url":"https://fw.example.net/fw.zip"';
let cases = [
  '{"id":"a1","rollout":"r1","url":"http://fw.example.net/fw.zip","version":"1.3.0"}',
  '{"id":"a2","rollout":"r1","url":"https://evil.example.net/fw.zip","version":"1.3.0"}',
  '{"id":"a3","rollout":"r1","url":"https://fw.example.net@evil.net/fw.zip","version":"1.3.0"}',
  '{"id":"a4","rollout":"r1","url":"HTTPS://OTA.example.COM:9000/x","version":"1.2.0"}',
  '{"id":"a5","rollout":"r1",' + U + ',"version":"1.1.9"}',
  '{"id":"a6","rollout":"r1",' + U + ',"version":"1.2"}',
  '{"id":"a7","rollout":"r1",' + U + ',"version":"1.2.0","allow_downgrade":true}',
  '{"id":"a8","rollout":"r1",' + U + ',"version":"1.3.0","commit_timeout":100}',
  '{"id":"a9","rollout":"r1",' + U + ',"version":"1.3.0","sha256":"ABC"}',
  '{"id":"a10","rollout":"r 1",' + U + ',"version":"1.3.0"}',
  '{"id":"a11",' + U + ',"version":"1.3.0"}',
  '{"id":"a12","rollout":"r1",' + U + ',"version":"1.3.0","force":1}',
  '{"id":"a13","rollout":"r1","url":"https://fw.example.net:0/fw.zip","version":"1.3.0"}',
  '{"id":"ota-r1","rollout":"r1",' + U + ',"version":"1.10.0","commit_timeout":600}',
  '{"id":"ota-r2","rollout":"r2",' + U + ',"version":"1.11.0"}'
];
for (let i = 0; i < cases.length; i++) cmd(cases[i]);
let t = Timer.timers[Timer.timers.length - 1];
print('poll', t.ms, t.flags);
let progress = [35, 38, 52, 100];
for (let i = 0; i < progress.length; i++) {
  t.fn(t.ud);
  let c = last();
  c.cb({ state: 1, progress_percent: progress[i] }, 0, '', c.ud);
}
answer(2, null, 0, 'Update applied, finalizing');
print('file', File.files['espfleet_ota.json']);

// Fresh agent states, as other boots would have them.
let board = function(fw, record, committed, connected) {
  MQTT.connected = connected;
  let b = { id: 'esp32_A1B2C3', statusTopic: 'devices/esp32_A1B2C3/status', fw: fw, app: 'espfleet-agent', certExpiry: 0 };
  File.files['espfleet_ota.json'] = record;
  fleetOtaInit(b);
  fleetOtaOnBootState({ is_committed: committed }, 0, '', b);
  print('boot', fw, committed, fleetOtaState(b), fleetOtaRollout(b), b.ota.reason);
  return b;
};
let rec = function(stage) {
  return '{"cmd":"ota-r1","rollout":"r1","version":"1.10.0","from":"1.2.0","stage":"' + stage + '","reported":false}';
};
let n = RPC.calls.length;
let b1 = board('1.10.0', rec('applied'), false, true);
answer(n, null, 0, '');
print('file', File.files['espfleet_ota.json'], Cfg.get('espfleet.rollout'));
let b2 = board('1.10.0', rec('applied'), false, false);
t = Timer.timers[Timer.timers.length - 1];
print('health', t.ms, t.flags);
t.fn(t.ud);
print('rpc', last().method, File.files['espfleet_ota.json']);
board('1.2.0', rec('applied'), true, true);
board('1.2.0', rec('downloading'), true, true);
board('1.10.0', rec('verifying'), true, true);
board('1.9.0', rec('applied'), true, true);
board('1.10.0', rec('applied'), false, true);
board('1.2.0', '{"cmd":"ota-r1","stage":"applied"}', true, true);
board('1.2.0', rec('committed'), false, true);
let b3 = board('1.2.0', null, true, true);
n = RPC.calls.length;
fleetOtaCommand(JSON.parse('{"id":"ota-r3","rollout":"r3",' + U + ',"version":"2.0.0","sha256":"' + '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' + '"}'), b3);
answer(n, null, -1, 'Invalid manifest');
print('file', File.files['espfleet_ota.json']);
// OTA.Commit refused (committed by someone else): the boot state asked again decides.
let b4 = board('1.10.0', rec('applied'), false, true);
n = RPC.calls.length;
answer(n - 1, null, -1, 'Not in uncommitted state');
answer(n, { is_committed: true }, 0, '');
print('file', File.files['espfleet_ota.json']);
