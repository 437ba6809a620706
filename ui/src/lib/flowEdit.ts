// The flow editor's logic, kept out of the components so it can be tested: edit operations on
// a flow definition (the flow JSON, the editor's only state: every operation returns a new
// definition and never changes its argument), the source kinds a mapping field can have,
// constants and value-map entries as the user types them, and the problems of the API
// (validation issues by path, preview field errors by output field) sorted to the step or
// field they belong to.

export type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Where a mapping field sits: the step's index, then the index in the step's `fields`, then,
 * for a field inside a `for_each` field, its index in that field's `value.fields`, and so on.
 */
export interface FieldLocation {
  step: number;
  fields: number[];
}

/** The key issues and errors are filed under: `s1` (a step), `s1/f3/f0` (a field). */
export function locationKey(step: number, fields: number[] = []): string {
  return [`s${step}`, ...fields.map((f) => `f${f}`)].join('/');
}

// ---------------------------------------------------------------------------------------------
// Reading and writing the definition

function steps(def: Json): Json[] {
  return Array.isArray(def.steps) ? (def.steps as Json[]) : [];
}

/** A copy of `def` with `steps[index]` replaced by what `change` makes of it. */
function withStep(def: Json, index: number, change: (step: Json) => Json): Json {
  const list = steps(def);
  if (!isObject(list[index])) throw new Error(`the flow has no step ${index}`);
  return { ...def, steps: list.map((s, i) => (i === index ? change(s) : s)) };
}

/** A copy of a field list with the field at `path` replaced by what `change` makes of its list. */
function withFieldList(fields: Json[], path: number[], change: (list: Json[]) => Json[]): Json[] {
  if (path.length === 0) return change(fields);
  const [head, ...rest] = path;
  const field = fields[head];
  if (!isObject(field) || !isObject(field.value) || !Array.isArray(field.value.fields)) {
    throw new Error(`field ${head} is not a for_each field`);
  }
  const value = field.value as Json;
  const inner = withFieldList(value.fields as Json[], rest, change);
  return fields.map((f, i) => (i === head ? { ...field, value: { ...value, fields: inner } } : f));
}

/** Changes the list that holds the field at `loc` (its parent's list), given the field's index in it. */
function withSiblings(def: Json, loc: FieldLocation, change: (list: Json[], index: number) => Json[]): Json {
  const parent = loc.fields.slice(0, -1);
  const index = loc.fields[loc.fields.length - 1];
  return withStep(def, loc.step, (step) => ({
    ...step,
    fields: withFieldList(Array.isArray(step.fields) ? (step.fields as Json[]) : [], parent, (list) => change(list, index)),
  }));
}

/** The field at `loc`, or null. */
export function fieldAt(def: Json, loc: FieldLocation): Json | null {
  let list: unknown = steps(def)[loc.step]?.fields;
  let field: unknown = null;
  for (const i of loc.fields) {
    if (!Array.isArray(list)) return null;
    field = list[i];
    if (!isObject(field)) return null;
    list = isObject(field.value) ? field.value.fields : undefined;
  }
  return isObject(field) ? field : null;
}

/** Moves element `index` of `list` by `delta` (-1 up, 1 down); out of range leaves it. */
function moved<T>(list: T[], index: number, delta: number): T[] {
  const to = index + delta;
  if (index < 0 || index >= list.length || to < 0 || to >= list.length) return list;
  const out = [...list];
  const [item] = out.splice(index, 1);
  out.splice(to, 0, item);
  return out;
}

/** A copy of `def` with the value at `path` (object keys) set; `undefined` removes the key. */
export function setIn(def: Json, path: string[], value: unknown): Json {
  const [head, ...rest] = path;
  if (rest.length === 0) {
    const out = { ...def };
    if (value === undefined) delete out[head];
    else out[head] = value;
    return out;
  }
  const inner = isObject(def[head]) ? (def[head] as Json) : {};
  return { ...def, [head]: setIn(inner, rest, value) };
}

// ---------------------------------------------------------------------------------------------
// Steps

export type StepType = 'mapping' | 'filter' | 'script';
export const STEP_TYPES: StepType[] = ['mapping', 'filter', 'script'];

