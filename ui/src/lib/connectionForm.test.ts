import { describe, expect, it } from 'vitest';
import type { Connection, ConnectorInfo } from './api/types';
import { configBody, configFields, connectionProblems, initialForm, inputKey, isCredential, isShown } from './connectionForm';

// The shape schemars 1 writes for connectors/src/http/config.rs (`HttpConfig`), trimmed.
const http: ConnectorInfo = {
  kind: 'http',
  summary: 'A REST/JSON API',
  credentials: ['auth.token', 'auth.password', 'auth.value', 'headers.*'],
  config_schema: {
    type: 'object',
    properties: {
      base_url: { description: 'Root URL of the API', type: 'string' },
      headers: { description: 'Extra headers', type: 'object', additionalProperties: { type: 'string' } },
      auth: { description: 'How requests prove who they come from.', $ref: '#/$defs/Auth', default: { type: 'none' } },
      timeout_ms: { type: 'integer', format: 'uint64', minimum: 0, default: 30000 },
      health_path: { type: ['string', 'null'] },
    },
    required: ['base_url'],
    $defs: {
      Auth: {
        oneOf: [
          { type: 'object', properties: { type: { type: 'string', const: 'none' } }, required: ['type'] },
          {
            type: 'object',
            properties: { type: { type: 'string', const: 'bearer' }, token: { type: 'string', description: 'The token' } },
            required: ['type', 'token'],
          },
          {
            type: 'object',
            properties: {
              type: { type: 'string', const: 'api_key' },
              name: { type: 'string' },
              value: { type: 'string' },
              in: { $ref: '#/$defs/ApiKeyLocation', default: 'header' },
            },
            required: ['type', 'name', 'value'],
          },
        ],
      },
      ApiKeyLocation: {
        oneOf: [
          { type: 'string', const: 'header' },
          { type: 'string', const: 'query' },
        ],
      },
    },
  },
};

const fields = configFields(http);
const byKey = (key: string) => fields.find((f) => inputKey(f) === key)!;

describe('configFields', () => {
  it('types each input from the schema, credentials as secrets', () => {
    expect(fields.map(inputKey)).toEqual([
      'base_url',
      'headers',
      'auth.type',
      'bearer:auth.token',
      'api_key:auth.name',
      'api_key:auth.value',
      'api_key:auth.in',
      'timeout_ms',
      'health_path',
    ]);
    expect(byKey('base_url')).toMatchObject({ kind: 'text', required: true, help: 'Root URL of the API' });
    expect(byKey('headers').kind).toBe('json');
    expect(byKey('auth.type')).toMatchObject({ kind: 'choice', choices: ['none', 'bearer', 'api_key'], initial: 'none' });
    expect(byKey('bearer:auth.token')).toMatchObject({ kind: 'secret', when: { path: 'auth.type', value: 'bearer' } });
    expect(byKey('api_key:auth.in')).toMatchObject({ kind: 'choice', choices: ['header', 'query'], initial: 'header' });
    expect(byKey('timeout_ms')).toMatchObject({ kind: 'number', initial: '30000', required: false });
    expect(byKey('health_path')).toMatchObject({ kind: 'text', required: false });
  });

  it('shows a variant’s inputs only while it is chosen', () => {
    const token = byKey('bearer:auth.token');
    expect(isShown(token, { 'auth.type': 'bearer' })).toBe(true);
    expect(isShown(token, { 'auth.type': 'api_key' })).toBe(false);
    expect(isShown(byKey('base_url'), {})).toBe(true);
  });

  it('knows wildcard credentials', () => {
    expect(isCredential(http.credentials, 'headers')).toBe(true);
    expect(isCredential(http.credentials, 'auth.token')).toBe(true);
    expect(isCredential(http.credentials, 'auth.name')).toBe(false);
  });
});

describe('configBody', () => {
  it('creates with the chosen variant and leaves out what is empty', () => {
    const form = initialForm(http, fields);
    form.name = 'shop';
    form.values['base_url'] = 'http://127.0.0.1:9000';
    form.values['auth.type'] = 'api_key';
    form.values['api_key:auth.name'] = 'X-Shopify-Access-Token';
    form.values['api_key:auth.value'] = 'secret';
    form.values['bearer:auth.token'] = 'typed then switched away';
    const { config, problems } = configBody(fields, form, 'create');
    expect(problems).toEqual([]);
    expect(config).toEqual({
      base_url: 'http://127.0.0.1:9000',
      auth: { type: 'api_key', name: 'X-Shopify-Access-Token', value: 'secret', in: 'header' },
      timeout_ms: 30000,
    });
  });

  it('names the inputs whose text is not of their type', () => {
    const form = initialForm(http, fields);
    form.values['timeout_ms'] = 'soon';
    form.values['headers'] = '{not json';
    const { problems } = configBody(fields, form, 'create');
    expect(problems).toEqual([
      { field: 'config.headers', message: '`headers` must be JSON' },
      { field: 'config.timeout_ms', message: '`timeout_ms` must be a number' },
    ]);
  });

  it('patches an edit: an empty credential is kept, other variants and emptied fields removed', () => {
    const stored: Connection = {
      name: 'erp',
      tenant: 'demo',
      connector: 'http',
      config: { base_url: 'http://erp', auth: { type: 'bearer', token: '<set>' }, health_path: '/ping' },
      credentials: ['auth.token'],
      created_at: '',
      updated_at: '',
    };
    const form = initialForm(http, fields, stored);
    expect(form.name).toBe('erp');
    expect(form.values['auth.type']).toBe('bearer');
    expect(form.values['bearer:auth.token']).toBe('');
    expect(form.values['health_path']).toBe('/ping');
    form.values['health_path'] = '';
    const { config } = configBody(fields, form, 'edit');
    expect(config).toEqual({
      base_url: 'http://erp',
      headers: null,
      auth: { type: 'bearer', name: null, value: null, in: null },
      timeout_ms: null,
      health_path: null,
    });
  });
});

describe('connectionProblems', () => {
  const values = { 'auth.type': 'bearer' };

  it('puts a config error next to the field its message quotes', () => {
    const out = connectionProblems(fields, values, [
      { field: 'config', message: 'connection `shop`: invalid config for `http`: missing field `token`' },
      { field: 'connection name', message: 'invalid connection name `a b`' },
      { field: 'connector', message: 'unknown connector `ftp`' },
      { field: 'config', message: 'the config must be a JSON object' },
    ]);
    expect(out).toEqual({
      'config.auth.token': ['connection `shop`: invalid config for `http`: missing field `token`'],
      name: ['invalid connection name `a b`'],
      connector: ['unknown connector `ftp`'],
      '': ['the config must be a JSON object'],
    });
  });

  it('keeps the form’s own problems on their field', () => {
    expect(connectionProblems(fields, values, [{ field: 'config.timeout_ms', message: 'x' }])).toEqual({ 'config.timeout_ms': ['x'] });
  });
});
