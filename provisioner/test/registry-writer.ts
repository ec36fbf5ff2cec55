// A second espfleet process for the registry lock tests: opens the registry named in argv,
// waits until the agreed start time, then writes `count` records of its own, one upsert each.
// usage: node --import tsx registry-writer.ts <registry> <tag 0-255> <count> <start ms>
import { openRegistryAt } from '../station/open-registry.ts';
import { deviceRecord } from './device-record.ts';

const [path, tagText, countText, startText] = process.argv.slice(2);
if (!path || !tagText || !countText || !startText) throw new Error('usage: registry-writer.ts <registry> <tag> <count> <start ms>');
const tag = Number(tagText);
const hex = (n: number) => n.toString(16).padStart(2, '0');
const registry = await openRegistryAt(path);
while (Date.now() < Number(startText)) await new Promise((r) => setTimeout(r, 2));
for (let i = 0; i < Number(countText); i++) {
  const mac = `24:0a:c4:${hex(tag)}:${hex(i >> 8)}:${hex(i & 0xff)}`;
  await registry.upsert(deviceRecord({ deviceId: `esp32_${hex(tag)}${hex(i >> 8)}${hex(i & 0xff)}`.toUpperCase().replace('ESP32', 'esp32'), mac }));
}
await registry.close();
console.log(`wrote ${countText}`);
