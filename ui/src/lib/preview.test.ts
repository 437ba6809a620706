import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { debounced, parseSample } from './preview';

describe('parseSample', () => {
  it('takes a JSON object', () => {
    expect(parseSample('{"id": 1, "name": "#1005"}')).toEqual({ ok: true, value: { id: 1, name: '#1005' } });
  });

  it('says why anything else is not a sample', () => {
    expect(parseSample('  ')).toEqual({ ok: false, message: 'Type a sample record (a JSON object).' });
    expect(parseSample('[1]')).toMatchObject({ ok: false, message: expect.stringContaining('JSON object') });
    const broken = parseSample('{"id": ');
    expect(broken.ok).toBe(false);
    if (!broken.ok) expect(broken.message).toMatch(/^Not JSON yet: /);
  });
});

describe('debounced', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs only the last value of a burst, after the delay', async () => {
    const seen: string[] = [];
    const d = debounced<string>(300, async (v) => {
      seen.push(v);
    });
    d.push('a');
    vi.advanceTimersByTime(100);
    d.push('ab');
    vi.advanceTimersByTime(299);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual(['ab']);
  });

  it('aborts the call in flight when a newer value comes', async () => {
    const signals: AbortSignal[] = [];
    const d = debounced<number>(10, (_v, signal) => {
      signals.push(signal);
      return new Promise<void>(() => {});
    });
    d.push(1);
    vi.advanceTimersByTime(10);
    d.push(2);
    expect(signals[0].aborted).toBe(true);
    vi.advanceTimersByTime(10);
    expect(signals).toHaveLength(2);
    expect(signals[1].aborted).toBe(false);
    d.cancel();
    expect(signals[1].aborted).toBe(true);
  });
});