/** An id no step of `def` has yet: `base`, else `base_2`, `base_3`, … */
export function freeStepId(def: Json, base: string): string {
  const taken = new Set(steps(def).map((s) => s.id));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}_${n}`)) return `${base}_${n}`;
}

/** A new step of `type`, valid as it is (a filter that keeps every record, a script that changes nothing). */
export function newStep(def: Json, type: StepType): Json {
  switch (type) {
    case 'mapping':
      return { id: freeStepId(def, 'map'), type, fields: [newField()] };
    case 'filter':
      return { id: freeStepId(def, 'filter'), type, condition: 'true' };
    case 'script':
      return { id: freeStepId(def, 'script'), type, script: 'record' };
  }
}

export function addStep(def: Json, type: StepType): Json {
  return { ...def, steps: [...steps(def), newStep(def, type)] };
}

export function removeStep(def: Json, index: number): Json {
  return { ...def, steps: steps(def).filter((_, i) => i !== index) };
}

export function moveStep(def: Json, index: number, delta: number): Json {
  return { ...def, steps: moved(steps(def), index, delta) };
}

/** Sets a property of step `index` (`id`, `condition`, `script`, `on_error`); `undefined` removes it. */
export function setStepProp(def: Json, index: number, key: string, value: unknown): Json {
  return withStep(def, index, (step) => setIn(step, [key], value));
}

// ---------------------------------------------------------------------------------------------
// Mapping fields

export function newField(target = ''): Json {
  return { target, value: { type: 'jsonpath', path: '$.', cardinality: 'first' } };
}

/** Appends a new field to the list at `parent` (`fields: []` is the step's own list). */
export function addField(def: Json, parent: FieldLocation): Json {
  return withStep(def, parent.step, (step) => ({
    ...step,
    fields: withFieldList(Array.isArray(step.fields) ? (step.fields as Json[]) : [], parent.fields, (list) => [
      ...list,
      newField(),
    ]),
  }));
}

export function removeField(def: Json, loc: FieldLocation): Json {
  return withSiblings(def, loc, (list, index) => list.filter((_, i) => i !== index));
}

export function moveField(def: Json, loc: FieldLocation, delta: number): Json {
  return withSiblings(def, loc, (list, index) => moved(list, index, delta));
}

/** Sets a property of the field at `loc` (`target`, `transform`, `default`, …); `undefined` or `''`
 * for an optional one removes it, so an emptied transform does not linger as `""`. */
export function setFieldProp(def: Json, loc: FieldLocation, key: string, value: unknown): Json {
  const optional = key !== 'target' && key !== 'value';
  const gone = value === undefined || (optional && value === '') || (key === 'omit_if_missing' && value === false);
  return withSiblings(def, loc, (list, index) =>
    list.map((f, i) => (i === index ? setIn(f, [key], gone ? undefined : value) : f)),
  );
}

/** Sets a property of the field's `value` (`path`, `cardinality`, `script`, …). */
export function setValueProp(def: Json, loc: FieldLocation, key: string, value: unknown): Json {
  return withSiblings(def, loc, (list, index) =>
    list.map((f, i) => (i === index ? setIn(f, ['value', key], value) : f)),
  );
}

/**
 * Where a field's value comes from, as the editor offers it. `rhai` (one expression) and
 * `rhai_script` (several statements) are the same in the file; `value_map` uses an inline map,
 * `named_map` one of the flow's `value_maps`.
 */
export type SourceKind = 'jsonpath' | 'rhai' | 'rhai_script' | 'static' | 'template' | 'value_map' | 'named_map' | 'for_each';

/** A value of a type the editor does not know (newer than the UI): edited in the JSON view. */
export const OTHER_KIND = 'other';

export const SOURCE_KINDS: { kind: SourceKind; label: string }[] = [
  { kind: 'jsonpath', label: 'JSONPath query' },
  { kind: 'rhai', label: 'Rhai expression' },
  { kind: 'rhai_script', label: 'Rhai script' },
  { kind: 'static', label: 'Constant' },
  { kind: 'template', label: 'Text template' },
  { kind: 'value_map', label: 'Value map' },
  { kind: 'named_map', label: 'Named table' },
  { kind: 'for_each', label: 'For each (array)' },
];

/** The kind of a field value as the editor shows it. */
export function sourceKind(value: unknown): SourceKind | typeof OTHER_KIND {
  if (!isObject(value)) return OTHER_KIND;
  switch (value.type) {
    case 'rhai':
      return typeof value.script === 'string' && value.script.includes('\n') ? 'rhai_script' : 'rhai';
    case 'static':
    case 'template':
    case 'for_each':
    case 'jsonpath':
      return value.type;
    case 'value_map':
      return typeof value.map === 'string' ? 'named_map' : 'value_map';
    default:
      return OTHER_KIND;
  }
}

/** The field value of a new kind, keeping what carries over (a query's path, a script's text). */
export function convertValue(value: unknown, kind: SourceKind, valueMapNames: string[] = []): Json {
  const old = isObject(value) ? value : {};
  const path = typeof old.path === 'string' ? old.path : '$.';
  const script = typeof old.script === 'string' ? old.script : typeof old.path === 'string' ? `record${old.path.slice(1)}` : 'record';
  switch (kind) {
    case 'jsonpath':
      return { type: 'jsonpath', path, cardinality: 'first' };
    case 'rhai':
      return { type: 'rhai', script: script.split('\n').join(' ') };
    case 'rhai_script':
      return { type: 'rhai', script: script.includes('\n') ? script : `let v = ${script};\nv` };
    case 'static':
      return { type: 'static', value: old.type === 'static' ? old.value : '' };
    case 'template':
      return { type: 'template', template: typeof old.template === 'string' ? old.template : `{${path}}` };
    case 'value_map':
      return { type: 'value_map', path, inline: isObject(old.inline) ? old.inline : { entries: {}, fail_if_unmapped: true } };
    case 'named_map':
      return { type: 'value_map', path, map: typeof old.map === 'string' ? old.map : (valueMapNames[0] ?? '') };
    case 'for_each':
      return { type: 'for_each', path: path.endsWith('[*]') ? path : `${path}[*]`, fields: [newField()] };
  }
}

export function setSourceKind(def: Json, loc: FieldLocation, kind: SourceKind): Json {
  const field = fieldAt(def, loc);
  const names = isObject(def.value_maps) ? Object.keys(def.value_maps) : [];
  return setFieldProp(def, loc, 'value', convertValue(field?.value, kind, names));
}

// ---------------------------------------------------------------------------------------------
// Named tables (the flow's `value_maps`)

/** A new table named `name` (refused when the name is empty or taken: the message says why). */
export function addValueMap(def: Json, name: string): Json | string {
  const key = name.trim();
  const maps = isObject(def.value_maps) ? def.value_maps : {};
  if (!key) return 'give the table a name';
  if (key in maps) return `a table \`${key}\` exists already`;
  return { ...def, value_maps: { ...maps, [key]: { entries: {}, fail_if_unmapped: true } } };
}

