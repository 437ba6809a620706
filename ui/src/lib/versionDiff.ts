// How the diff of two flow versions is shown: the API answers one `{path, from, to}` per
// changed leaf, by JSON pointer; people read `steps[1].mappings.total` and a kind of change.

import type { FlowVersion, VersionChange } from './api/types';

export type ChangeKind = 'added' | 'removed' | 'changed';

export interface DiffRow {
  /** Where in the flow: `steps[1].name` (the whole flow: `(flow)`). */
  where: string;
  kind: ChangeKind;
  /** The old and new values as JSON text ('' for the side that does not exist). */
  before: string;
  after: string;
}

/** `/steps/1/name` → `steps[1].name`, with the pointer's `~1` and `~0` escapes undone. */
export function pointerLabel(pointer: string): string {
  if (!pointer) return '(flow)';
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out;
}

const text = (v: unknown) => (v === null || v === undefined ? '' : JSON.stringify(v));

/** One row per change; the API writes a missing side as `null`, so that side was added or removed. */
export function diffRows(changes: VersionChange[]): DiffRow[] {
  return changes.map((c) => ({
    where: pointerLabel(c.path),
    kind: c.from === null ? 'added' : c.to === null ? 'removed' : 'changed',
    before: text(c.from),
    after: text(c.to),
  }));
}

/** The pair to compare first: the version before the newest, and the newest (null: fewer than two). */
export function defaultPair(versions: FlowVersion[]): { from: number; to: number } | null {
  const numbers = versions.map((v) => v.version).sort((a, b) => b - a);
  return numbers.length < 2 ? null : { from: numbers[1], to: numbers[0] };
}
