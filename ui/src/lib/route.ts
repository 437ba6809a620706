// The app's routes live in the URL's hash (`#/runs?key=…`), so `ferry serve` needs no
// knowledge of them and a reload or a shared link opens the same page.

export type Route =
  | { page: 'login' }
  | { page: 'runs'; query: URLSearchParams }
  | { page: 'run'; runId: number; query: URLSearchParams }
  | { page: 'record'; runId: number; seq: number }
  | { page: 'flows' }
  | { page: 'flow'; flowId: string }
  | { page: 'failed'; flowId: string }
  | { page: 'templates' }
  | { page: 'connections'; query: URLSearchParams }
  | { page: 'tokens' }
  | { page: 'users' }
  | { page: 'alerts'; query: URLSearchParams }
  | { page: 'audit' }
  | { page: 'not_found'; path: string };

const isId = (s: string | undefined): s is string => !!s && /^\d+$/.test(s);

/** The route of a location hash (`#/runs/3/records/7`); an empty hash is the activity log. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const cut = raw.indexOf('?');
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const query = new URLSearchParams(cut < 0 ? '' : raw.slice(cut + 1));
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'runs', query };
  const [head, a, b, c] = parts;
  switch (head) {
    case 'login':
      return { page: 'login' };
    case 'runs':
      if (parts.length === 1) return { page: 'runs', query };
      if (parts.length === 2 && isId(a)) return { page: 'run', runId: Number(a), query };
      if (parts.length === 4 && isId(a) && b === 'records' && isId(c))
        return { page: 'record', runId: Number(a), seq: Number(c) };
      break;
    case 'flows':
      if (parts.length === 1) return { page: 'flows' };
      if (parts.length === 2) return { page: 'flow', flowId: a };
      if (parts.length === 3 && b === 'failed') return { page: 'failed', flowId: a };
      break;
    case 'templates':
      if (parts.length === 1) return { page: 'templates' };
      break;
    case 'connections':
      if (parts.length === 1) return { page: 'connections', query };
      break;
    case 'tokens':
      if (parts.length === 1) return { page: 'tokens' };
      break;
    case 'users':
      if (parts.length === 1) return { page: 'users' };
      break;
    case 'alerts':
      if (parts.length === 1) return { page: 'alerts', query };
      break;
    case 'audit':
      if (parts.length === 1) return { page: 'audit' };
      break;
  }
  return { page: 'not_found', path };
}

/** The hash of a path and optional query (empty values left out). */
export function href(path: string, query?: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) params.set(k, v);
  const q = params.toString();
  return `#${path}${q ? `?${q}` : ''}`;
}

export const links = {
  runs: (query?: Record<string, string | undefined>) => href('/runs', query),
  run: (id: number) => href(`/runs/${id}`),
  record: (runId: number, seq: number) => href(`/runs/${runId}/records/${seq}`),
  flows: () => href('/flows'),
  flow: (id: string) => href(`/flows/${encodeURIComponent(id)}`),
  failed: (id: string) => href(`/flows/${encodeURIComponent(id)}/failed`),
  templates: () => href('/templates'),
  /** `create`: open the create form with this connector chosen. */
  connections: (create?: string) => href('/connections', { create }),
  tokens: () => href('/tokens'),
  users: () => href('/users'),
  /** `flow`: open that flow's alert settings. */
  alerts: (flow?: string) => href('/alerts', { flow }),
  audit: () => href('/audit'),
};
