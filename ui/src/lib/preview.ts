// The mapping preview's logic: parse the sample the user types (with the position of a JSON
// mistake), and run only the latest of quickly typed edits against the API.

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

/** The sample record as typed: a JSON object, or why it is not one. */
export function parseSample(text: string): Parsed {
  if (!text.trim()) return { ok: false, message: 'Type a sample record (a JSON object).' };
  try {
    const value = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { ok: false, message: 'The sample record must be a JSON object ({…}).' };
    }
    return { ok: true, value };
  } catch (e) {
    return { ok: false, message: `Not JSON yet: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * Calls `run` with the latest value once `delayMs` passed without a newer one; an older call
 * still in flight is aborted, so a slow answer never overwrites a newer one.
 */
export function debounced<T>(delayMs: number, run: (value: T, signal: AbortSignal) => Promise<void>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: AbortController | undefined;
  const cancel = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    inFlight?.abort();
    inFlight = undefined;
  };
  const push = (value: T) => {
    cancel();
    timer = setTimeout(() => {
      timer = undefined;
      const controller = new AbortController();
      inFlight = controller;
      run(value, controller.signal).finally(() => {
        if (inFlight === controller) inFlight = undefined;
      });
    }, delayMs);
  };
  return { push, cancel };
}
