import { describe, expect, it } from 'vitest';
import { buildGraph } from './buildGraph';

const demo = {
  version: 1,
  id: 'demo',
  connections: {
    shop: { connector: 'http', config: {} },
    erp: { stored: 'my-erp' },
  },
  source: { connection: 'shop', operation: 'read', key: '$.id' },
  steps: [
    { id: 'skip_pending', type: 'filter', condition: 'record.status != "pending"' },
    { id: 'to_order', type: 'mapping', fields: [{ target: 'a' }, { target: 'b' }] },
    { id: 'tidy', type: 'script', script: 'record.x = 1;\nrecord' },
  ],
  target: { connection: 'erp', operation: 'write', on_existing: 'skip' },
};

describe('buildGraph', () => {
  it('draws source, every step in order, and target, linked in a chain', () => {
    const g = buildGraph(demo);
    expect(g.errors).toEqual([]);
    expect(g.nodes.map((n) => n.id)).toEqual(['source', 'step:skip_pending', 'step:to_order', 'step:tidy', 'target']);
    expect(g.edges.map((e) => `${e.from}>${e.to}`)).toEqual([
      'source>step:skip_pending',
      'step:skip_pending>step:to_order',
      'step:to_order>step:tidy',
      'step:tidy>target',
    ]);
    expect(g.nodes[0]).toMatchObject({ kind: 'source', connector: 'http', operation: 'read', key: '$.id' });
    expect(g.nodes[1]).toMatchObject({ stepType: 'filter', detail: 'record.status != "pending"' });
    expect(g.nodes[2]).toMatchObject({ stepType: 'mapping', detail: '2 fields' });
    expect(g.nodes[3]).toMatchObject({ stepType: 'script', detail: 'record.x = 1;' });
    expect(g.nodes[4]).toMatchObject({ kind: 'target', connector: 'stored: my-erp', onExisting: 'skip' });
  });

  it('links source to target directly when there are no steps', () => {
    const g = buildGraph({ ...demo, steps: undefined });
    expect(g.edges).toEqual([{ id: 'source->target', from: 'source', to: 'target' }]);
    expect(g.errors).toEqual([]);
  });

  it('reports undefined connections, duplicate and missing ids, and keeps drawing', () => {
    const g = buildGraph({
      ...demo,
      steps: [{ id: 'a', type: 'mapping', fields: [] }, { id: 'a', type: 'filter' }, { type: 'odd' }],
      target: { connection: 'nowhere', operation: 'write' },
    });
    expect(g.errors).toEqual([
      'two steps have the id `a`',
      'step 3 has no id',
      'the target uses connection `nowhere`, which the flow does not define',
    ]);
    expect(g.nodes.map((n) => n.id)).toEqual(['source', 'step:a', 'step:a#2', 'step:#3', 'target']);
    expect(g.nodes[3]).toMatchObject({ stepType: 'odd' });
    expect(new Set(g.edges.map((e) => e.id)).size).toBe(g.edges.length);
  });

  it('says what is missing instead of throwing', () => {
    expect(buildGraph(null)).toEqual({ nodes: [], edges: [], errors: ['the flow is not a JSON object'] });
    const g = buildGraph({ steps: 'x' });
    expect(g.errors).toEqual(['the flow has no source', '`steps` is not a list', 'the flow has no target']);
    expect(g.nodes).toEqual([]);
  });
});
