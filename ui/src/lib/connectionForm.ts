// The connection form: its fields from a connector's config schema (JSON Schema by schemars),
// the create/patch body from what was typed, and the API's 4xx errors placed next to the field
// they name. Credentials are write-only: their inputs start empty, and on edit an empty one
// keeps the stored value (the PATCH is a JSON merge patch, so a key left out is kept).

import type { FieldProblem } from './api/errors';
import type { Connection, ConnectorInfo } from './api/types';

export type FieldKind = 'text' | 'number' | 'boolean' | 'choice' | 'json' | 'secret';

/** One input of the form, keyed by its dot path in the config (`base_url`, `auth.token`). */
export interface ConfigField {
  path: string;
  help: string;
  kind: FieldKind;
  required: boolean;
  /** The values a `choice` offers. */
  choices: string[];
  /** The schema's default, as the input shows it ('' = none). */
  initial: string;
  /** Shown (and sent) only while the choice at `path` holds `value`: one variant of a tagged union. */
  when?: { path: string; value: string };
}

/** What the user typed, by field path; the name only matters when creating. */
export interface ConnectionForm {
  name: string;
  connector: string;
  values: Record<string, string>;
}

type Schema = Record<string, unknown>;

/** The tag serde gives our tagged enums (`#[serde(tag = "type")]`). */
const TAG = 'type';

function resolve(root: Schema, schema: Schema | undefined): Schema {
  const ref = schema?.$ref;
  if (typeof ref !== 'string') return schema ?? {};
  const name = ref.replace(/^#\/(\$defs|definitions)\//, '');
  const defs = (root.$defs ?? root.definitions ?? {}) as Record<string, Schema>;
  // Keywords next to the `$ref` (description, default) describe this use of the type.
  const { $ref: _ref, ...here } = schema as Schema;
  return { ...(defs[name] ?? {}), ...here };
}

function typeOf(schema: Schema): string | undefined {
  const t = schema.type;
  if (Array.isArray(t)) return t.find((x) => x !== 'null') as string | undefined;
  return typeof t === 'string' ? t : undefined;
}

/** The constant strings of an enum (`enum: [...]` or a `oneOf` of `const`s), or null. */
function enumValues(root: Schema, schema: Schema): string[] | null {
  if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === 'string')) return schema.enum as string[];
  const variants = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (!Array.isArray(variants)) return null;
  const consts = variants.map((v) => resolve(root, v).const);
  return consts.every((c) => typeof c === 'string') ? (consts as string[]) : null;
}

/** The variants of a tagged union: each one's tag value and schema, or null. */
function taggedVariants(root: Schema, schema: Schema): { tag: string; schema: Schema }[] | null {
  const variants = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  if (!Array.isArray(variants)) return null;
  const out = variants.map((v) => {
    const variant = resolve(root, v);
    const tag = resolve(root, (variant.properties as Record<string, Schema> | undefined)?.[TAG]).const;
    return typeof tag === 'string' ? { tag, schema: variant } : null;
  });
  return out.every((v) => v !== null) ? (out as { tag: string; schema: Schema }[]) : null;
}

function initialText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Whether `path` is a credential of the connector (`headers.*` covers every header). */
export function isCredential(credentials: string[], path: string): boolean {
  return credentials.some((c) => c === path || (c.endsWith('.*') && path === c.slice(0, -2)));
}

function leaf(root: Schema, credentials: string[], path: string, raw: Schema, required: boolean): ConfigField {
  const schema = resolve(root, raw);
  const base = {
    path,
    help: typeof schema.description === 'string' ? schema.description : '',
    required,
    choices: [] as string[],
    initial: initialText(schema.default),
  };
  const choices = enumValues(root, schema);
  if (choices) return { ...base, kind: 'choice', choices, initial: base.initial || (required ? choices[0] : '') };
  const type = typeOf(schema);
  // A credential map (`headers.*`) stays JSON: the API shows its values as "<set>", and
  // "<set>" sent back keeps the stored one.
  if (isCredential(credentials, path) && type === 'string') return { ...base, kind: 'secret', initial: '' };
  if (type === 'string') return { ...base, kind: 'text' };
  if (type === 'integer' || type === 'number') return { ...base, kind: 'number' };
  if (type === 'boolean') return { ...base, kind: 'boolean', initial: base.initial || 'false' };
  return { ...base, kind: 'json' };
}

/**
 * The form's fields for a connector, in the schema's order. A tagged union (the http
 * connector's `auth`) becomes a choice of its tag plus each variant's fields, shown only
 * while that variant is chosen; anything else that is not a scalar is typed as JSON.
 */
