// A second espfleet process for the audit lock test: opens the audit log (anchored in the
// registry, as the station does), waits for the agreed start time, then appends `count` entries.
// usage: node --import tsx audit-writer.ts <log> <registry> <actor> <count> <start ms>
import { openAuditLog } from '../station/audit-log.ts';
import { openRegistry } from '../station/registry-sqlite.ts';

const [log, registryPath, actor, countText, startText] = process.argv.slice(2);
if (!log || !registryPath || !actor || !countText || !startText) throw new Error('usage: audit-writer.ts <log> <registry> <actor> <count> <start ms>');
const registry = await openRegistry(registryPath);
const audit = await openAuditLog(log, { anchor: registry });
while (Date.now() < Number(startText)) await new Promise((r) => setTimeout(r, 2));
for (let i = 0; i < Number(countText); i++) await audit.append({ action: 'provision.done', actor, subject: { n: String(i) } });
await registry.close();
console.log(`appended ${countText}`);
