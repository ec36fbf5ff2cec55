// Plain-mJS stand-in for the Mongoose OS API (no ffi), so the agent runs on a bare Cesanta mjs binary.
let Sys = { reboots: [], reboot: function(ms) { Sys.reboots.push(ms); }, uptime: function() { return 12; } };