export function configFields(connector: ConnectorInfo): ConfigField[] {
  const root = connector.config_schema;
  const required = new Set((root.required as string[] | undefined) ?? []);
  const fields: ConfigField[] = [];
  for (const [name, raw] of Object.entries((root.properties ?? {}) as Record<string, Schema>)) {
    const schema = resolve(root, raw);
    const variants = taggedVariants(root, schema);
    if (!variants) {
      fields.push(leaf(root, connector.credentials, name, raw, required.has(name)));
      continue;
    }
    const tagPath = `${name}.${TAG}`;
    const fallback = (schema.default as Schema | undefined)?.[TAG];
    fields.push({
      path: tagPath,
      help: typeof schema.description === 'string' ? schema.description : '',
      kind: 'choice',
      required: true,
      choices: variants.map((v) => v.tag),
      initial: typeof fallback === 'string' ? fallback : variants[0].tag,
    });
    for (const v of variants) {
      const inner = new Set((v.schema.required as string[] | undefined) ?? []);
      for (const [prop, propSchema] of Object.entries((v.schema.properties ?? {}) as Record<string, Schema>)) {
        if (prop === TAG) continue;
        const field = leaf(root, connector.credentials, `${name}.${prop}`, propSchema, inner.has(prop));
        // One variant's field of the same name as another's is a different input.
        fields.push({ ...field, when: { path: tagPath, value: v.tag } });
      }
    }
  }
  return fields;
}

/**
 * Whether a field is part of the form as it stands (its variant, if any, is chosen). `values`
 * are the form's values: a variant's tag is a plain field, keyed by its path.
 */
export function isShown(field: ConfigField, values: Record<string, string>): boolean {
  return !field.when || values[field.when.path] === field.when.value;
}

/** The key of a field's input: variant fields share paths, so the variant is part of it. */
export function inputKey(field: ConfigField): string {
  return field.when ? `${field.when.value}:${field.path}` : field.path;
}

function getPath(config: unknown, path: string): unknown {
  let at: unknown = config;
  for (const part of path.split('.')) {
    if (!at || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

function setPath(config: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let at = config;
  for (const part of parts.slice(0, -1)) {
    if (!at[part] || typeof at[part] !== 'object') at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  at[parts[parts.length - 1]] = value;
}

/** A fresh form for `connector` (defaults), or the form of a stored connection (credentials empty). */
export function initialForm(connector: ConnectorInfo, fields: ConfigField[], existing?: Connection): ConnectionForm {
  const values: Record<string, string> = {};
  for (const f of fields) {
    let text: string;
    if (f.kind === 'secret') text = '';
    else if (!existing) text = f.initial;
    // Another variant is stored: this one's inputs start at their defaults.
    else if (f.when && getPath(existing.config, f.when.path) !== f.when.value) text = f.initial;
    else text = initialText(getPath(existing.config, f.path)) || (f.kind === 'choice' ? f.initial : '');
    values[inputKey(f)] = text;
  }
  return { name: existing?.name ?? '', connector: connector.kind, values };
}

/**
 * The config to send: on create the whole config (empty optional inputs left out); on edit a
 * merge patch where an empty credential is left out (kept), an emptied field is `null`
 * (removed), and the fields of a variant no longer chosen are `null` so none are left behind.
 * `problems` names each input whose text is not what its type needs.
 */
export function configBody(
  fields: ConfigField[],
  form: ConnectionForm,
  mode: 'create' | 'edit',
): { config: Record<string, unknown>; problems: FieldProblem[] } {
  const config: Record<string, unknown> = {};
  const problems: FieldProblem[] = [];
  const shownPaths = new Set(fields.filter((f) => isShown(f, form.values)).map((f) => f.path));
  for (const f of fields) {
    if (!isShown(f, form.values)) {
      if (mode === 'edit' && !shownPaths.has(f.path)) setPath(config, f.path, null);
      continue;
    }
    const text = (form.values[inputKey(f)] ?? '').trim();
    if (text === '') {
      if (mode === 'edit' && f.kind !== 'secret') setPath(config, f.path, null);
      continue;
    }
    const field = `config.${f.path}`;
    switch (f.kind) {
      case 'number': {
        const n = Number(text);
        if (Number.isFinite(n)) setPath(config, f.path, n);
        else problems.push({ field, message: `\`${f.path}\` must be a number` });
        break;
      }
      case 'boolean':
        setPath(config, f.path, text === 'true');
        break;
      case 'json':
        try {
          setPath(config, f.path, JSON.parse(text));
        } catch {
          problems.push({ field, message: `\`${f.path}\` must be JSON` });
        }
        break;
      default:
        setPath(config, f.path, form.values[inputKey(f)]);
    }
  }
  return { config, problems };
}

/**
 * The API's problems by form field: `name`, `connector`, `config.<path>`, or `''` for the rest.
 * A config error names no field in its details (`{"field": "config"}`), so the first field
 * its message quotes in backticks (`missing field \`base_url\``) is the one it is about.
 */
export function connectionProblems(fields: ConfigField[], values: Record<string, string>, problems: FieldProblem[]): Record<string, string[]> {
  const shown = fields.filter((f) => isShown(f, values));
  const out: Record<string, string[]> = {};
  for (const p of problems) {
    let key = '';
    if (p.field === 'name' || p.field === 'connection name') key = 'name';
    else if (p.field === 'connector') key = 'connector';
    else if (p.field.startsWith('config.') && fields.some((f) => `config.${f.path}` === p.field)) key = p.field;
    else if (p.field === 'config') {
      // The message starts with "connection `<name>`: ", which names no field.
      const text = p.message.replace(/^connection `[^`]*`: /, '');
      for (const [, quoted] of text.matchAll(/`([^`]+)`/g)) {
        const hit = shown.find((f) => f.path === quoted || f.path.endsWith(`.${quoted}`));
        if (hit) {
          key = `config.${hit.path}`;
          break;
        }
      }
    }
    (out[key] ??= []).push(p.message);
  }
  return out;
}
