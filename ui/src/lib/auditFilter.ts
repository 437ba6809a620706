// The audit log's filters and pages as the API takes them (`GET /api/v1/audit`, see
// docs/security.md): filters by tenant, user, action, object and time; pages by id, newest
// first, each answer naming the `before` of the next (older) page.

import { localToRfc3339 } from './alertForm';

export const AUDIT_PAGE = 50;

export interface AuditFilters {
  /** A tenant id; empty for every tenant the caller reads. */
  tenant: string;
  /** Part of the email of who did it. */
  who: string;
  /** The action or its start: `flow.update`, `flow.`. */
  action: string;
  /** The id of the object it was done to. */
  object: string;
  /** `YYYY-MM-DDTHH:MM` (datetime-local, the browser's zone). */
  since: string;
  until: string;
}

export const EMPTY_AUDIT_FILTERS: AuditFilters = { tenant: '', who: '', action: '', object: '', since: '', until: '' };

/** Problems with the filters as typed, by filter name: the API would refuse them. */
export function auditFilterProblems(f: AuditFilters): Partial<Record<'since' | 'until', string>> {
  const problems: Partial<Record<'since' | 'until', string>> = {};
  const since = localToRfc3339(f.since);
  const until = localToRfc3339(f.until);
  if (f.since && !since) problems.since = 'a date and time';
  if (f.until && !until) problems.until = 'a date and time';
  if (since && until && since > until) problems.until = 'before “since”: no entry can match';
  return problems;
}

/**
 * The `GET /api/v1/audit` query for the filters and page (`before`: the previous page's
 * `next_before`; null for the newest). `until` is a minute as typed, so it reaches that
 * minute's end.
 */
export function auditApiQuery(f: AuditFilters, before: number | null, limit = AUDIT_PAGE): URLSearchParams {
  const q = new URLSearchParams();
  if (f.tenant) q.set('tenant', f.tenant);
  if (f.who.trim()) q.set('user', f.who.trim());
  if (f.action.trim()) q.set('action', f.action.trim());
  if (f.object.trim()) q.set('object', f.object.trim());
  const since = localToRfc3339(f.since);
  const until = localToRfc3339(f.until);
  if (since) q.set('since', since);
  if (until) q.set('until', new Date(new Date(until).getTime() + 59_999).toISOString());
  if (before != null) q.set('before', String(before));
  q.set('limit', String(limit));
  return q;
}

/**
 * Where the pages shown so far started: `[null]` is the newest page; going to an older page
 * pushes the answer's `next_before`, going back pops it.
 */
export type AuditCursors = (number | null)[];

export const FIRST_PAGE: AuditCursors = [null];

export function olderPage(cursors: AuditCursors, nextBefore: number | null): AuditCursors {
  return nextBefore == null ? cursors : [...cursors, nextBefore];
}

export function newerPage(cursors: AuditCursors): AuditCursors {
  return cursors.length > 1 ? cursors.slice(0, -1) : cursors;
}

/** The `before` of the page shown. */
export function currentBefore(cursors: AuditCursors): number | null {
  return cursors[cursors.length - 1] ?? null;
}
