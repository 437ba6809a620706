import { describe, expect, it } from 'vitest';
import { requestHeaders } from './client';

describe('requestHeaders', () => {
  it('sends the CSRF token on every method that changes something', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect(requestHeaders(method, true, 'tok')).toEqual({
        'content-type': 'application/json',
        'x-csrf-token': 'tok',
      });
    }
    expect(requestHeaders('POST', false, 'tok')).toEqual({ 'x-csrf-token': 'tok' });
  });

  it('keeps the token off reads, and sends none before login', () => {
    expect(requestHeaders('GET', false, 'tok')).toEqual({});
    expect(requestHeaders('POST', true, null)).toEqual({ 'content-type': 'application/json' });
  });
});
