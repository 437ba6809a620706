import { describe, expect, it } from 'vitest';
import { EMPTY_FILTERS, duration, filterProblem, filtersFromQuery, filtersToQuery, runsApiQuery } from './runQuery';

describe('runsApiQuery', () => {
  it('sends only the filters that are set, days as whole UTC days', () => {
    const q = runsApiQuery(
      { key: ' 5923180000648 ', status: 'failed', flow: 'demo', from: '2026-11-01', to: '2026-11-23' },
      'demo',
    );
    expect(Object.fromEntries(q)).toEqual({
      tenant: 'demo',
      flow_id: 'demo',
      status: 'failed',
      key: '5923180000648',
      from: '2026-11-01T00:00:00Z',
      to: '2026-11-23T23:59:59Z',
      limit: '50',
    });
    expect(runsApiQuery(EMPTY_FILTERS, null, 20).toString()).toBe('limit=20');
  });
});

describe('filters in the page URL', () => {
  it('round-trip and drop what the API would refuse', () => {
    const f = { key: '#1005', status: 'succeeded' as const, flow: '', from: '2026-01-02', to: '' };
    const q = new URLSearchParams(Object.entries(filtersToQuery(f)).filter(([, v]) => v) as [string, string][]);
    expect(filtersFromQuery(q)).toEqual(f);
    expect(filtersFromQuery(new URLSearchParams('status=done&from=yesterday'))).toEqual(EMPTY_FILTERS);
  });

  it('say when the range is empty', () => {
    expect(filterProblem({ ...EMPTY_FILTERS, from: '2026-02-01', to: '2026-01-01' })).toMatch(/after/);
    expect(filterProblem({ ...EMPTY_FILTERS, from: '2026-01-01', to: '2026-01-01' })).toBeNull();
    expect(filterProblem({ ...EMPTY_FILTERS, to: '1/1/2026' })).toMatch(/To/);
  });
});

describe('duration', () => {
  it('reads for people', () => {
    expect(duration('2026-11-23T10:00:00Z', '2026-11-23T10:00:00.400Z')).toBe('0.4 s');
    expect(duration('2026-11-23T10:00:00Z', '2026-11-23T10:00:12Z')).toBe('12 s');
    expect(duration('2026-11-23T10:00:00Z', '2026-11-23T10:03:05Z')).toBe('3 min 5 s');
    expect(duration('2026-11-23T10:00:00Z', null)).toBe('');
  });
});
