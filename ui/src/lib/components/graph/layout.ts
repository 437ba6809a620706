// Where Svelte Flow draws the graph's nodes: one row, left to right, in record order. Node
// positions are the only state the drawing adds to `buildGraph`'s answer (the flow JSON stays
// the source of truth).

import type { Graph, GraphNode } from './buildGraph';

/** Horizontal distance between two nodes' left edges, in pixels. */
export const NODE_GAP = 230;

/** Node data by node type: the graph node itself. */
export type FlowNodeData = { node: GraphNode };

export interface FlowElements {
  nodes: { id: string; type: GraphNode['kind']; position: { x: number; y: number }; data: FlowNodeData; draggable: boolean }[];
  edges: { id: string; source: string; target: string; animated: boolean }[];
}

/** Svelte Flow's nodes and edges of `graph`. */
export function toFlowElements(graph: Graph): FlowElements {
  return {
    nodes: graph.nodes.map((node, i) => ({
      id: node.id,
      type: node.kind,
      position: { x: i * NODE_GAP, y: 0 },
      data: { node },
      draggable: false,
    })),
    edges: graph.edges.map((e) => ({ id: e.id, source: e.from, target: e.to, animated: true })),
  };
}
