// REST calls with the token of this tab. The token lives in sessionStorage only: never in a
// URL (URLs end up in logs and history) and never in a cookie (sent where it is not meant).

const KEY = "trading-agent.token";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer of the API that is not a success: its status and the API's error shape. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** Calls /api/v1{path}; the parsed JSON answer, or throws ApiError. */
export async function api(path, { method = "GET", body, tokenValue } = {}) {
  const headers = { Authorization: `Bearer ${tokenValue ?? token.get() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data?.error, data?.detail ?? response.statusText);
    if (response.status === 401 && tokenValue === undefined) unauthorized(error);
    throw error;
  }
  return data;
}

let unauthorized = () => {};

/** Told when the kept token stops being accepted (changed on the server, say). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/**
 * Runs `fn` once, `ms` after the first of a burst of calls, with the last call's arguments.
 * A steady stream of calls (an event every cycle) still runs it every `ms`: the timer is not
 * pushed back by each call, so nothing starves.
 */
export function coalesce(fn, ms) {
  let timer = null;
  let latest = [];
  return (...args) => {
    latest = args;
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn(...latest);
    }, ms);
  };
}

/**
 * A page's show and hide: it is read when shown, then on every change while shown (and
 * again after a reconnect), never while another page is.
 */
export function shownPage(refresh) {
  const page = {
    visible: false,
    show() {
      page.visible = true;
      refresh();
    },
    hide() {
      page.visible = false;
    },
    reconnected: refresh,
  };
  return page;
}

/**
 * The turns of a choice a view follows (an account, a symbol, a run): an answer asked for in
 * an earlier turn arrives late and is dropped, never drawn under the choice made after it.
 * Each drop is counted on the page (`data-late-answers` on the body): tests wait for it.
 */
export function turns() {
  let turn = 0;
  return {
    /** A new choice: answers asked for before it are late from now on. */
    next() {
      turn += 1;
    },
    /** For an answer asked for now: a check that it is still this turn's when it comes. */
    ask() {
      const asked = turn;
      return () => {
        if (asked === turn) return true;
        const page = document.body.dataset;
        page.lateAnswers = String(Number(page.lateAnswers ?? 0) + 1);
        return false;
      };
    },
  };
}
