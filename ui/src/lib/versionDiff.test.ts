import { describe, expect, it } from 'vitest';
import type { FlowVersion } from './api/types';
import { defaultPair, diffRows, pointerLabel } from './versionDiff';

describe('pointerLabel', () => {
  it('reads a JSON pointer as a field path', () => {
    expect(pointerLabel('/steps/1/mappings/total')).toBe('steps[1].mappings.total');
    expect(pointerLabel('/name')).toBe('name');
    expect(pointerLabel('/connections/a~1b/config/x~0y')).toBe('connections.a/b.config.x~y');
    expect(pointerLabel('')).toBe('(flow)');
  });
});

describe('diffRows', () => {
  it('says what was added, removed or changed, with JSON values', () => {
    const rows = diffRows([
      { path: '/name', from: 'Orders', to: 'Orders v2' },
      { path: '/steps/2', from: null, to: { id: 'x', type: 'filter' } },
      { path: '/description', from: 'old', to: null },
      { path: '/source/params/query/limit', from: 15, to: 50 },
    ]);
    expect(rows).toEqual([
      { where: 'name', kind: 'changed', before: '"Orders"', after: '"Orders v2"' },
      { where: 'steps[2]', kind: 'added', before: '', after: '{"id":"x","type":"filter"}' },
      { where: 'description', kind: 'removed', before: '"old"', after: '' },
      { where: 'source.params.query.limit', kind: 'changed', before: '15', after: '50' },
    ]);
  });
});

describe('defaultPair', () => {
  const v = (version: number): FlowVersion => ({ flow_id: 'f', version, hash: 'h', published_by: 'a', created_at: '' });

  it('compares the newest version with the one before', () => {
    expect(defaultPair([v(3), v(2), v(1)])).toEqual({ from: 2, to: 3 });
    expect(defaultPair([v(1), v(4)])).toEqual({ from: 1, to: 4 });
  });

  it('offers nothing with fewer than two versions', () => {
    expect(defaultPair([v(1)])).toBeNull();
    expect(defaultPair([])).toBeNull();
  });
});
