// The typed API client: one function per endpoint the UI uses. Requests carry the session
// cookie (same origin), and those that change something also the session's CSRF token
// (`X-CSRF-Token`, from the login answer or `/me`); every non-2xx answer throws an `ApiError`.

import { ApiError, errorFromBody } from './errors';
import type {
  AlertDelivery,
  AlertSettings,
  AlertTestAnswer,
  ApiToken,
  AuditEntry,
  Connection,
  ConnectionTest,
  ConnectorInfo,
  EnabledTemplate,
  FailedRecord,
  FlowSummary,
  FlowValidation,
  FlowVersion,
  FlowWithDefinition,
  PreviewAnswer,
  RecordDetail,
  RecordEntry,
  NewApiToken,
  ReplayAnswer,
  Run,
  SavedFlow,
  Template,
  TenantAlerts,
  Tenant,
  NewUser,
  User,
  VersionDiff,
} from './types';

const BASE = '/api/v1';

/** Called when an answer says the session is gone (401), so the app can show the login. */
let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

/** The session's CSRF token: the server refuses a cookie request that changes something without it. */
let csrfToken: string | null = null;

/** The headers of a request: its body's type, and the CSRF token unless it only reads. */
export function requestHeaders(method: string, hasBody: boolean, token: string | null): Record<string, string> {
  const headers: Record<string, string> = {};
  if (hasBody) headers['content-type'] = 'application/json';
  if (token && method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = token;
  return headers;
}

/** Keeps the token of a login or `/me` answer. */
function withSession<A extends { user: User; csrf_token?: string | null }>(answer: A): User {
  csrfToken = answer.csrf_token ?? null;
  return answer.user;
}

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(BASE + path, {
      method,
      credentials: 'same-origin',
      headers: requestHeaders(method, body !== undefined, csrfToken),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e));
  }
  const text = await response.text();
  if (!response.ok) {
    const error = errorFromBody(response.status, text);
    if (response.status === 401 && path !== '/login') onUnauthenticated();
    throw error;
  }
  return (text ? JSON.parse(text) : null) as T;
}

const enc = encodeURIComponent;

