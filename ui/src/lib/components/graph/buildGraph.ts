// A flow as a graph: its source, each step in order, its target — computed from the flow JSON
// alone (the JSON is the source of truth; the graph keeps no state of its own). Problems that
// would make the drawing lie (a missing source, a connection the flow does not define, two
// steps with one id) come back in `errors` instead of throwing.

export type GraphNode =
  | { id: string; kind: 'source'; label: string; connection: string; connector: string | null; operation: string; key: string }
  | { id: string; kind: 'step'; label: string; stepType: string; detail: string }
  | { id: string; kind: 'target'; label: string; connection: string; connector: string | null; operation: string; onExisting: string };

export interface GraphEdge {
  id: string;
  from: string;
  to: string;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  errors: string[];
}

export interface BuildGraphOptions {
  /** Steps whose type the UI does not know are still drawn; this only names them. */
  unknownStepLabel?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Node ids of the ends; step nodes use `step:<id>` so a step named `source` cannot clash. */
export const SOURCE_NODE = 'source';
export const TARGET_NODE = 'target';

function connectorOf(flow: Json, connection: string, role: string, errors: string[]): string | null {
  const connections = isObject(flow.connections) ? flow.connections : {};
  const c = connections[connection];
  if (!connection) {
    errors.push(`the ${role} names no connection`);
    return null;
  }
  if (!isObject(c)) {
    errors.push(`the ${role} uses connection \`${connection}\`, which the flow does not define`);
    return null;
  }
  if (typeof c.connector === 'string') return c.connector;
  if (typeof c.stored === 'string') return `stored: ${c.stored}`;
  return null;
}

/** What a step does, in a few words. */
function stepDetail(step: Json): string {
  switch (step.type) {
    case 'mapping': {
      const n = Array.isArray(step.fields) ? step.fields.length : 0;
      return `${n} field${n === 1 ? '' : 's'}`;
    }
    case 'filter':
      return str(step.condition);
    case 'script':
      return str(step.script).split('\n')[0];
    default:
      return '';
  }
}

/** The graph of `flow` (a parsed flow JSON; anything else gives an empty graph and an error). */
export function buildGraph(flow: unknown, options: BuildGraphOptions = {}): Graph {
  const errors: string[] = [];
  if (!isObject(flow)) return { nodes: [], edges: [], errors: ['the flow is not a JSON object'] };
  const nodes: GraphNode[] = [];

  if (isObject(flow.source)) {
    const connection = str(flow.source.connection);
    nodes.push({
      id: SOURCE_NODE,
      kind: 'source',
      label: connection || 'source',
      connection,
      connector: connectorOf(flow, connection, 'source', errors),
      operation: str(flow.source.operation),
      key: str(flow.source.key) || '$.id',
    });
  } else {
    errors.push('the flow has no source');
  }

  const steps = Array.isArray(flow.steps) ? flow.steps : [];
  if (flow.steps !== undefined && !Array.isArray(flow.steps)) errors.push('`steps` is not a list');
  const seen = new Set<string>();
  steps.forEach((raw, i) => {
    const step = isObject(raw) ? raw : {};
    let id = str(step.id);
    if (!id) {
      errors.push(`step ${i + 1} has no id`);
      id = `#${i + 1}`;
    }
    if (seen.has(id)) {
      errors.push(`two steps have the id \`${id}\``);
      id = `${id}#${i + 1}`;
    }
    seen.add(id);
    const known = ['mapping', 'filter', 'script'].includes(str(step.type));
    nodes.push({
      id: `step:${id}`,
      kind: 'step',
      label: id,
      stepType: known ? str(step.type) : options.unknownStepLabel ?? (str(step.type) || 'unknown'),
      detail: stepDetail(step),
    });
  });

  if (isObject(flow.target)) {
    const connection = str(flow.target.connection);
    nodes.push({
      id: TARGET_NODE,
      kind: 'target',
      label: connection || 'target',
      connection,
      connector: connectorOf(flow, connection, 'target', errors),
      operation: str(flow.target.operation),
      onExisting: str(flow.target.on_existing) || 'update',
    });
  } else {
    errors.push('the flow has no target');
  }

  // Records pass through the nodes in order: one edge between each neighbour pair.
  const edges = nodes.slice(1).map((node, i) => ({
    id: `${nodes[i].id}->${node.id}`,
    from: nodes[i].id,
    to: node.id,
  }));
  return { nodes, edges, errors };
}
