// Telnet framing for RFC 2217 (network serial): option negotiation, IAC escaping
// of 0xFF in data, and COM-PORT-OPTION subnegotiations (RFC 854, RFC 2217).

export const IAC = 0xff;
export const DONT = 0xfe;
export const DO = 0xfd;
export const WONT = 0xfc;
export const WILL = 0xfb;
export const SB = 0xfa;
export const SE = 0xf0;

export const OPTION = { BINARY: 0, ECHO: 1, SGA: 3, COM_PORT: 44 } as const;

/** RFC 2217 client-to-server command codes; the server answers with code + 100. */
export const COM_PORT = {
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
  NOTIFY_LINESTATE: 6,
  NOTIFY_MODEMSTATE: 7,
  FLOWCONTROL_SUSPEND: 8,
  FLOWCONTROL_RESUME: 9,
  SET_LINESTATE_MASK: 10,
  SET_MODEMSTATE_MASK: 11,
  PURGE_DATA: 12,
} as const;
export const SERVER_REPLY_OFFSET = 100;

/** SET-CONTROL values. */
export const CONTROL = { DTR_ON: 8, DTR_OFF: 9, RTS_ON: 11, RTS_OFF: 12 } as const;
/** PURGE-DATA values. */
export const PURGE = { RECEIVE: 1, TRANSMIT: 2, BOTH: 3 } as const;

/** Doubles every 0xFF so data bytes are never read as commands. */
export function escapeData(data: Uint8Array): Uint8Array {
  let count = 0;
  for (const b of data) if (b === IAC) count++;
  if (count === 0) return data;
  const out = new Uint8Array(data.length + count);
  let at = 0;
  for (const b of data) {
    out[at++] = b;
    if (b === IAC) out[at++] = IAC;
  }
  return out;
}

export function negotiation(verb: number, option: number): Uint8Array {
  return Uint8Array.of(IAC, verb, option);
}

export function subnegotiation(command: number, value: Uint8Array): Uint8Array {
  return Uint8Array.of(IAC, SB, OPTION.COM_PORT, command, ...escapeData(value), IAC, SE);
}

export type TelnetEvent =
  | { kind: 'data'; bytes: Uint8Array }
  | { kind: 'negotiate'; verb: number; option: number }
  | { kind: 'subnegotiate'; option: number; payload: Uint8Array };

/** Splits an incoming byte stream into data and Telnet commands, across chunk boundaries. */
export class TelnetParser {
  private state: 'data' | 'iac' | 'verb' | 'sb' | 'sb-iac' = 'data';
  private verb = 0;
  private sb: number[] = [];

  feed(chunk: Uint8Array): TelnetEvent[] {
    const events: TelnetEvent[] = [];
    let data: number[] = [];
    const flushData = () => {
      if (data.length) events.push({ kind: 'data', bytes: Uint8Array.from(data) });
      data = [];
    };
    for (const b of chunk) {
      switch (this.state) {
        case 'data':
          if (b === IAC) this.state = 'iac';
          else data.push(b);
          break;
        case 'iac':
          if (b === IAC) {
            data.push(IAC);
            this.state = 'data';
          } else if (b === SB) {
            this.sb = [];
            this.state = 'sb';
          } else if (b === WILL || b === WONT || b === DO || b === DONT) {
            this.verb = b;
            this.state = 'verb';
          } else {
            this.state = 'data'; // NOP, GA and friends carry nothing for a serial link
          }
          break;
        case 'verb':
          flushData();
          events.push({ kind: 'negotiate', verb: this.verb, option: b });
          this.state = 'data';
          break;
        case 'sb':
          if (b === IAC) this.state = 'sb-iac';
          else this.sb.push(b);
          break;
        case 'sb-iac':
          if (b === SE) {
            flushData();
            events.push({ kind: 'subnegotiate', option: this.sb[0] ?? -1, payload: Uint8Array.from(this.sb.slice(1)) });
            this.state = 'data';
          } else {
            if (b === IAC) this.sb.push(IAC);
            this.state = 'sb';
          }
          break;
      }
    }
    flushData();
    return events;
  }
}