export const api = {
  login: (email: string, password: string) =>
    request<{ user: User; csrf_token: string }>('POST', '/login', { email, password }).then(withSession),
  logout: () =>
    request<null>('POST', '/logout').finally(() => {
      csrfToken = null;
    }),
  me: () => request<{ user: User; csrf_token: string | null }>('GET', '/me').then(withSession),
  tenants: () => request<{ tenants: Tenant[] }>('GET', '/tenants').then((a) => a.tenants),

  runs: (query: URLSearchParams) =>
    request<{ runs: Run[] }>('GET', `/runs?${query}`).then((a) => a.runs),
  run: (id: number) => request<Run>('GET', `/runs/${id}`),
  records: (runId: number, query: URLSearchParams) =>
    request<{ records: RecordEntry[] }>('GET', `/runs/${runId}/records?${query}`).then((a) => a.records),
  record: (runId: number, seq: number) => request<RecordDetail>('GET', `/runs/${runId}/records/${seq}`),

  flows: (tenant?: string) =>
    request<{ flows: FlowSummary[] }>('GET', tenant ? `/flows?tenant=${enc(tenant)}` : '/flows').then((a) => a.flows),
  flow: (id: string) => request<FlowWithDefinition>('GET', `/flows/${enc(id)}`),
  versions: (id: string) =>
    request<{ versions: FlowVersion[] }>('GET', `/flows/${enc(id)}/versions`).then((a) => a.versions),
  /** Saves a new version of the flow (422 `invalid_flow` with every issue in `details.issues`). */
  updateFlow: (id: string, definition: unknown) => request<SavedFlow>('PUT', `/flows/${enc(id)}`, definition),
  createFlow: (definition: unknown) => request<SavedFlow>('POST', '/flows', definition),
  validateFlow: (definition: unknown) => request<FlowValidation>('POST', '/flows/validate', definition),
  failed: (id: string) =>
    request<{ failed: FailedRecord[] }>('GET', `/flows/${enc(id)}/failed`).then((a) => a.failed),
  replay: (id: string, keys?: string[]) =>
    request<ReplayAnswer>('POST', `/flows/${enc(id)}/replay`, keys ? { keys } : {}),
  diff: (id: string, from: number, to: number) =>
    request<VersionDiff>('GET', `/flows/${enc(id)}/diff?from=${from}&to=${to}`),
  rollback: (id: string, version: number) =>
    request<FlowVersion>('POST', `/flows/${enc(id)}/versions/${version}/rollback`),
  trigger: (id: string) => request<{ run_id: number }>('POST', `/flows/${enc(id)}/runs`),

  preview: (flow: unknown, record: unknown, signal?: AbortSignal) =>
    request<PreviewAnswer>('POST', '/preview', { flow, record }, signal),

  templates: () => request<{ templates: Template[] }>('GET', '/templates').then((a) => a.templates),
  connections: (tenant: string) =>
    request<{ connections: Connection[] }>('GET', `/tenants/${enc(tenant)}/connections`).then((a) => a.connections),
  connectors: () => request<{ connectors: ConnectorInfo[] }>('GET', '/connectors').then((a) => a.connectors),
  createConnection: (tenant: string, body: { name: string; connector: string; config: Record<string, unknown> }) =>
    request<Connection>('POST', `/tenants/${enc(tenant)}/connections`, body),
  updateConnection: (tenant: string, name: string, config: Record<string, unknown>) =>
    request<Connection>('PATCH', `/tenants/${enc(tenant)}/connections/${enc(name)}`, { config }),
  deleteConnection: (tenant: string, name: string) =>
    request<null>('DELETE', `/tenants/${enc(tenant)}/connections/${enc(name)}`),
  testConnection: (tenant: string, name: string) =>
    request<ConnectionTest>('POST', `/tenants/${enc(tenant)}/connections/${enc(name)}/test`),
  enableTemplate: (tenant: string, id: string, body: { connections: Record<string, string>; settings: Record<string, unknown> }) =>
    request<EnabledTemplate>('POST', `/tenants/${enc(tenant)}/templates/${enc(id)}/enable`, body),

  tokens: () => request<{ tokens: ApiToken[] }>('GET', '/tokens').then((a) => a.tokens),
  createToken: (name: string) => request<NewApiToken>('POST', '/tokens', { name }),
  revokeToken: (id: number) => request<null>('DELETE', `/tokens/${id}`),

  users: () => request<{ users: User[] }>('GET', '/users').then((a) => a.users),
  /** 422 with `details.field` (`email`, `password`, `role`, `tenants`), 409 `email_taken`. */
  createUser: (body: NewUser) => request<User>('POST', '/users', body),
  disableUser: (id: number) => request<User>('POST', `/users/${id}/disable`),

  tenantAlerts: (tenant: string) => request<TenantAlerts>('GET', `/tenants/${enc(tenant)}/alerts`),
  /** 422 `invalid_alerts` with every problem in `details.issues` (`{path, message}`). */
  setTenantAlerts: (tenant: string, settings: AlertSettings) =>
    request<TenantAlerts>('PUT', `/tenants/${enc(tenant)}/alerts`, settings),
  deleteTenantAlerts: (tenant: string) => request<null>('DELETE', `/tenants/${enc(tenant)}/alerts`),
  /** 422 `no_alert_channels` when the flow has none at any level. */
  testAlert: (flowId: string) => request<AlertTestAnswer>('POST', `/flows/${enc(flowId)}/alerts/test`),
  alertDeliveries: (query: URLSearchParams) =>
    request<{ deliveries: AlertDelivery[] }>('GET', `/alert-deliveries?${query}`).then((a) => a.deliveries),

  /** A page of the audit log; `next_before` is the next (older) page's `before`, null on the last. */
  audit: (query: URLSearchParams) => request<{ entries: AuditEntry[]; next_before: number | null }>('GET', `/audit?${query}`),
};
