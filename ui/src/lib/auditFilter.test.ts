import { describe, expect, it } from 'vitest';
import type { AuditEntry } from './api/types';
import { AUDIT_MAX, auditPage, EMPTY_AUDIT_FILTERS, filterAudit, nextAuditLimit } from './auditFilter';

const entry = (id: number, over: Partial<AuditEntry> = {}): AuditEntry => ({
  id,
  user_email: 'admin@localhost',
  tenant_id: 'demo',
  action: 'flow.update',
  object_type: 'flow',
  object_id: 'orders',
  detail: null,
  created_at: '2026-11-23T10:00:00Z',
  ...over,
});

describe('filterAudit', () => {
  const entries = [
    entry(3, { user_email: 'Jane@Shop.eu', action: 'alerts.update', object_type: 'tenant', object_id: 'demo' }),
    entry(2, { tenant_id: 'acme', created_at: '2026-11-22T10:00:00Z' }),
    entry(1, { tenant_id: null, action: 'user.create', object_type: 'user', object_id: '7' }),
  ];

  it('keeps everything without filters', () => {
    expect(filterAudit(entries, EMPTY_AUDIT_FILTERS).map((e) => e.id)).toEqual([3, 2, 1]);
  });

  it('filters by tenant, who (any case) and what (action, object)', () => {
    expect(filterAudit(entries, { ...EMPTY_AUDIT_FILTERS, tenant: 'acme' }).map((e) => e.id)).toEqual([2]);
    expect(filterAudit(entries, { ...EMPTY_AUDIT_FILTERS, who: 'jane@shop' }).map((e) => e.id)).toEqual([3]);
    expect(filterAudit(entries, { ...EMPTY_AUDIT_FILTERS, what: 'user' }).map((e) => e.id)).toEqual([1]);
    expect(filterAudit(entries, { ...EMPTY_AUDIT_FILTERS, what: 'flow orders' }).map((e) => e.id)).toEqual([2]);
  });

  it('filters by time; `until` takes in its whole minute', () => {
    const at = (iso: string) => {
      const d = new Date(iso);
      const pad = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    };
    const late = [entry(5, { created_at: '2026-11-23T10:00:30Z' })];
    expect(filterAudit(late, { ...EMPTY_AUDIT_FILTERS, until: at('2026-11-23T10:00:00Z') })).toHaveLength(1);
    expect(filterAudit(entries, { ...EMPTY_AUDIT_FILTERS, since: at('2026-11-23T00:00:00Z') }).map((e) => e.id)).toEqual([3, 1]);
    expect(filterAudit(entries, { ...EMPTY_AUDIT_FILTERS, until: at('2026-11-22T12:00:00Z') }).map((e) => e.id)).toEqual([2]);
  });
});

describe('auditPage', () => {
  const many = Array.from({ length: 120 }, (_, i) => entry(i));

  it('cuts pages and says which rows they hold', () => {
    expect(auditPage(many, 2)).toMatchObject({ page: 2, pages: 3, first: 51, last: 100 });
    expect(auditPage(many, 3).rows).toHaveLength(20);
  });

  it('clamps a page out of range, and has one empty page for nothing', () => {
    expect(auditPage(many, 9).page).toBe(3);
    expect(auditPage(many, 0).page).toBe(1);
    expect(auditPage([], 1)).toEqual({ rows: [], page: 1, pages: 1, first: 0, last: 0 });
  });
});

describe('nextAuditLimit', () => {
  it('asks for more only when the answer was full and under the cap', () => {
    expect(nextAuditLimit(200, 200)).toBe(400);
    expect(nextAuditLimit(200, 150)).toBeNull();
    expect(nextAuditLimit(900, 900)).toBe(AUDIT_MAX);
    expect(nextAuditLimit(AUDIT_MAX, AUDIT_MAX)).toBeNull();
  });
});
