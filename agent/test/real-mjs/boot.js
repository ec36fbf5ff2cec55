// Boots init.js on plain-mJS stand-ins for the Mongoose OS APIs and drives it: CONNACK,
// the Sys.GetInfo answer, commands on its own topic, the status timer.
load('init.js');
print('will', Cfg.get('mqtt.will_topic'), Cfg.saves);
print('subs', MQTT.subs.length, MQTT.subs[0].topic);
MQTT.connected = true;
let h = MQTT.handlers[0];
h.fn(null, 202, null, h.ud);
let c = RPC.calls[0];
print('rpc', c.method);
c.cb({ id: 'esp32_A1B2C3', app: 'espfleet-agent', fw_version: '1.2.3' }, 0, '', c.ud);
let s = MQTT.subs[0];
s.fn(null, 'devices/esp32_A1B2C3/cmd/config', '{"id":"c1","set":{"debug.level":3}}', s.ud);
s.fn(null, 'devices/esp32_A1B2C3/cmd/reboot', '{"id":"r1","delay_ms":2000}', s.ud);
s.fn(null, 'devices/esp32_A1B2C3/cmd/reboot', '{"id":"r1","delay_ms":2000}', s.ud);
s.fn(null, 'devices/esp32_A1B2C3/cmd/ota', '{"id":', s.ud);
let t = Timer.timers[0];
print('timer', t.ms, t.flags);
t.fn(t.ud);
print('reboots', JSON.stringify(Sys.reboots), 'level', Cfg.get('debug.level'));
print('ids', File.files['espfleet_ids.json']);
