// Plain-mJS stand-in for the Mongoose OS API (no ffi), so the agent runs on a bare Cesanta mjs binary.
let MQTT = {
  EV_CONNACK: 202,
  connected: false,
  pubs: [],
  subs: [],
  handlers: [],
  sub: function(topic, handler, userdata) { MQTT.subs.push({ topic: topic, fn: handler, ud: userdata }); },
  pub: function(topic, message, qos, retain) {
    if (!MQTT.connected) return 0;
    MQTT.pubs.push(topic);
    print('pub', topic, message, qos, retain);
    return MQTT.pubs.length;
  },
  setEventHandler: function(handler, userdata) { MQTT.handlers.push({ fn: handler, ud: userdata }); },
  isConnected: function() { return MQTT.connected; }
};
