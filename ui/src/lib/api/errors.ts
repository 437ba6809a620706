// API errors: every error body is `{"error": {"code", "message", "details"}}`; this module
// turns answers (and network failures) into one shape the pages show.

/** An API error, or a failure to reach the API at all (`status` 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = undefined,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The error of a non-2xx answer, from its body text when it is ours. */
export function errorFromBody(status: number, body: string): ApiError {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const e = parsed?.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new ApiError(status, e.code, e.message, e.details);
    }
  } catch {
    // Not JSON: a proxy's page or an empty body; fall through.
  }
  const text = body.trim().slice(0, 200);
  return new ApiError(status, `http_${status}`, text ? `HTTP ${status}: ${text}` : `HTTP ${status}`);
}

/** A problem attached to one field: `{field, message}` in the error's details. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * Field problems of an error's details: `{field}` (one problem, the error's own message),
 * `{problems: [{field, message}]}` (template enable), or a plain `[{field, message}]`.
 */
export function fieldProblems(error: ApiError): FieldProblem[] {
  const d = error.details as Record<string, unknown> | unknown[] | undefined | null;
  if (!d) return [];
  const list = Array.isArray(d) ? d : Array.isArray((d as Record<string, unknown>).problems) ? ((d as Record<string, unknown>).problems as unknown[]) : null;
  if (list) {
    return list.flatMap((p) => {
      const item = p as Record<string, unknown>;
      return typeof item?.field === 'string' && typeof item?.message === 'string'
        ? [{ field: item.field, message: item.message }]
        : [];
    });
  }
  const field = (d as Record<string, unknown>).field;
  return typeof field === 'string' ? [{ field, message: error.message }] : [];
}

/** Issues of an invalid flow (`details.issues` or a details array of `{path, message}`). */
export function issueLines(error: ApiError): string[] {
  const d = error.details as Record<string, unknown> | unknown[] | undefined | null;
  const list = Array.isArray(d) ? d : d && Array.isArray(d.issues) ? (d.issues as unknown[]) : [];
  return list.flatMap((i) => {
    if (typeof i === 'string') return [i];
    const item = i as Record<string, unknown>;
    if (typeof item?.message !== 'string') return [];
    const where = typeof item.path === 'string' && item.path ? `${item.path}: ` : '';
    return [`${where}${item.message}`];
  });
}

/** One line for a person: what went wrong and, for API errors, the stable code. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return `Cannot reach Ferry: ${error.message}`;
    return `${error.message} (${error.code}, HTTP ${error.status})`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
