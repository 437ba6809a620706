import { describe, expect, it } from 'vitest';
import {
  auditApiQuery,
  auditFilterProblems,
  currentBefore,
  EMPTY_AUDIT_FILTERS,
  FIRST_PAGE,
  newerPage,
  olderPage,
} from './auditFilter';

describe('auditApiQuery', () => {
  it('sends only the filters given, and the page', () => {
    expect(Object.fromEntries(auditApiQuery(EMPTY_AUDIT_FILTERS, null))).toEqual({ limit: '50' });
    const q = auditApiQuery(
      { ...EMPTY_AUDIT_FILTERS, tenant: 'demo', who: ' jane@ ', action: 'flow.', object: ' orders ' },
      42,
      20,
    );
    expect(Object.fromEntries(q)).toEqual({ tenant: 'demo', user: 'jane@', action: 'flow.', object: 'orders', before: '42', limit: '20' });
  });

  it('sends times in UTC; `until` reaches the end of its minute', () => {
    const q = auditApiQuery({ ...EMPTY_AUDIT_FILTERS, since: '2026-11-23T10:00', until: '2026-11-23T11:30' }, null);
    expect(q.get('since')).toBe(new Date('2026-11-23T10:00').toISOString());
    expect(new Date(q.get('until')!).getTime() - new Date('2026-11-23T11:30').getTime()).toBe(59_999);
  });
});

describe('auditFilterProblems', () => {
  it('names times that are not times, and a range that is empty', () => {
    expect(auditFilterProblems(EMPTY_AUDIT_FILTERS)).toEqual({});
    expect(auditFilterProblems({ ...EMPTY_AUDIT_FILTERS, since: 'monday' })).toEqual({ since: 'a date and time' });
    expect(auditFilterProblems({ ...EMPTY_AUDIT_FILTERS, since: '2026-11-24T10:00', until: '2026-11-23T10:00' }).until).toMatch(/before/);
  });
});

describe('audit pages', () => {
  it('go older by the answer’s next_before and back the same way', () => {
    expect(currentBefore(FIRST_PAGE)).toBeNull();
    const second = olderPage(FIRST_PAGE, 90);
    const third = olderPage(second, 40);
    expect(currentBefore(third)).toBe(40);
    expect(newerPage(third)).toEqual(second);
    expect(newerPage(newerPage(second))).toEqual(FIRST_PAGE);
  });

  it('stay on the last page when there is no older one', () => {
    expect(olderPage([null, 90], null)).toEqual([null, 90]);
  });
});