/** Replaces table `name`; `undefined` removes it (and `value_maps` when it was the last). */
export function setValueMap(def: Json, name: string, map: Json | undefined): Json {
  const maps = { ...(isObject(def.value_maps) ? def.value_maps : {}) };
  if (map === undefined) delete maps[name];
  else maps[name] = map;
  return setIn(def, ['value_maps'], Object.keys(maps).length ? maps : undefined);
}

/** A map's unlisted-value policy: a default (the value kept, `''` when new) or failing the record. */
export function withUnmappedPolicy(map: Json, policy: 'default' | 'fail'): Json {
  const next: Json = { entries: isObject(map.entries) ? map.entries : {} };
  if (policy === 'default') next.default = map.default ?? '';
  else next.fail_if_unmapped = true;
  return next;
}

// ---------------------------------------------------------------------------------------------
// Constants and value-map entries as typed

/**
 * A constant as typed: JSON when it is JSON (`12`, `true`, `"12"`, `{"a": 1}`), otherwise the
 * text itself, so `EUR` needs no quotes.
 */
export function constantFromText(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return '';
  try {
    return JSON.parse(trimmed);
  } catch {
    return text;
  }
}

/** The text a constant is shown as: the inverse of `constantFromText`. */
export function constantToText(value: unknown): string {
  if (typeof value === 'string') {
    // A string that would read back as something else keeps its quotes.
    return constantFromText(value) === value ? value : JSON.stringify(value);
  }
  return value === undefined ? '' : JSON.stringify(value);
}

/** A value map's entries as lines `source = target` (the target as `constantToText` writes it). */
export function entriesToText(entries: unknown): string {
  if (!isObject(entries)) return '';
  return Object.entries(entries)
    .map(([k, v]) => `${k} = ${constantToText(v)}`)
    .join('\n');
}

