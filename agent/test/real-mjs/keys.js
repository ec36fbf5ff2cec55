// cmd/keys (espfleet_keys.js) on plain-mJS stand-ins: the board holds KEYOLD in slot 0 with
// mask 1; refusals change nothing, then add → require → retire, a replay and the old key alone.
load('init.js');
Cfg.tree.update.key0 = 'KEYOLD';
Cfg.tree.update.sig_req_mask = 1;
fleetKeysLoad(Fleet);
MQTT.connected = true;
let h = MQTT.handlers[0];
h.fn(null, 202, null, h.ud);
let c = RPC.calls[0];
c.cb({ id: 'esp32_A1B2C3', app: 'espfleet-agent', fw_version: '1.2.3' }, 0, '', c.ud);
let s = MQTT.subs[0];
let T = 'devices/esp32_A1B2C3/cmd/keys';
let D = '"device_id":"esp32_A1B2C3"';
function send(body) {
  s.fn(null, T, body, s.ud);
  print('cfg', Cfg.get('update.key0'), Cfg.get('update.key1'), Cfg.get('update.sig_req_mask'), Cfg.get('espfleet.keys_seq'), Cfg.saves);
}
send('{"id":"k1",' + D + ',"seq":1,"set":{"1":"KEYNEW"},"mask":1,"sigs":{"sig0":"bad"}}');
send('{"id":"k2",' + D + ',"seq":1,"set":{"1":"KEYNEW"},"mask":1,"sigs":{"sig1":"good-KEYNEW"}}');
send('{"id":"k3","device_id":"esp32_000000","seq":1,"set":{"1":"KEYNEW"},"mask":1,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k4",' + D + ',"seq":1,"set":{},"mask":3,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k5",' + D + ',"seq":1,"set":{},"mask":0,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k6",' + D + ',"seq":1,"set":{"9":"KEYNEW"},"mask":1,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k7",' + D + ',"seq":1,"set":{"1":"nokey"},"mask":1,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k8",' + D + ',"seq":1,"set":{"1":"KEYNEW"},"mask":1,"sigs":{"sigX":"good-KEYOLD"}}');
send('{"id":"k9",' + D + ',"seq":1,"set":{"1":"KEYNEW"},"mask":1,"sigs":{"sig0":"good-KEYOLD"},"x":1}');
send('{"id":"k10",' + D + ',"seq":1,"set":{"1":"KEYNEW"},"mask":1,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k11",' + D + ',"seq":1,"set":{},"mask":3,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k12",' + D + ',"seq":2,"set":{},"mask":3,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k13",' + D + ',"seq":3,"set":{"0":""},"mask":2,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k14",' + D + ',"seq":3,"set":{"0":""},"mask":2,"sigs":{"sig0":"good-KEYOLD","sig1":"good-KEYNEW"}}');
send('{"id":"k15",' + D + ',"seq":4,"set":{"0":"KEYOLD"},"mask":1,"sigs":{"sig0":"good-KEYOLD"}}');
send('{"id":"k16",' + D + ',"seq":4,"set":{},"mask":0,"tombstone":true,"sigs":{"sig1":"good-KEYNEW"}}');
send('{"id":"k17",' + D + ',"seq":5,"set":{},"mask":2,"sigs":{"sig1":"good-KEYNEW"}}');
print('status', MQTT.pubs.length);
