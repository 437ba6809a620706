// The activity log's filters and the `GET /api/v1/runs` query they make (the API's own
// filters: tenant, flow, status, business key, time range).

import { RUN_STATUSES, type RunStatus } from './api/types';

export interface RunFilters {
  key: string;
  status: RunStatus | '';
  flow: string;
  /** `YYYY-MM-DD` from a date input: runs started on or after this day (UTC). */
  from: string;
  /** `YYYY-MM-DD`: runs started on or before the end of this day (UTC). */
  to: string;
}

export const EMPTY_FILTERS: RunFilters = { key: '', status: '', flow: '', from: '', to: '' };

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The filters a page URL holds (unknown statuses and malformed days are dropped). */
export function filtersFromQuery(query: URLSearchParams): RunFilters {
  const status = query.get('status') ?? '';
  const day = (name: string) => {
    const v = query.get(name) ?? '';
    return DAY.test(v) ? v : '';
  };
  return {
    key: (query.get('key') ?? '').trim(),
    status: (RUN_STATUSES as string[]).includes(status) ? (status as RunStatus) : '',
    flow: (query.get('flow') ?? '').trim(),
    from: day('from'),
    to: day('to'),
  };
}

/** The page URL's query for the filters (what `filtersFromQuery` reads back). */
export function filtersToQuery(f: RunFilters): Record<string, string | undefined> {
  return { key: f.key.trim(), status: f.status, flow: f.flow.trim(), from: f.from, to: f.to };
}

/** A problem with the filters as typed, or null: the API would refuse them. */
export function filterProblem(f: RunFilters): string | null {
  if (f.from && !DAY.test(f.from)) return '“From” must be a date (YYYY-MM-DD).';
  if (f.to && !DAY.test(f.to)) return '“To” must be a date (YYYY-MM-DD).';
  if (f.from && f.to && f.from > f.to) return '“From” is after “To”: no run can match.';
  return null;
}

/** The `GET /api/v1/runs` query: days become RFC 3339 times spanning whole UTC days. */
export function runsApiQuery(f: RunFilters, tenant: string | null, limit = 50): URLSearchParams {
  const q = new URLSearchParams();
  if (tenant) q.set('tenant', tenant);
  if (f.flow.trim()) q.set('flow_id', f.flow.trim());
  if (f.status) q.set('status', f.status);
  if (f.key.trim()) q.set('key', f.key.trim());
  if (f.from) q.set('from', `${f.from}T00:00:00Z`);
  if (f.to) q.set('to', `${f.to}T23:59:59Z`);
  q.set('limit', String(limit));
  return q;
}

/** A run's duration for people: `0.4 s`, `12 s`, `3 min 5 s`; empty while it runs. */
export function duration(started: string | null, finished: string | null): string {
  if (!started || !finished) return '';
  const ms = Date.parse(finished) - Date.parse(started);
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
