import { describe, expect, it } from 'vitest';
import { ApiError } from './api/errors';
import {
  alertProblemsOf,
  channelProblems,
  deliveriesApiQuery,
  deliveryFilterProblems,
  EMPTY_DELIVERY_FILTERS,
  emptyChannel,
  flowAlerts,
  formFromSettings,
  localToRfc3339,
  queryProblemField,
  settingsFromForm,
  withFlowAlerts,
} from './alertForm';

describe('alert settings as a form', () => {
  const settings = {
    channels: [
      { type: 'email' as const, to: 'ops@shop.eu, Jane <jane@erp.fr>', subject: '{flow} {status}', on: 'both' as const },
      { type: 'webhook' as const, url: 'https://hooks.example.org/x' },
    ],
    heartbeat_hours: 24,
  };

  it('round-trips stored settings (a missing `on` is the default, failure)', () => {
    const form = formFromSettings(settings);
    expect(form.heartbeat).toBe('24');
    expect(form.channels[1]).toEqual({ ...emptyChannel('webhook'), url: 'https://hooks.example.org/x', on: 'failure' });
    expect(settingsFromForm(form)).toEqual({
      settings: {
        channels: [settings.channels[0], { type: 'webhook', url: 'https://hooks.example.org/x', on: 'failure' }],
        heartbeat_hours: 24,
      },
    });
  });

  it('starts empty without settings, and sends no heartbeat or empty subject', () => {
    const form = formFromSettings(null);
    expect(form).toEqual({ channels: [], heartbeat: '' });
    form.channels.push({ ...emptyChannel(), to: ' a@b.eu ', subject: '  ' });
    expect(settingsFromForm(form)).toEqual({ settings: { channels: [{ type: 'email', to: 'a@b.eu', on: 'failure' }] } });
  });

  it('refuses hours that are not a whole number of at least 1, under heartbeat_hours', () => {
    for (const heartbeat of ['0', '1.5', 'x', '-2']) {
      expect(settingsFromForm({ channels: [], heartbeat })).toEqual({
        problems: { heartbeat_hours: [expect.stringMatching(/whole number/)] },
      });
    }
  });
});

describe('alertProblemsOf', () => {
  it('files a tenant default’s issues by their path', () => {
    const error = new ApiError(422, 'invalid_alerts', 'the alert settings have 2 problem(s)', {
      field: 'channels[0].to',
      issues: [
        { path: 'channels[0].to', message: 'recipient 2 `x` is not an email address' },
        { path: 'heartbeat_hours', message: 'at least 1' },
      ],
    });
    const { byPath, other } = alertProblemsOf(error);
    expect(channelProblems(byPath, 0, 'to')).toEqual(['recipient 2 `x` is not an email address']);
    expect(byPath.heartbeat_hours).toEqual(['at least 1']);
    expect(other).toEqual([]);
  });

  it('cuts `alerts.` from a flow’s issues and keeps the flow’s other problems apart', () => {
    const error = new ApiError(422, 'invalid_flow', 'the flow has 2 problems', {
      issues: [
        { path: 'alerts.channels[1].url', message: 'must be http:// or https://' },
        { path: 'steps[0].fields[0]', message: 'bad' },
      ],
    });
    const { byPath, other } = alertProblemsOf(error, 'alerts.');
    expect(channelProblems(byPath, 1, 'url')).toEqual(['must be http:// or https://']);
    expect(other).toEqual(['steps[0].fields[0]: bad']);
  });

  it('keeps an error without issues as one line', () => {
    const error = new ApiError(422, 'invalid_body', 'unknown variant `sms`');
    expect(alertProblemsOf(error)).toEqual({ byPath: {}, other: ['unknown variant `sms` (invalid_body)'] });
  });
});

describe('a flow’s own alerts', () => {
  it('are set and removed without touching the rest of the definition', () => {
    const def = { id: 'f', steps: [], alerts: { channels: [] } };
    const set = withFlowAlerts(def, { channels: [{ type: 'webhook', url: 'http://x' }] });
    expect(flowAlerts(set)).toEqual({ channels: [{ type: 'webhook', url: 'http://x' }] });
    const removed = withFlowAlerts(def, null);
    expect(removed).toEqual({ id: 'f', steps: [] });
    expect(flowAlerts(removed)).toBeNull();
    expect(def.alerts).toEqual({ channels: [] });
  });
});

describe('delivery log query', () => {
  it('sends only the filters given, times in UTC', () => {
    const since = '2026-11-23T10:00';
    const q = deliveriesApiQuery({ ...EMPTY_DELIVERY_FILTERS, kind: 'test', status: 'failed', since, flow: ' f ' }, 'demo', 50);
    expect(Object.fromEntries(q)).toEqual({
      tenant: 'demo',
      flow: 'f',
      kind: 'test',
      status: 'failed',
      since: new Date(since).toISOString(),
      limit: '50',
    });
    expect(Object.fromEntries(deliveriesApiQuery(EMPTY_DELIVERY_FILTERS, null))).toEqual({ limit: '100' });
  });

  it('drops what is not a datetime-local value, and names it', () => {
    expect(localToRfc3339('yesterday')).toBeNull();
    expect(deliveryFilterProblems({ ...EMPTY_DELIVERY_FILTERS, since: 'yesterday' })).toEqual({ since: 'a date and time' });
    expect(deliveryFilterProblems({ ...EMPTY_DELIVERY_FILTERS, since: '2026-11-24T10:00', until: '2026-11-23T10:00' }).until).toMatch(
      /before/,
    );
  });

  it('reads the field a refused query names', () => {
    expect(queryProblemField(new ApiError(422, 'invalid_query', 'bad', { field: 'since' }))).toBe('since');
    expect(queryProblemField(new ApiError(422, 'invalid_alerts', 'bad', { field: 'since' }))).toBeNull();
  });
});
