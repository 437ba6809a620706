// Hand-written types of the API answers the UI reads (engine/src/http/*.rs is the truth).

export type Role = 'admin' | 'integrator' | 'merchant' | 'support';

export interface User {
  id: number;
  email: string;
  role: Role;
  tenants: string[];
  disabled: boolean;
  created_at: string;
}

export interface Tenant {
  id: string;
  name: string;
  created_at: string;
}

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'error';
export const RUN_STATUSES: RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'error'];

export interface RunCounts {
  read: number;
  created: number;
  updated: number;
  skipped: number;
  filtered: number;
  failed: number;
}

export interface Run {
  id: number;
  flow_id: string;
  flow_version: string;
  trigger: string;
  status: RunStatus;
  started_at: string | null;
  finished_at: string | null;
  counts: RunCounts;
  error: string | null;
}

export type Outcome = 'created' | 'updated' | 'skipped_unchanged' | 'filtered' | 'failed';
export const OUTCOMES: Outcome[] = ['created', 'updated', 'skipped_unchanged', 'filtered', 'failed'];

export interface RecordEntry {
  run_id: number;
  seq: number;
  flow_id: string;
  business_key: string | null;
  outcome: Outcome;
  step_id: string | null;
  target_id: string | null;
  response_status: number | null;
  error: string | null;
  attempts: number;
}

/** One record with its payloads (`GET /runs/{id}/records/{seq}`). */
export interface RecordDetail extends RecordEntry {
  input: unknown;
  output: unknown;
  response_body: string | null;
}

export interface FlowSummary {
  id: string;
  name: string;
  tenant: string;
  version: string;
  enabled: boolean;
}

export interface FlowWithDefinition extends FlowSummary {
  definition: unknown;
}

/** One problem of a flow, by field path (`steps[1].fields[0].value.path`) and step id. */
export interface FlowValidationIssue {
  path: string;
  step_id: string | null;
  message: string;
  line: number | null;
  column: number | null;
}

/** `POST /flows/validate`: every problem at once. */
export interface FlowValidation {
  valid: boolean;
  issues: FlowValidationIssue[];
}

export interface FlowVersion {
  flow_id: string;
  version: number;
  hash: string;
  published_by: string;
  created_at: string;
}

export interface FailedRecord {
  business_key: string;
  run_id: number;
  seq: number;
  step_id: string | null;
  error: string | null;
  failed_at: string;
  retry_at: string | null;
  parked_count: number;
}

export interface ReplayAnswer {
  run_id: number | null;
  records: number;
}

export type PreviewAnswer =
  | { key: string | null; outcome: 'mapped'; output: unknown }
  | { key: string | null; outcome: 'filtered'; step: string; reason: string }
  | {
      key: string | null;
      outcome: 'failed';
      step: string;
      errors: { field: string; message: string }[];
      partial_output: unknown;
    };

export interface TemplateSetting {
  type: string;
  default: unknown;
  description: string;
  allowed: unknown;
}

export interface Template {
  id: string;
  name: string;
  description: string;
  category: string;
  slots: Record<string, { connector: string; description: string }>;
  settings: Record<string, TemplateSetting>;
}

export interface Connection {
  name: string;
  tenant: string;
  connector: string;
  /** The config, each set credential replaced by `"<set>"`. */
  config: Record<string, unknown>;
  /** Dot paths of the credentials that are set. */
  credentials: string[];
  created_at: string;
  updated_at: string;
}

/** A connector kind (`GET /connectors`): what a connection form needs. */
export interface ConnectorInfo {
  kind: string;
  summary: string;
  /** JSON Schema (draft 2020-12, from schemars) of the connection config. */
  config_schema: Record<string, unknown>;
  /** Config fields that are credentials, as dot paths (`auth.token`, `headers.*`). */
  credentials: string[];
}

/** The answer of "Test connection": a failed check is an answer, not an error. */
export interface ConnectionTest {
  ok: boolean;
  message: string | null;
}

/** One changed leaf between two flow versions, by JSON pointer; a missing side is `null`. */
export interface VersionChange {
  path: string;
  from: unknown;
  to: unknown;
}

export interface VersionDiff {
  flow_id: string;
  from: number;
  to: number;
  changes: VersionChange[];
}

export interface ApiToken {
  id: number;
  name: string;
  /** The token's first characters, to tell tokens apart. */
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A new token: the only answer that carries the token itself. */
export interface NewApiToken extends ApiToken {
  token: string;
}

export interface EnabledTemplate {
  id: string;
  name: string;
  tenant: string;
  version: string;
  version_no: number;
  template: string;
  enabled: boolean;
}

/** The answer of a flow save (`POST /flows`, `PUT /flows/{id}`): `version` is the definition's
 * hash, as in every summary; `version_no` the number of the version the save published. */
export interface SavedFlow extends FlowSummary {
  version_no: number;
}

// Users (admin)

/** `POST /users`: the admin sets the first password; the user changes it (`PUT /me/password`). */
export interface NewUser {
  email: string;
  password: string;
  role: Role;
  tenants: string[];
}

// Alerts (docs/alerts.md)

export type AlertOn = 'failure' | 'success' | 'both';
export const ALERT_ONS: AlertOn[] = ['failure', 'success', 'both'];

export type AlertChannel =
  | { type: 'email'; to: string; subject?: string; on?: AlertOn }
  | { type: 'webhook'; url: string; on?: AlertOn };

/** A flow file's `alerts`, and the body of a tenant's default. */
export interface AlertSettings {
  channels: AlertChannel[];
  heartbeat_hours?: number;
}

export interface TenantAlerts {
  tenant_id: string;
  /** `null` when the tenant has no default. */
  alerts: AlertSettings | null;
  updated_at: string | null;
}

export type DeliveryStatus = 'sent' | 'failed';
export const DELIVERY_STATUSES: DeliveryStatus[] = ['sent', 'failed'];
export type AlertKind = 'failure' | 'success' | 'heartbeat' | 'test';
export const ALERT_KINDS: AlertKind[] = ['failure', 'success', 'heartbeat', 'test'];

export interface AlertTestAnswer {
  flow_id: string;
  /** Which level the channels came from. */
  source: 'flow' | 'tenant' | 'installation';
  deliveries: { channel: string; recipient: string; status: DeliveryStatus; error: string | null }[];
}

export interface AlertDelivery {
  id: number;
  tenant_id: string;
  flow_id: string;
  run_id: number | null;
  channel: string;
  recipient: string;
  kind: AlertKind;
  status: DeliveryStatus;
  error: string | null;
  created_at: string;
}

// Audit log

export interface AuditEntry {
  id: number;
  user_email: string;
  tenant_id: string | null;
  action: string;
  object_type: string;
  object_id: string;
  detail: string | null;
  created_at: string;
}
