// What every part of the flow editor needs from the page: a way to change the definition, and
// the problems (validation issues, preview errors) filed under a step or field.

import { getContext, setContext } from 'svelte';
import type { Json, Problem } from '../../flowEdit';

export interface FlowEditorContext {
  /** Replaces the definition by what `change` makes of it; `structural` for add/remove/move
   * (problems filed by position no longer point at the right place). */
  edit(change: (def: Json) => Json, structural?: boolean): void;
  /** Problems filed under `locationKey(step, fields)`. */
  problemsAt(key: string): Problem[];
}

const KEY = Symbol('flow-editor');

export function setFlowEditorContext(cx: FlowEditorContext): void {
  setContext(KEY, cx);
}

export function getFlowEditorContext(): FlowEditorContext {
  const cx = getContext<FlowEditorContext | undefined>(KEY);
  if (!cx) throw new Error('flow editor parts must sit inside FlowEditor');
  return cx;
}
