// Plain-mJS stand-in for the Mongoose OS API (no ffi), so the agent runs on a bare Cesanta mjs binary.
let File = {
  files: {},
  read: function(p) {
    let v = File.files[p];
    if (v === undefined) return null;
    return v;
  },
  write: function(s, p) {
    File.files[p] = s;
    return s.length;
  },
  remove: function(p) {
    if (File.files[p] === undefined) return -1;
    File.files[p] = undefined;
    return 0;
  }
};
