// The one text-table renderer (docs/cli.md "Tables"): the CLI and the station's summary both
// print with it, so every table has a header row and columns aligned the same way.

/** Left-aligned columns two spaces apart, a header row first; the last column is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}
