// Plain-mJS stand-in for the Mongoose OS API (no ffi), so the agent runs on a bare Cesanta mjs binary.
let RPC = { LOCAL: 'RPC.LOCAL', calls: [], handlers: [], call: function(dst, method, args, cb, ud) { RPC.calls.push({ method: method, args: args, cb: cb, ud: ud }); return true; }, addHandler: function(name, cb, ud) { RPC.handlers.push({ name: name, cb: cb, ud: ud }); } };
