// Plain-mJS stand-in for the Mongoose OS API (no ffi), so the agent runs on a bare Cesanta mjs binary.
let Cfg = {
  tree: { device: { id: 'esp32_A1B2C3' }, update: { key0: '', key1: '', key2: '', key3: '', key4: '', key5: '', key6: '', key7: '', sig_req_mask: -1 }, debug: { level: 2 }, sys: { tz_spec: '' }, mqtt: { will_topic: '', will_message: '{"online":false}', will_retain: true }, espfleet: { enable: true, status_interval: 60, cmd_max_bytes: 1024, cert_expiry: 1830000000, rollout: 'r-42', ids_file: 'espfleet_ids.json' } },
  saves: 0,
  get: function(path) {
    let i = path.indexOf('.');
    return Cfg.tree[path.slice(0, i)][path.slice(i + 1, path.length)];
  },
  set: function(obj, save) {
    for (let a in obj) {
      for (let b in obj[a]) Cfg.tree[a][b] = obj[a][b];
    }
    if (save) Cfg.saves = Cfg.saves + 1;
    return true;
  }
};
