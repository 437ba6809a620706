import { describe, expect, it } from 'vitest';
import { buildGraph } from './buildGraph';
import { NODE_GAP, toFlowElements } from './layout';

describe('toFlowElements', () => {
  it('lays the nodes out in one row, typed by kind, with the graph edges', () => {
    const graph = buildGraph({
      connections: { a: { connector: 'http' }, b: { connector: 'http' } },
      source: { connection: 'a', operation: 'read' },
      steps: [{ id: 'm', type: 'mapping', fields: [] }],
      target: { connection: 'b', operation: 'write' },
    });
    const { nodes, edges } = toFlowElements(graph);
    expect(nodes.map((n) => [n.id, n.type, n.position.x, n.position.y])).toEqual([
      ['source', 'source', 0, 0],
      ['step:m', 'step', NODE_GAP, 0],
      ['target', 'target', 2 * NODE_GAP, 0],
    ]);
    expect(nodes[1].data.node).toBe(graph.nodes[1]);
    expect(edges.map((e) => [e.source, e.target])).toEqual([
      ['source', 'step:m'],
      ['step:m', 'target'],
    ]);
  });
});
