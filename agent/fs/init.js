// The espfleet agent (DESIGN.md topics, invariants 4 and 5; spec mongoose-os.md §5): MQTT
// over mutual TLS with the device certificate the station put in conf9.json, a retained
// status on every CONNACK with the last will {"online":false} on the same topic, and the
// commands of espfleet_cmd.js on its own devices/<id>/cmd/+ only; OTA in espfleet_ota.js, the
// firmware signing keys in espfleet_keys.js. Plain functions over the
// Mongoose OS APIs; all state is in Fleet, handed to callbacks as userdata.
load('api_config.js');
load('api_sys.js');
load('api_timer.js');
load('api_file.js');
load('api_rpc.js');
load('api_mqtt.js');
load('espfleet_json.js');
load('espfleet_cmd.js');
load('espfleet_crypto.js');
load('espfleet_keys.js');
load('espfleet_renew.js');
load('espfleet_ota.js');

let FLEET_AGENT_VERSION = '0.1.0';
let FLEET_WILL = '{"online":false}';

let Fleet = {
  id: '',
  statusTopic: '',
  eventsTopic: '',
  cmdPrefix: '',
  fw: '',
  app: '',
  maxBytes: 1024,
  idsFile: 'espfleet_ids.json',
  ids: [],
  connects: 0,
  certExpiry: 0,
  csrTopic: '',
  issuedTopic: '',
  renew: null,
  otaTopic: '',
  ota: null,
  keys: null
};

// Printable ASCII or '?': JSON.stringify writes other bytes as \xNN, which is not JSON.
function fleetAscii(s) {
  if (typeof s !== 'string') return '';
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let c = s.at(i);
    out = out + ((c >= 32 && c <= 126) ? s.slice(i, i + 1) : '?');
  }
  return out;
}

function fleetStatus(st) {
  let s = { online: true, id: st.id, fw_version: st.fw, app: st.app, agent: FLEET_AGENT_VERSION, uptime: Sys.uptime(), ota: fleetOtaState(st), rollout: fleetOtaRollout(st), keys: fleetKeysState(st) };
  let exp = st.certExpiry > 0 ? st.certExpiry : Cfg.get('espfleet.cert_expiry');
  if (typeof exp === 'number' && exp > 0) s.cert_expiry = exp;
  let r = MQTT.pub(st.statusTopic, JSON.stringify(s), 1, true);
  if (r === 0) print('espfleet: status not published (not connected)');
  return r;
}

function fleetOnMqttEvent(conn, ev, edata, st) {
  if (ev === MQTT.EV_CONNACK) {
    st.connects = st.connects + 1;
    print('espfleet: connected as', st.id);
    // Renewal first: a trial pair is committed (conf9.json) before a status names its expiry,
    // because the renewal service revokes the old certificate once it sees that status.
    if (!fleetRenewOnConnack(st)) return;
    let published = fleetStatus(st);
    fleetOtaOnConnack(st, published);
  }
}

function fleetOnCmd(conn, topic, msg, st) {
  // Bounds into locals first: Cesanta's mJS (cf375c4) was seen to return '' for a short
  // slice with member-expression bounds here once more code was loaded (real-mjs/boot.js).
  let from = st.cmdPrefix.length;
  let to = topic.length;
  let name = topic.slice(from, to);
  let r = FleetCmd.handle(name, msg, st);
  if (r === null) return;
  if (MQTT.pub(st.eventsTopic, JSON.stringify(r), 1, false) === 0) print('espfleet: result of', r.cmd, 'not published');
}

function fleetOnInfo(res, code, msg, st) {
  if (code !== 0 || res === null || typeof res !== 'object') {
    print('espfleet: Sys.GetInfo failed', code);
    return;
  }
  st.fw = fleetAscii(res.fw_version);
  st.app = fleetAscii(res.app);
  // A CONNACK that came first published without the version: publish again now.
  if (MQTT.isConnected()) fleetStatus(st);
  fleetOtaOnInfo(st);
}

function fleetOnTick(st) {
  if (MQTT.isConnected()) fleetStatus(st);
}

// Device ids go into topics: no '/', '+', '#' (the broker ACL relies on it too).
function fleetStart(st) {
  if (Cfg.get('espfleet.enable') === false) {
    print('espfleet: disabled by espfleet.enable');
    return false;
  }
  let id = Cfg.get('device.id');
  if (!FleetCmd.tokenOk(id, 64)) {
    print('espfleet: device.id is not usable in a topic; agent not started');
    return false;
  }
  st.id = id;
  st.statusTopic = 'devices/' + id + '/status';
  st.eventsTopic = 'devices/' + id + '/events';
  st.cmdPrefix = 'devices/' + id + '/cmd/';
  let mb = Cfg.get('espfleet.cmd_max_bytes');
  if (FleetCmd.isInt(mb) && mb > 0) st.maxBytes = mb;
  let f = Cfg.get('espfleet.ids_file');
  if (typeof f === 'string' && f !== '') st.idsFile = f;
  FleetCmd.loadIds(st);
  fleetKeysInit(st);
  // Renewal first: on a try_once boot nothing below may save conf9.json before the CONNACK.
  fleetRenewInit(st);
  let save = st.renew.phase !== 'trial';
  fleetOtaInit(st);

  // The will is read at every connect; it needs the id, so it is set here, before the
  // network is up (saved, so the next boot's first connect already carries it).
  if (Cfg.get('mqtt.will_topic') !== st.statusTopic || Cfg.get('mqtt.will_message') !== FLEET_WILL || Cfg.get('mqtt.will_retain') !== true) {
    if (!Cfg.set({ mqtt: { will_topic: st.statusTopic, will_message: FLEET_WILL, will_retain: true } }, save)) print('espfleet: could not set the last will');
  }

  MQTT.setEventHandler(fleetOnMqttEvent, st);
  MQTT.sub(st.cmdPrefix + '+', fleetOnCmd, st);
  if (!RPC.call(RPC.LOCAL, 'Sys.GetInfo', null, fleetOnInfo, st)) print('espfleet: Sys.GetInfo not callable');
  fleetOtaStart(st);
  let every = Cfg.get('espfleet.status_interval');
  if (FleetCmd.isInt(every) && every > 0) {
    if (Timer.set(every * 1000, Timer.REPEAT, fleetOnTick, st) === 0) print('espfleet: no status timer');
  }
  fleetRenewSubscribe(st);
  print('espfleet: agent', FLEET_AGENT_VERSION, 'up as', id);
  return true;
}

fleetStart(Fleet);
