// api_mqtt.js, api_events.js and api_net.js for the double's mJS runner (spec mongoose-os.md
// §5.2 signatures and constants) and the ffi functions behind them: MQTT over MgosMqtt, the
// mgos event bus (CLOUD_CONNECTED/DISCONNECTED from MQTT, NET status at network up).
// Plain mJS — no closures: state rides in userdata.
import type { FfiTable, Value } from '../mjs/index.ts';
import { MjsForeign } from '../mjs/index.ts';
import { binaryToBytes, bytesToBinary } from '../mjs/values.ts';
import type { MgosScriptContext } from './firmware.ts';
import { MG_EV, MgosMqtt, topicMatches } from './mqtt-conn.ts';

export const MJS_NET_API_FILES: Readonly<Record<string, string>> = {
  'api_mqtt.js': `let MQTT = {
  _sub: ffi('void mgos_dbl_mqtt_sub(char *, void (*)(void *, char *, char *, userdata), userdata)'),
  _pub: ffi('int mgos_dbl_mqtt_pub(char *, char *, int, bool)'),
  _seh: ffi('void mgos_dbl_mqtt_add_global_handler(void (*)(void *, int, void *, userdata), userdata)'),
  _conn: ffi('bool mgos_mqtt_global_is_connected(void)'),
  EV_CONNACK: 202,
  EV_PUBLISH: 203,
  EV_PUBACK: 204,
  EV_SUBACK: 209,
  EV_UNSUBACK: 211,
  EV_CLOSE: 5,
  sub: function(topic, handler, userdata) { MQTT._sub(topic, handler, userdata); },
  pub: function(topic, message, qos, retain) {
    if (qos === undefined) qos = 0;
    if (retain === undefined) retain = false;
    return MQTT._pub(topic, message, qos, retain);
  },
  setEventHandler: function(handler, userdata) { MQTT._seh(handler, userdata); },
  isConnected: function() { return MQTT._conn(); }
};
`,
  'api_events.js': `let Event = {
  _add: ffi('bool mgos_dbl_event_add(int, void (*)(int, void *, userdata), userdata)'),
  _addGroup: ffi('bool mgos_dbl_event_add_group(int, void (*)(int, void *, userdata), userdata)'),
  _trigger: ffi('int mgos_dbl_event_trigger(int, void *)'),
  _regBase: ffi('bool mgos_dbl_event_register_base(int, char *)'),
  addHandler: function(ev, callback, userdata) { return Event._add(ev, callback, userdata); },
  addGroupHandler: function(evgrp, callback, userdata) { return Event._addGroup(evgrp, callback, userdata); },
  on: function(ev, callback, userdata) { Event._add(ev, callback, userdata); return Event; },
  trigger: function(ev, evdata) { return Event._trigger(ev, evdata); },
  regBase: function(base_event_number, name) { return Event._regBase(base_event_number, name); },
  baseNumber: function(id) {
    if (id.length !== 3) die('Base event id should have exactly 3 chars');
    return (id.at(0) << 24) | (id.at(1) << 16) | (id.at(2) << 8);
  },
  evdataLogStr: function(evdata) { return ''; }
};
Event.SYS = Event.baseNumber('MOS');
Event.INIT_DONE = Event.SYS + 0;
Event.LOG = Event.SYS + 1;
Event.REBOOT = Event.SYS + 2;
Event.OTA_TIME_CHANGED = Event.SYS + 3;
Event.CLOUD_CONNECTED = Event.SYS + 4;
Event.CLOUD_DISCONNECTED = Event.SYS + 5;
`,
  // Net status events only: Net.serve/connect/send are not built in the double.
  'api_net.js': `load('api_events.js');
let Net = {
  EVENT_GRP: Event.baseNumber('NET')
};
Net.STATUS_DISCONNECTED = Net.EVENT_GRP + 0;
Net.STATUS_CONNECTING = Net.EVENT_GRP + 1;
Net.STATUS_CONNECTED = Net.EVENT_GRP + 2;
Net.STATUS_GOT_IP = Net.EVENT_GRP + 3;
`,
};

