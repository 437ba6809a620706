// The audit log's filters and pages. `GET /api/v1/audit` answers the newest entries the
// caller may read (`?limit=`, at most 1000) and has no filters or offset, so the page fetches
// the newest N, filters them here, and shows them a page at a time; "load older" asks for more.

import type { AuditEntry } from './api/types';
import { localToRfc3339 } from './alertForm';

/** The API's cap on `limit`. */
export const AUDIT_MAX = 1000;
export const AUDIT_STEP = 200;
export const AUDIT_PAGE = 50;

export interface AuditFilters {
  /** A tenant id; empty for every tenant the caller reads. */
  tenant: string;
  /** Part of the email of who did it. */
  who: string;
  /** Part of the action (`flow.update`), object type or object id. */
  what: string;
  /** `YYYY-MM-DDTHH:MM` (datetime-local, the browser's zone). */
  since: string;
  until: string;
}

export const EMPTY_AUDIT_FILTERS: AuditFilters = { tenant: '', who: '', what: '', since: '', until: '' };

/** The entries that match every filter, in the API's order (newest first). */
export function filterAudit(entries: AuditEntry[], f: AuditFilters): AuditEntry[] {
  const who = f.who.trim().toLowerCase();
  const what = f.what.trim().toLowerCase();
  const since = localToRfc3339(f.since);
  const until = localToRfc3339(f.until);
  return entries.filter((e) => {
    if (f.tenant && e.tenant_id !== f.tenant) return false;
    if (who && !e.user_email.toLowerCase().includes(who)) return false;
    if (what && ![e.action, e.object_type, e.object_id, `${e.object_type} ${e.object_id}`].some((s) => s.toLowerCase().includes(what)))
      return false;
    const at = new Date(e.created_at).getTime();
    if (since && at < new Date(since).getTime()) return false;
    // `until` is a minute as typed: entries within that minute still match.
    if (until && at >= new Date(until).getTime() + 60_000) return false;
    return true;
  });
}

export interface AuditPage {
  rows: AuditEntry[];
  /** 1-based page shown (clamped to the pages there are). */
  page: number;
  pages: number;
  /** 1-based positions of the first and last row shown among all matches (0, 0 when none). */
  first: number;
  last: number;
}

/** Page `page` (1-based) of `entries`, `size` at a time. */
export function auditPage(entries: AuditEntry[], page: number, size = AUDIT_PAGE): AuditPage {
  const pages = Math.max(1, Math.ceil(entries.length / size));
  const p = Math.min(Math.max(1, Math.floor(page) || 1), pages);
  const rows = entries.slice((p - 1) * size, p * size);
  const first = rows.length ? (p - 1) * size + 1 : 0;
  return { rows, page: p, pages, first, last: first ? first + rows.length - 1 : 0 };
}

/**
 * The next `limit` to ask for when the caller wants older entries, or null when there are
 * none: fewer came back than asked (that was all of them), or the API's cap is reached.
 */
export function nextAuditLimit(limit: number, received: number): number | null {
  if (received < limit || limit >= AUDIT_MAX) return null;
  return Math.min(AUDIT_MAX, limit + AUDIT_STEP);
}
