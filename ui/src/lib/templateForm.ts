// The template enable form: the request body from what was chosen and typed, and the API's
// 422 problems placed next to the field they name (`connections.<slot>`, `settings.<name>`).

import type { Template, TemplateSetting } from './api/types';
import type { FieldProblem } from './api/errors';

export interface EnableForm {
  /** Slot → chosen stored connection name ('' = none chosen yet). */
  connections: Record<string, string>;
  /** Setting → text as typed (JSON for lists and maps; plain text for strings). */
  settings: Record<string, string>;
}

/** How a setting's value is shown in its input. */
export function settingText(setting: TemplateSetting): string {
  const v = setting.default;
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A fresh form: no connection chosen, each setting at its default. */
export function initialForm(t: Template): EnableForm {
  return {
    connections: Object.fromEntries(Object.keys(t.slots).map((slot) => [slot, ''])),
    settings: Object.fromEntries(Object.entries(t.settings).map(([name, s]) => [name, settingText(s)])),
  };
}

/**
 * The body of `POST …/templates/{id}/enable`: chosen connections, and the settings that differ
 * from their default, typed as the template says (`problems` lists text that does not parse).
 */
export function enableBody(t: Template, form: EnableForm): {
  body: { connections: Record<string, string>; settings: Record<string, unknown> };
  problems: FieldProblem[];
} {
  const connections: Record<string, string> = {};
  for (const [slot, name] of Object.entries(form.connections)) if (name) connections[slot] = name;
  const settings: Record<string, unknown> = {};
  const problems: FieldProblem[] = [];
  for (const [name, spec] of Object.entries(t.settings)) {
    const text = form.settings[name] ?? '';
    if (text === settingText(spec)) continue;
    if (spec.type === 'string') {
      settings[name] = text;
      continue;
    }
    try {
      settings[name] = JSON.parse(text);
    } catch {
      problems.push({ field: `settings.${name}`, message: `setting \`${name}\` must be JSON of type ${spec.type}` });
    }
  }
  return { body: { connections, settings }, problems };
}

/** Problems by field; those naming no field of the form are kept under `''`. */
export function problemsByField(t: Template, problems: FieldProblem[]): Record<string, string[]> {
  const known = new Set([
    ...Object.keys(t.slots).map((s) => `connections.${s}`),
    ...Object.keys(t.settings).map((s) => `settings.${s}`),
  ]);
  const out: Record<string, string[]> = {};
  for (const p of problems) {
    const key = known.has(p.field) ? p.field : '';
    (out[key] ??= []).push(p.message);
  }
  return out;
}
