// The clock and network a virtual board gets when a test injects none: the host's own
// time and TCP stack (fleet tests inject their own to step time and share loopback).
import { connect } from 'node:net';
import type { Clock, Network } from './firmware-host.ts';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const hostNetwork: Network = {
  connect: ({ host, port }) => connect({ host, port }),
};