/** mgos event numbers used by the double itself (include/mgos_event.h). */
const base = (s: string) => ((s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8)) >>> 0;
export const MGOS_EVENT = {
  SYS: base('MOS'),
  REBOOT: base('MOS') + 2,
  CLOUD_CONNECTED: base('MOS') + 4,
  CLOUD_DISCONNECTED: base('MOS') + 5,
  NET_GRP: base('NET'),
} as const;

type Call = (fn: Value, args: Value[]) => Value;

export interface NetApi {
  ffi: FfiTable;
  mqtt: MgosMqtt;
  /** Network up (after INIT_DONE, as Wi-Fi gets an address after the scripts ran): NET events, then MQTT. */
  networkUp(): void;
}

/** The ffi functions of api_mqtt.js / api_events.js for one boot. */
export function netApi(ctx: MgosScriptContext, call: Call): NetApi {
  const conn = new MjsForeign('mg_connection');
  const subs: Array<{ filter: string; fn: Value; ud: Value }> = [];
  const globals: Array<{ fn: Value; ud: Value }> = [];
  const handlers: Array<{ ev: number; group: boolean; fn: Value; ud: Value }> = [];
  const u32 = (v: Value) => Number(v) >>> 0;

  const trigger = (ev: number, evdata: Value = null): number => {
    let n = 0;
    for (const h of [...handlers]) {
      if (h.group ? (ev & ~0xff) >>> 0 === h.ev : ev === h.ev) {
        n++;
        call(h.fn, [ev, evdata, h.ud]);
      }
    }
    return n;
  };
  const cloudEvents = () => ctx.config.get().mqtt === undefined || (ctx.config.get().mqtt as Record<string, unknown>).cloud_events !== false;

  const mqtt = new MgosMqtt(ctx.host, ctx.fs, ctx.config, ctx.log, {
    event(ev) {
      for (const g of [...globals]) call(g.fn, [conn, ev, null, g.ud]);
      if (ev === MG_EV.CONNACK && cloudEvents()) trigger(MGOS_EVENT.CLOUD_CONNECTED);
      if (ev === MG_EV.CLOSE && cloudEvents()) trigger(MGOS_EVENT.CLOUD_DISCONNECTED);
    },
    message(topic, payload) {
      for (const s of [...subs]) {
        if (topicMatches(s.filter, topic)) call(s.fn, [conn, bytesToBinary(new TextEncoder().encode(topic)), bytesToBinary(payload), s.ud]);
      }
    },
  });

  const ffi: FfiTable = {
    mgos_dbl_mqtt_sub: (topic, fn, ud) => {
      const filter = new TextDecoder().decode(binaryToBytes(String(topic)));
      subs.push({ filter, fn, ud });
      // The C API subscribes at QoS 1 (the JS API has no qos argument); max_qos may lower it.
      mqtt.sub(filter, 1);
    },
    mgos_dbl_mqtt_pub: (topic, msg, qos, retain) => mqtt.pub(new TextDecoder().decode(binaryToBytes(String(topic))), binaryToBytes(String(msg)), Number(qos), retain === true),
    mgos_dbl_mqtt_add_global_handler: (fn, ud) => void globals.push({ fn, ud }),
    mgos_mqtt_global_is_connected: () => mqtt.isConnected(),
    mgos_dbl_event_add: (ev, fn, ud) => (handlers.push({ ev: u32(ev), group: false, fn, ud }), true),
    mgos_dbl_event_add_group: (ev, fn, ud) => (handlers.push({ ev: u32(ev), group: true, fn, ud }), true),
    mgos_dbl_event_trigger: (ev, evdata) => trigger(u32(ev), evdata),
    mgos_dbl_event_register_base: () => true,
  };

  return {
    ffi,
    mqtt,
    networkUp() {
      for (const k of [1, 2, 3]) trigger(MGOS_EVENT.NET_GRP + k);
      mqtt.start();
    },
  };
}
