// espfleet's board-facing library: transports, the board session, and the CLI factory.
export type { Transport, TransportInfo, SerialSignals, Unsubscribe } from './transport/transport.ts';
export { createTransport, registerSimBoard } from './transport/open-transport.ts';
export { TransportError } from './transport/errors.ts';
export { Rfc2217Transport } from './transport/rfc2217-transport.ts';
export { NodeSerialTransport } from './transport/node-serial-transport.ts';
export * from './session/index.ts';
export { createProgram, runCli } from './cli/program.ts';
export * from './encryption/index.ts';
