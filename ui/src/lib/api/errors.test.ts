import { describe, expect, it } from 'vitest';
import { ApiError, describeError, errorFromBody, fieldProblems, issueLines } from './errors';

describe('errorFromBody', () => {
  it('reads our error body', () => {
    const e = errorFromBody(404, '{"error":{"code":"run_not_found","message":"no run 9"}}');
    expect(e.status).toBe(404);
    expect(e.code).toBe('run_not_found');
    expect(e.message).toBe('no run 9');
    expect(describeError(e)).toBe('no run 9 (run_not_found, HTTP 404)');
  });

  it('keeps a foreign body short and says the status', () => {
    const e = errorFromBody(502, '<html>Bad gateway</html>' + 'x'.repeat(500));
    expect(e.code).toBe('http_502');
    expect(e.message.startsWith('HTTP 502: <html>Bad gateway</html>')).toBe(true);
    expect(e.message.length).toBeLessThan(220);
    expect(errorFromBody(500, '').message).toBe('HTTP 500');
  });
});

describe('fieldProblems', () => {
  it('reads the template enable problems', () => {
    const e = new ApiError(422, 'invalid_template_choice', 'cannot be enabled', {
      problems: [
        { field: 'connections.shop', message: 'connection slot `shop` is not bound' },
        { field: 'settings.days', message: 'setting `days`: expected a number' },
      ],
    });
    expect(fieldProblems(e)).toEqual([
      { field: 'connections.shop', message: 'connection slot `shop` is not bound' },
      { field: 'settings.days', message: 'setting `days`: expected a number' },
    ]);
  });

  it('reads a single field and ignores details without fields', () => {
    const e = new ApiError(422, 'weak_password', '`password` needs 10 characters', { field: 'password' });
    expect(fieldProblems(e)).toEqual([{ field: 'password', message: '`password` needs 10 characters' }]);
    expect(fieldProblems(new ApiError(400, 'x', 'y', { issues: [] }))).toEqual([]);
    expect(fieldProblems(new ApiError(400, 'x', 'y'))).toEqual([]);
  });
});

describe('issueLines and describeError', () => {
  it('prefixes each issue with its path', () => {
    const e = new ApiError(422, 'invalid_flow', '2 problems', [
      { path: 'steps[0].fields[1]', message: 'bad jsonpath' },
      { path: '', message: 'no source' },
    ]);
    expect(issueLines(e)).toEqual(['steps[0].fields[1]: bad jsonpath', 'no source']);
    expect(issueLines(new ApiError(422, 'invalid_flow', 'x', { issues: ['a', 'b'] }))).toEqual(['a', 'b']);
  });

  it('says when Ferry cannot be reached', () => {
    expect(describeError(new ApiError(0, 'network_error', 'Failed to fetch'))).toBe('Cannot reach Ferry: Failed to fetch');
    expect(describeError(new Error('boom'))).toBe('boom');
  });
});
