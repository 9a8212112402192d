// The only module that talks to the server: the reviewer API under /api/.

/** An HTTP error from the reviewer API, with the OpenAI-style message. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const NAME_KEY = 'hitl.reviewer';
let reviewerName = localStorage.getItem(NAME_KEY) || '';
let unauthorized = () => {};

/** The X-Reviewer name used when the gateway has no reviewer tokens. */
export function getReviewerName() {
  return reviewerName;
}

export function setReviewerName(name) {
  reviewerName = name.trim().slice(0, 64);
  if (reviewerName) localStorage.setItem(NAME_KEY, reviewerName);
  else localStorage.removeItem(NAME_KEY);
}

/** Called on any 401, so the app can show the login screen. */
export function onUnauthorized(callback) {
  unauthorized = callback;
}

async function request(method, path, body, { keepalive = false, quiet401 = false, raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (reviewerName) headers['X-Reviewer'] = reviewerName;
  const init = { method, headers, credentials: 'same-origin', keepalive };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `Network error: ${error.message}`, null);
  }
  const text = await response.text();
  if (raw && response.ok) return text;
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data?.error?.message || `${response.status} ${response.statusText}`;
    if (response.status === 401 && !quiet401) unauthorized();
    throw new ApiError(response.status, message, data);
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  me: () => request('GET', '/api/me', undefined, { quiet401: true }),
  login: (token) => request('POST', '/api/login', { token }, { quiet401: true }),
  logout: () => request('POST', '/api/logout', {}, { quiet401: true }),
  stats: () => request('GET', '/api/stats'),
  /** Task summaries; ``params`` may hold status (array), model, session, order, limit. */
  tasks(params = {}) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined || value === null || value === '') continue;
      query.set(key, Array.isArray(value) ? value.join(',') : String(value));
    }
    const qs = query.toString();
    return request('GET', `/api/tasks${qs ? `?${qs}` : ''}`);
  },
  task: (id) => request('GET', `/api/tasks/${enc(id)}`),
  claim: (id) => request('POST', `/api/tasks/${enc(id)}/claim`, {}),
  /** ``keepalive`` lets a release finish while the tab closes. */
  release: (id, keepalive = false) =>
    request('POST', `/api/tasks/${enc(id)}/release`, {}, { keepalive }),
  answer: (id, body) => request('POST', `/api/tasks/${enc(id)}/answer`, body),
  reject: (id, reason) => request('POST', `/api/tasks/${enc(id)}/reject`, { reason }),
  /** A grade of a grade task: verdict, scores, comment, correction (grade.js). */
  grade: (id, body) => request('POST', `/api/tasks/${enc(id)}/grade`, body),
  /** A session's trajectory: its steps in order (GET /api/sessions/{id}). */
  session: (id) => request('GET', `/api/sessions/${enc(id)}`),
  calibration: () => request('GET', '/api/calibration'),
  /** The calibration chart's SVG source, for an <img> through a blob URL. */
  calibrationChart: () => request('GET', '/api/calibration.svg', undefined, { raw: true }),
};

export const TASK_EVENTS = [
  'task.created',
  'task.claimed',
  'task.released',
  'task.answered',
  'task.rejected',
  'task.expired',
  'task.cancelled',
  'task.escalated',
  'task.graded',
];

/**
 * Subscribe to live task events. ``onEvent(name, summary)`` for each event,
 * ``onState(live)`` when the stream opens or drops (EventSource reconnects itself).
 */
export function subscribe(onEvent, onState) {
  const source = new EventSource('/api/events');
  for (const name of TASK_EVENTS) {
    source.addEventListener(name, (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      onEvent(name, data);
    });
  }
  source.addEventListener('open', () => onState(true));
  source.addEventListener('error', () => onState(false, source.readyState === EventSource.CLOSED));
  return source;
}
