// Alert settings as a form (docs/alerts.md): a tenant's default and a flow's own `alerts` are
// the same object, edited as a list of channels and a heartbeat. This module turns settings
// into form values and back, files the API's problems under the field they name, writes a
// flow's `alerts` into its definition, and builds the delivery log's query.

import { ApiError } from './api/errors';
import type { AlertChannel, AlertKind, AlertOn, AlertSettings, DeliveryStatus } from './api/types';
import { ALERT_KINDS, DELIVERY_STATUSES } from './api/types';

/** One channel as typed: both kinds' inputs, so switching the type keeps what was typed. */
export interface ChannelForm {
  type: 'email' | 'webhook';
  to: string;
  subject: string;
  url: string;
  on: AlertOn;
}

export interface AlertForm {
  channels: ChannelForm[];
  /** Hours as typed; empty for no heartbeat. */
  heartbeat: string;
}

/** docs/alerts.md: the subject when the channel gives none. */
export const DEFAULT_SUBJECT = '[Ferry] {flow}: {status} ({failed} failed)';

export function emptyChannel(type: ChannelForm['type'] = 'email'): ChannelForm {
  return { type, to: '', subject: '', url: '', on: 'failure' };
}

/** The form of stored settings (none: an empty form). */
export function formFromSettings(settings: AlertSettings | null | undefined): AlertForm {
  return {
    channels: (settings?.channels ?? []).map((c) =>
      c.type === 'email'
        ? { ...emptyChannel('email'), to: c.to, subject: c.subject ?? '', on: c.on ?? 'failure' }
        : { ...emptyChannel('webhook'), url: c.url, on: c.on ?? 'failure' },
    ),
    heartbeat: settings?.heartbeat_hours != null ? String(settings.heartbeat_hours) : '',
  };
}

/** Problems by field path, as the API names them: `channels[0].to`, `heartbeat_hours`. */
export type AlertProblems = Record<string, string[]>;

export type SettingsOrProblems = { settings: AlertSettings } | { problems: AlertProblems };

/**
 * The settings a form makes, or the problems that stop it from being sent. Only what the
 * body cannot express is checked here (hours that are not a whole number); addresses, URLs
 * and subject placeholders are the API's to judge, so its wording is the one shown.
 */
export function settingsFromForm(form: AlertForm): SettingsOrProblems {
  const channels: AlertChannel[] = form.channels.map((c) =>
    c.type === 'email'
      ? { type: 'email', to: c.to.trim(), ...(c.subject.trim() ? { subject: c.subject.trim() } : {}), on: c.on }
      : { type: 'webhook', url: c.url.trim(), on: c.on },
  );
  const hours = form.heartbeat.trim();
  if (!hours) return { settings: { channels } };
  if (!/^\d+$/.test(hours) || Number(hours) < 1)
    return { problems: { heartbeat_hours: ['a whole number of hours, at least 1 (or empty for no heartbeat)'] } };
  return { settings: { channels, heartbeat_hours: Number(hours) } };
}

/**
 * The problems of a refused save, by the path inside the settings. A tenant default answers
 * `invalid_alerts` with paths like `channels[0].to`; a flow answers `invalid_flow` with paths
 * into the whole file (`alerts.channels[0].to`), whose `alerts.` is cut here. `other` holds
 * what names no alert field (the flow's other problems, a body the API could not read).
 */
export function alertProblemsOf(error: unknown, prefix = ''): { byPath: AlertProblems; other: string[] } {
  const byPath: AlertProblems = {};
  const other: string[] = [];
  if (!(error instanceof ApiError)) return { byPath, other };
  const details = error.details as { issues?: unknown } | undefined | null;
  const issues = Array.isArray(details?.issues) ? details.issues : [];
  for (const raw of issues) {
    const issue = raw as { path?: unknown; message?: unknown };
    if (typeof issue?.message !== 'string') continue;
    const path = typeof issue.path === 'string' ? issue.path : '';
    if (path.startsWith(prefix) && (prefix === '' || path.length > prefix.length)) {
      const inside = path.slice(prefix.length);
      (byPath[inside] ??= []).push(issue.message);
    } else {
      other.push(path ? `${path}: ${issue.message}` : issue.message);
    }
  }
  if (issues.length === 0) other.push(`${error.message} (${error.code})`);
  return { byPath, other };
}

