// strftime for the double's Timer.fmt (spec mongoose-os.md §5.2: `Timer.fmt(fmt, t)` is
// strftime over Unix seconds). The board formats in the zone of `sys.tz_spec`; the double has
// no zone database and formats in UTC, which is what a board does with the default empty tz.
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, width = 2, fill = '0') => String(n).padStart(width, fill);

export function strftime(fmt: string, unixSeconds: number): string {
  const d = new Date(Math.floor(unixSeconds) * 1000);
  const startOfYear = Date.UTC(d.getUTCFullYear(), 0, 1);
  const fields: Record<string, () => string> = {
    Y: () => String(d.getUTCFullYear()),
    y: () => pad(d.getUTCFullYear() % 100),
    m: () => pad(d.getUTCMonth() + 1),
    d: () => pad(d.getUTCDate()),
    e: () => pad(d.getUTCDate(), 2, ' '),
    H: () => pad(d.getUTCHours()),
    I: () => pad(((d.getUTCHours() + 11) % 12) + 1),
    M: () => pad(d.getUTCMinutes()),
    S: () => pad(d.getUTCSeconds()),
    p: () => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
    j: () => pad(Math.floor((d.getTime() - startOfYear) / 86_400_000) + 1, 3),
    a: () => (DAYS[d.getUTCDay()] as string).slice(0, 3),
    A: () => DAYS[d.getUTCDay()] as string,
    b: () => (MONTHS[d.getUTCMonth()] as string).slice(0, 3),
    B: () => MONTHS[d.getUTCMonth()] as string,
    s: () => String(Math.floor(unixSeconds)),
    Z: () => 'UTC',
    z: () => '+0000',
    F: () => `${fields.Y!()}-${fields.m!()}-${fields.d!()}`,
    T: () => `${fields.H!()}:${fields.M!()}:${fields.S!()}`,
    '%': () => '%',
  };
  return fmt.replace(/%(.)/g, (all, c: string) => fields[c]?.() ?? all);
}