export type EntriesParse = { ok: true; entries: Json } | { ok: false; message: string };

/** Lines `source = target` back to entries; a line without `=` or a repeated source is an error naming its line. */
export function entriesFromText(text: string): EntriesParse {
  const entries: Json = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim()) continue;
    const cut = line.indexOf('=');
    if (cut < 0) return { ok: false, message: `line ${i + 1}: write \`source = target\`` };
    const key = line.slice(0, cut).trim();
    if (!key) return { ok: false, message: `line ${i + 1}: the source value is empty` };
    if (key in entries) return { ok: false, message: `line ${i + 1}: \`${key}\` is listed twice` };
    entries[key] = constantFromText(line.slice(cut + 1).trim());
  }
  return { ok: true, entries };
}

// ---------------------------------------------------------------------------------------------
// Target settings

/** A whole number from an input: empty removes the setting (its default applies). */
export function numberSetting(text: string): number | undefined | null {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const n = Number(trimmed);
  return Number.isInteger(n) ? n : null;
}

// ---------------------------------------------------------------------------------------------
// The JSON view

export type DefinitionParse = { ok: true; value: Json } | { ok: false; message: string; line: number | null; column: number | null };

/** Line and column (1-based) of character `position` of `text`. */
export function lineColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return { line, column: position - before.lastIndexOf('\n') };
}

/** The JSON view's text as a definition, or where its JSON is wrong. */
export function parseDefinition(text: string): DefinitionParse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const lc = message.match(/line (\d+) column (\d+)/);
    if (lc) return { ok: false, message, line: Number(lc[1]), column: Number(lc[2]) };
    // Browsers differ in whether their message has a position; find it ourselves when not.
    const pos = message.match(/position (\d+)/);
    const { line, column } = lineColumn(text, pos ? Number(pos[1]) : jsonErrorOffset(text));
    return { ok: false, message, line, column };
  }
  if (!isObject(value)) return { ok: false, message: 'A flow is a JSON object ({…}).', line: 1, column: 1 };
  return { ok: true, value };
}

