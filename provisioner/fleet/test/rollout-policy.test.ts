// Parsing the rollout policy: every accepted spelling, and errors that name the option.
import { describe, expect, it } from 'vitest';
import { FleetError } from '../errors.ts';
import { parseDuration, parseMaxFailures, parsePolicy, parseRate, parseWaves } from '../rollout-policy.ts';

function failure(f: () => unknown): FleetError {
  try {
    f();
  } catch (e) {
    if (e instanceof FleetError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('rollout policy', () => {
  it.each([
    ['1,10%,50%,100%', [{ kind: 'count', n: 1 }, { kind: 'percent', p: 10 }, { kind: 'percent', p: 50 }, { kind: 'percent', p: 100 }]],
    ['100%', [{ kind: 'percent', p: 100 }]],
    [' 5 , 20, 100% ', [{ kind: 'count', n: 5 }, { kind: 'count', n: 20 }, { kind: 'percent', p: 100 }]],
    ['2.5%,100%', [{ kind: 'percent', p: 2.5 }, { kind: 'percent', p: 100 }]],
  ])('--waves %s', (text, waves) => expect(parseWaves(text)).toEqual(waves));

  it.each([
    ['', /--waves "": a comma-separated list/],
    ['1,10%', /--waves "1,10%": the last wave must be 100%/],
    ['1,,100%', /comma-separated/],
    ['0,100%', /0 is neither a board count/],
    ['50%,10%,100%', /cumulative.*50% then 10%/],
    ['10,5,100%', /cumulative.*10 then 5/],
    ['150%', /150% is not a percentage/],
    ['x,100%', /x is neither/],
  ])('--waves %j is refused', (text, message) => {
    const e = failure(() => parseWaves(text));
    expect(e.code).toBe('fleet.policy.bad_value');
    expect(e.message).toMatch(message);
    expect(e.hint).toContain('--waves 1,10%,50%,100%');
  });

  it.each([
    ['50/min', { count: 50, perMs: 60_000 }],
    ['5/s', { count: 5, perMs: 1000 }],
    ['1000/h', { count: 1000, perMs: 3_600_000 }],
    ['100/10m', { count: 100, perMs: 600_000 }],
  ])('--rate %s', (text, rate) => expect(parseRate(text)).toEqual(rate));

  it.each(['50', '0/min', '5/fortnight', '/min', '-1/s'])('--rate %j is refused naming --rate', (text) => {
    expect(failure(() => parseRate(text)).message).toMatch(/^--rate .*boards per time/);
  });

  it('--max-failures, durations, --min-sample, --pause-between', () => {
    expect(parseMaxFailures('2%')).toEqual({ kind: 'percent', p: 2 });
    expect(parseMaxFailures('3')).toEqual({ kind: 'count', n: 3 });
    expect(parseMaxFailures('0')).toEqual({ kind: 'count', n: 0 });
    expect(failure(() => parseMaxFailures('100%')).message).toMatch(/^--max-failures "100%"/);
    expect(failure(() => parseMaxFailures('lots')).message).toMatch(/^--max-failures "lots": a number of boards/);
    expect(parseDuration('15m', '--device-timeout')).toBe(900_000);
    expect(parseDuration('1.5s', '--device-timeout')).toBe(1500);
    expect(parseDuration('250', '--device-timeout')).toBe(250);
    expect(failure(() => parseDuration('soon', '--device-timeout')).message).toMatch(/^--device-timeout "soon": expected a duration/);
    expect(failure(() => parsePolicy({ deviceTimeout: '0s' })).message).toMatch(/^--device-timeout "0s": must be longer than 0/);
    expect(failure(() => parsePolicy({ minSample: '-1' })).message).toMatch(/^--min-sample "-1"/);
    expect(parsePolicy({ pauseBetween: 'manual' }).pauseBetween).toBe('manual');
    expect(parsePolicy({ pauseBetween: '10m' }).pauseBetween).toBe(600_000);
  });

  it('defaults: the issue\'s example policy', () => {
    expect(parsePolicy()).toEqual({
      waves: parseWaves('1,10%,50%,100%'),
      rate: { count: 50, perMs: 60_000 },
      maxFailures: { kind: 'percent', p: 2 },
      minSample: 20,
      deviceTimeoutMs: 900_000,
      pauseBetween: 0,
      allowDowngrade: false,
    });
  });
});
