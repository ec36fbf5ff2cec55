// Plain-mJS stand-in for the Mongoose OS API (no ffi), so the agent runs on a bare Cesanta mjs binary.
let Timer = { REPEAT: 1, RUN_NOW: 2, timers: [], set: function(ms, flags, fn, ud) { Timer.timers.push({ ms: ms, flags: flags, fn: fn, ud: ud }); return Timer.timers.length; }, del: function(id) { }, now: function() { return 1796000000; } };
