// Loader hooks for count-modules.mjs: reports every module URL that gets loaded.
let port;
export function initialize(data) {
  port = data.port;
}
export async function load(url, context, nextLoad) {
  port?.postMessage(url);
  return nextLoad(url, context);
}
