import { describe, expect, it } from 'vitest';
import { href, links, parseRoute } from './route';

describe('parseRoute', () => {
  it('opens the activity log by default', () => {
    expect(parseRoute('').page).toBe('runs');
    expect(parseRoute('#/').page).toBe('runs');
  });

  it('reads ids and the query', () => {
    const r = parseRoute('#/runs?key=5923180000648&status=failed');
    expect(r.page).toBe('runs');
    if (r.page === 'runs') expect(r.query.get('key')).toBe('5923180000648');
    expect(parseRoute('#/runs/12')).toMatchObject({ page: 'run', runId: 12 });
    expect(parseRoute('#/runs/12/records/0')).toEqual({ page: 'record', runId: 12, seq: 0 });
    expect(parseRoute('#/flows/demo-shop')).toEqual({ page: 'flow', flowId: 'demo-shop' });
    expect(parseRoute('#/flows/a%20b/failed')).toEqual({ page: 'failed', flowId: 'a b' });
  });

  it('says which path it does not know', () => {
    expect(parseRoute('#/runs/abc')).toEqual({ page: 'not_found', path: '/runs/abc' });
    expect(parseRoute('#/nowhere')).toEqual({ page: 'not_found', path: '/nowhere' });
  });

  it('round-trips the links it makes', () => {
    expect(links.record(3, 7)).toBe('#/runs/3/records/7');
    expect(parseRoute(links.failed('a b'))).toEqual({ page: 'failed', flowId: 'a b' });
    expect(href('/runs', { key: '#1005', status: '' })).toBe('#/runs?key=%231005');
    const create = parseRoute(links.connections('http'));
    expect(create.page === 'connections' && create.query.get('create')).toBe('http');
    expect(links.connections()).toBe('#/connections');
    expect(parseRoute(links.tokens())).toEqual({ page: 'tokens' });
    expect(parseRoute(links.users())).toEqual({ page: 'users' });
    expect(parseRoute(links.audit())).toEqual({ page: 'audit' });
    const alerts = parseRoute(links.alerts('orders 2'));
    expect(alerts.page === 'alerts' && alerts.query.get('flow')).toBe('orders 2');
    expect(links.alerts()).toBe('#/alerts');
    expect(parseRoute('#/users/7').page).toBe('not_found');
  });
});