/** The problems of channel `i`'s `field` (`to`, `subject`, `url`, `on`), and of the channel as a whole. */
export function channelProblems(problems: AlertProblems, i: number, field: string): string[] {
  return problems[`channels[${i}].${field}`] ?? [];
}

/**
 * A flow definition with its own alert settings replaced (`null`: removed, so the flow uses
 * its tenant's default). The definition is not changed in place.
 */
export function withFlowAlerts(definition: Record<string, unknown>, settings: AlertSettings | null): Record<string, unknown> {
  const next = { ...definition };
  if (settings) next.alerts = settings;
  else delete next.alerts;
  return next;
}

/** A flow definition's own alert settings, if it has them. */
export function flowAlerts(definition: Record<string, unknown> | null | undefined): AlertSettings | null {
  const a = definition?.alerts;
  return a && typeof a === 'object' && Array.isArray((a as AlertSettings).channels) ? (a as AlertSettings) : null;
}

/** One line per channel, for lists: `email ops@shop.eu (failure)`. */
export function channelSummary(c: AlertChannel): string {
  return c.type === 'email' ? `email ${c.to} (${c.on ?? 'failure'})` : `webhook ${c.url} (${c.on ?? 'failure'})`;
}

// The delivery log

export interface DeliveryFilters {
  flow: string;
  kind: AlertKind | '';
  status: DeliveryStatus | '';
  /** `YYYY-MM-DDTHH:MM` from a datetime-local input, in the browser's zone. */
  since: string;
  until: string;
}

export const EMPTY_DELIVERY_FILTERS: DeliveryFilters = { flow: '', kind: '', status: '', since: '', until: '' };

const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;

/** A datetime-local value as an RFC 3339 UTC time, or null when it is not one. */
export function localToRfc3339(value: string): string | null {
  if (!LOCAL_TIME.test(value)) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A problem with the filters as typed, by filter name: the API would refuse them. */
export function deliveryFilterProblems(f: DeliveryFilters): Partial<Record<'since' | 'until', string>> {
  const problems: Partial<Record<'since' | 'until', string>> = {};
  if (f.since && !localToRfc3339(f.since)) problems.since = 'a date and time';
  if (f.until && !localToRfc3339(f.until)) problems.until = 'a date and time';
  const since = localToRfc3339(f.since);
  const until = localToRfc3339(f.until);
  if (since && until && since > until) problems.until = 'before “since”: no delivery can match';
  return problems;
}

/** The `GET /api/v1/alert-deliveries` query: the API's filters, times in UTC. */
export function deliveriesApiQuery(f: DeliveryFilters, tenant: string | null, limit = 100): URLSearchParams {
  const q = new URLSearchParams();
  if (tenant) q.set('tenant', tenant);
  if (f.flow.trim()) q.set('flow', f.flow.trim());
  if ((ALERT_KINDS as string[]).includes(f.kind)) q.set('kind', f.kind);
  if ((DELIVERY_STATUSES as string[]).includes(f.status)) q.set('status', f.status);
  const since = localToRfc3339(f.since);
  const until = localToRfc3339(f.until);
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  q.set('limit', String(limit));
  return q;
}

/** The filter a refused query names (`details.field` of 422 `invalid_query`), if any. */
export function queryProblemField(error: unknown): string | null {
  if (!(error instanceof ApiError) || error.code !== 'invalid_query') return null;
  const field = (error.details as { field?: unknown } | null | undefined)?.field;
  return typeof field === 'string' ? field : null;
}