/**
 * The offset of the first JSON syntax error in `text` (its length when the text ends too
 * early): a small scanner, because not every browser's `JSON.parse` message says where.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) if (text[i++] !== ch) ((i -= 1), fail());
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] < ' ') fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) ((i += k), fail());
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const m = text.slice(i).match(/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/);
    if (!m) fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    }
    if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    if (ch === '-' || (ch >= '0' && ch <= '9')) return number();
    fail();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (at) {
    if (typeof at === 'number') return Math.min(at, text.length);
    throw at;
  }
  return text.length;
}

export function definitionText(def: unknown): string {
  return JSON.stringify(def, null, 2);
}

/** Whether two definitions are the same JSON (key order aside). */
export function sameDefinition(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

// ---------------------------------------------------------------------------------------------
// Problems, sorted to where they belong

/** One problem of a flow: an API validation issue or a preview field error. */
export interface Problem {
  /** The field path in the flow (`steps[1].fields[0].value.path`), or the output field for a preview error. */
  where: string;
  message: string;
}

/** Problems by `locationKey`, and the rest (not in a step: `target.batch_size`, `id`, …). */
export interface SortedProblems {
  byLocation: Map<string, Problem[]>;
  general: Problem[];
}

function file(sorted: SortedProblems, key: string | null, problem: Problem) {
  if (key === null) {
    sorted.general.push(problem);
    return;
  }
  const list = sorted.byLocation.get(key) ?? [];
  list.push(problem);
  sorted.byLocation.set(key, list);
}

/**
 * The location of a flow path: `steps[2].fields[0].value.fields[1].transform` → step 2, fields
 * [0, 1] and the rest `transform`; `steps[1].condition` → step 1. Null when not in a step.
 */
export function locateIssuePath(path: string): { step: number; fields: number[]; rest: string } | null {
  const stepMatch = path.match(/^steps\[(\d+)\]\.?/);
  if (!stepMatch) return null;
  let rest = path.slice(stepMatch[0].length);
  const fields: number[] = [];
  const first = rest.match(/^fields\[(\d+)\]\.?/);
  if (first) {
    fields.push(Number(first[1]));
    rest = rest.slice(first[0].length);
    for (let m = rest.match(/^value\.fields\[(\d+)\]\.?/); m; m = rest.match(/^value\.fields\[(\d+)\]\.?/)) {
      fields.push(Number(m[1]));
      rest = rest.slice(m[0].length);
    }
  }
  return { step: Number(stepMatch[1]), fields, rest };
}

/** An issue as the API gives it: validate (`{path, step_id, message, line, column}`) or preview (`{path, step, message}`). */
export interface FlowIssue {
  path: string;
  message: string;
  step_id?: string | null;
  step?: string | null;
  line?: number | null;
  column?: number | null;
}

/** The issues of a 422 answer's details: `{issues: [...]}` (save, create) or a plain array (preview). */
export function issuesOfDetails(details: unknown): FlowIssue[] {
  const list = Array.isArray(details) ? details : isObject(details) && Array.isArray(details.issues) ? details.issues : [];
  return list.flatMap((i) =>
    isObject(i) && typeof i.message === 'string' ? [{ ...(i as Json), path: typeof i.path === 'string' ? i.path : '', message: i.message } as FlowIssue] : [],
  );
}

/** Validation issues filed under their step or field. */
export function sortIssues(issues: FlowIssue[]): SortedProblems {
  const sorted: SortedProblems = { byLocation: new Map(), general: [] };
  for (const issue of issues) {
    // The API's line and column refer to the JSON text it was sent (one line: the UI sends it
    // compact), so the path alone says where.
    const loc = locateIssuePath(issue.path);
    file(sorted, loc ? locationKey(loc.step, loc.fields) : null, { where: loc ? loc.rest : issue.path, message: issue.message });
  }
  return sorted;
}

const anyIndex = (s: string) => s.replace(/\[(\d+|\*)\]/g, '[*]');

/**
 * The field (index path in `fields`) that wrote the output field `name` a preview error names:
 * `customer.country`, `lines[2].unit_price` (element 2 of the `for_each` field `lines`), or
 * `lines[0].sku` for a field written as `lines[*].sku`. Null when no field matches.
 */
export function locateOutputField(fields: unknown, name: string): number[] | null {
  if (!Array.isArray(fields)) return null;
  let prefix: number[] | null = null;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (!isObject(f) || typeof f.target !== 'string') continue;
    const target = f.target;
    if (target === name || anyIndex(target) === anyIndex(name)) return [i];
    const inside = name.match(new RegExp(`^${escapeRegExp(target)}\\[\\d+\\]\\.(.+)$`));
    if (inside && isObject(f.value) && f.value.type === 'for_each') {
      const nested = locateOutputField(f.value.fields, inside[1]);
      return nested ? [i, ...nested] : [i];
    }
    if (prefix === null && (name.startsWith(`${target}.`) || name.startsWith(`${target}[`))) prefix = [i];
  }
  return prefix;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A preview's field errors (`{step, errors: [{field, message}]}`) filed under their field, or their step. */
export function sortPreviewErrors(def: Json, stepId: string, errors: { field: string; message: string }[]): SortedProblems {
  const sorted: SortedProblems = { byLocation: new Map(), general: [] };
  const index = steps(def).findIndex((s) => s.id === stepId);
  for (const e of errors) {
    const problem = { where: e.field, message: e.message };
    if (index < 0) {
      file(sorted, null, problem);
      continue;
    }
    const fields = e.field ? locateOutputField(steps(def)[index].fields, e.field) : null;
    file(sorted, locationKey(index, fields ?? []), problem);
  }
  return sorted;
}

// ---------------------------------------------------------------------------------------------
// New flows

/** A flow to start from: reads JSON from one HTTP API and writes it to another, one mapping step. */
export function skeletonFlow(id: string, name: string, tenant: string | null): Json {
  return {
    version: 1,
    id,
    name,
    ...(tenant ? { tenant } : {}),
    connections: {
      source: { connector: 'http', config: { base_url: 'https://source.example.com' } },
      target: { connector: 'http', config: { base_url: 'https://target.example.com' } },
    },
    source: { connection: 'source', operation: 'read', params: { path: '/records', records_path: '' }, key: '$.id' },
    steps: [
      {
        id: 'map',
        type: 'mapping',
        fields: [{ target: 'id', value: { type: 'jsonpath', path: '$.id', cardinality: 'required' } }],
      },
    ],
    target: { connection: 'target', operation: 'write', params: { path: '/records', method: 'POST' } },
  };
}
