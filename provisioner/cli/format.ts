// How the CLI prints values and tables (docs/cli.md "Tables"): one address format
// (`0x` + 8 hex digits) and one table renderer — a header row, aligned columns.

/** A flash address or size as `0x` + 8 hex digits. */
export function addr(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** A `0x…` text of up to 8 hex digits padded to 8 (library reports format some of theirs short). */
export function padAddrText(text: string): string {
  const m = /^0x([0-9a-f]{1,8})$/i.exec(text);
  return m ? `0x${(m[1] as string).padStart(8, '0')}` : text;
}

export { renderTable } from '../io/table.ts';
