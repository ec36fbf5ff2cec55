// The Mongoose OS mJS API files the double puts in front of the board's FS (spec
// mongoose-os.md §5.2 signatures): our own api_*.js over `mgos_dbl_*` / `mgos_set_timer`
// ffi functions that mjs-runner.ts provides. Plain mJS — no closures: state rides in userdata.
export const MJS_API_FILES: Readonly<Record<string, string>> = {
  'api_sys.js': `let Sys = {
  _up: ffi('double mgos_uptime(void)'),
  _reboot: ffi('void mgos_system_restart_after(int)'),
  _total: ffi('int mgos_get_heap_size(void)'),
  _free: ffi('int mgos_get_free_heap_size(void)'),
  total_ram: function() { return Sys._total(); },
  free_ram: function() { return Sys._free(); },
  reboot: function(ms) { Sys._reboot(ms); },
  uptime: function() { return Sys._up(); },
  usleep: function(us) { },
  wdt_feed: function() { }
};
`,
  'api_timer.js': `let Timer = {
  _set: ffi('int mgos_set_timer(int, int, void (*)(userdata), userdata)'),
  _del: ffi('void mgos_clear_timer(int)'),
  _now: ffi('double mg_time(void)'),
  _fmt: ffi('char *mgos_dbl_strftime(char *, double)'),
  REPEAT: 1,
  RUN_NOW: 2,
  set: function(ms, flags, fn, ud) { return Timer._set(ms, flags, fn, ud); },
  del: function(id) { Timer._del(id); },
  now: function() { return Timer._now(); },
  fmt: function(fmt, t) { return Timer._fmt(fmt, t); }
};
`,
  'api_config.js': `let Cfg = {
  _get: ffi('char *mgos_dbl_cfg_get(char *)'),
  _set: ffi('bool mgos_dbl_cfg_set(char *, bool)'),
  get: function(path) {
    let s = Cfg._get(path);
    if (s === null) return undefined;
    return JSON.parse(s);
  },
  set: function(obj, save) {
    if (save === undefined) save = true;
    return Cfg._set(JSON.stringify(obj), save);
  }
};
`,
  'api_rpc.js': `let RPC = {
  _add: ffi('void mgos_dbl_rpc_add(char *, void (*)(char *, char *, userdata), userdata)'),
  _call: ffi('bool mgos_dbl_rpc_call(char *, char *, char *, void (*)(char *, int, char *, userdata), userdata)'),
  LOCAL: 'RPC.LOCAL',
  _handle: function(args, src, st) {
    let r = st.cb(JSON.parse(args), src, st.ud);
    return JSON.stringify(r);
  },
  _done: function(res, code, msg, st) {
    let v = null;
    if (res !== null) v = JSON.parse(res);
    st.cb(v, code, msg, st.ud);
  },
  addHandler: function(name, cb, ud) { RPC._add(name, RPC._handle, { cb: cb, ud: ud }); },
  call: function(dst, method, args, cb, ud) { return RPC._call(dst, method, JSON.stringify(args), RPC._done, { cb: cb, ud: ud }); }
};
`,
  'api_file.js': `let File = {
  _read: ffi('char *mgos_dbl_file_read(char *)'),
  _write: ffi('int mgos_dbl_file_write(char *, char *, char *)'),
  remove: ffi('int remove(char *)'),
  rename: ffi('int rename(char *, char *)'),
  read: function(path) { return File._read(path); },
  write: function(str, path, mode) {
    if (mode === undefined) mode = 'w';
    return File._write(str, path, mode);
  }
};
`,
};
