// What one JSON Schema node asks of a form field: its kind, a hint for people, and
// the checks on a value. The server validates again with a full JSON Schema library.

/** The one type a schema describes, or 'json' when a form can't express it. */
export function kindOf(schema) {
  if (!schema || typeof schema !== 'object') return 'json';
  if (Array.isArray(schema.enum)) return 'enum';
  for (const key of ['anyOf', 'oneOf']) {
    const options = schema[key];
    if (Array.isArray(options)) {
      const real = options.filter((o) => o?.type !== 'null');
      return real.length === 1 ? kindOf(real[0]) : 'json';
    }
  }
  let type = schema.type;
  if (Array.isArray(type)) {
    const real = type.filter((t) => t !== 'null');
    type = real.length === 1 ? real[0] : undefined;
  }
  if (!type && schema.properties) type = 'object';
  if (!type && schema.items) type = 'array';
  return ['string', 'number', 'integer', 'boolean', 'array', 'object'].includes(type) ? type : 'json';
}

/** A schema without a nullable anyOf/oneOf wrapper around its one real option. */
export function unwrap(schema) {
  for (const key of ['anyOf', 'oneOf']) {
    if (Array.isArray(schema?.[key])) {
      const real = schema[key].filter((o) => o?.type !== 'null');
      if (real.length === 1) return { ...real[0], description: schema.description ?? real[0].description };
    }
  }
  return schema ?? {};
}

/** The constraints of ``schema`` in words, or '' (``kind`` as from kindOf). */
export function hintText(schema, kind) {
  const bits = [];
  if (schema.description) bits.push(schema.description);
  const range = [];
  if (schema.minimum !== undefined) range.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) range.push(`≤ ${schema.maximum}`);
  if (schema.minLength !== undefined) range.push(`min length ${schema.minLength}`);
  if (schema.maxLength !== undefined) range.push(`max length ${schema.maxLength}`);
  if (schema.pattern) range.push(`pattern ${schema.pattern}`);
  if (range.length) bits.push(range.join(', '));
  if (kind === 'integer') bits.push('whole number');
  return bits.join(' · ');
}

/** Why ``count`` items break the array schema ``s``, or null. */
export function itemsError(count, s) {
  if (s.minItems !== undefined && count < s.minItems) return `needs at least ${s.minItems} item(s)`;
  if (s.maxItems !== undefined && count > s.maxItems) return `at most ${s.maxItems} item(s)`;
  return null;
}

/** Why the number ``n`` breaks ``s`` (``kind`` 'number' or 'integer'), or null. */
export function numberError(n, kind, s) {
  if (!Number.isFinite(n)) return 'must be a number';
  if (kind === 'integer' && !Number.isInteger(n)) return 'must be a whole number';
  if (s.minimum !== undefined && n < s.minimum) return `must be ≥ ${s.minimum}`;
  if (s.maximum !== undefined && n > s.maximum) return `must be ≤ ${s.maximum}`;
  if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) return `must be > ${s.exclusiveMinimum}`;
  if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) return `must be < ${s.exclusiveMaximum}`;
  if (s.multipleOf && Math.abs(n / s.multipleOf - Math.round(n / s.multipleOf)) > 1e-9) return `must be a multiple of ${s.multipleOf}`;
  return null;
}

/**
 * Why the non-empty string ``text`` breaks ``s``, or null. A ``pattern`` is checked
 * off the page (testPattern): until its verdict is in, the string passes here and
 * ``onPending`` runs once it is (the server checks every answer again anyway).
 */
export function stringError(text, s, onPending) {
  if (s.minLength !== undefined && text.length < s.minLength) return `at least ${s.minLength} characters`;
  if (s.maxLength !== undefined && text.length > s.maxLength) return `at most ${s.maxLength} characters`;
  if (typeof s.pattern === 'string') {
    const verdict = patternVerdict(s.pattern, text);
    if (verdict === undefined && onPending) testPattern(s.pattern, text).then(onPending);
    if (verdict === false) return `must match ${s.pattern}`;
  }
  return null;
}

// -- patterns, off the page -------------------------------------------------------
// A client declares the patterns, and a JavaScript RegExp cannot be interrupted:
// `^(a|aa)+$` against 48 "a"s and a "!" backtracks for about two minutes. So every
// pattern runs in a Worker, one test at a time; one that takes longer than
// PATTERN_TIME_MS has its worker ended, and that pattern is never tried here again
// (its verdict is left to the server, which bounds its own regex time).

export const PATTERN_TIME_MS = 250; // a sane pattern takes microseconds; the limit is for the busy machine
const KEPT_VERDICTS = 2000;
const verdicts = new Map(); // `${pattern}\u0000${text}` -> true | false | null
const slowPatterns = new Set();
const queued = []; // {key, pattern, text, settle}
const inFlight = new Map(); // key -> Promise of the verdict
let worker = null;
let workerReady = null; // a Promise resolved once the worker can take a test
let running = false;

const keyOf = (pattern, text) => `${pattern}\u0000${text}`;

/** The verdict already known for ``text`` against ``pattern``: true, false, null (can't tell), or undefined (not yet). */
export function patternVerdict(pattern, text) {
  if (slowPatterns.has(pattern)) return null;
  return verdicts.get(keyOf(pattern, text));
}

/**
 * Whether ``text`` matches ``pattern`` (as JSON Schema reads it: anywhere in the
 * string, Unicode), tested in a Worker with a time limit so the page never waits.
 * Resolves true or false, or null when it can't tell: a pattern JavaScript cannot
 * read, one that ran out of time (now or before), or no Worker.
 */
export function testPattern(pattern, text) {
  const key = keyOf(pattern, text);
  const known = patternVerdict(pattern, text);
  if (known !== undefined) return Promise.resolve(known);
  if (inFlight.has(key)) return inFlight.get(key);
  const promise = new Promise((settle) => queued.push({ key, pattern, text, settle }));
  inFlight.set(key, promise);
  runQueue();
  return promise;
}

/** Resolves once every pattern test asked for so far has its verdict. */
export function patternsSettled() {
  return Promise.all([...inFlight.values()]).then(() => undefined);
}

function remember(job, verdict) {
  inFlight.delete(job.key);
  if (verdict !== null || !slowPatterns.has(job.pattern)) {
    verdicts.set(job.key, verdict);
    if (verdicts.size > KEPT_VERDICTS) verdicts.delete(verdicts.keys().next().value);
  }
  job.settle(verdict);
}

function startWorker() {
  try {
    worker = new Worker(new URL('./pattern-worker.js', import.meta.url));
  } catch {
    worker = null;
    return null;
  }
  // Its start-up is not counted against a pattern's time.
  workerReady = new Promise((ready) => {
    worker.onmessage = ({ data }) => data?.ready && ready(true);
    worker.onerror = () => ready(false);
  });
  return workerReady;
}

async function runQueue() {
  if (running) return;
  running = true;
  try {
    while (queued.length) {
      const job = queued.shift();
      if (slowPatterns.has(job.pattern)) {
        remember(job, null);
        continue;
      }
      if (!worker && !(await startWorker())) {
        remember(job, null);
        continue;
      }
      if (!(await workerReady)) {
        worker = null;
        remember(job, null);
        continue;
      }
      remember(job, await runOne(job));
    }
  } finally {
    running = false;
  }
}

function runOne(job) {
  return new Promise((done) => {
    const id = Math.random();
    const timer = setTimeout(() => {
      worker.terminate(); // the only way to stop a RegExp mid-run
      worker = null;
      slowPatterns.add(job.pattern);
      done(null);
    }, PATTERN_TIME_MS);
    worker.onmessage = ({ data }) => {
      if (data?.id !== id) return;
      clearTimeout(timer);
      done(data.result);
    };
    worker.postMessage({ id, pattern: job.pattern, text: job.text });
  });
}

/**
 * Every string in ``value`` that breaks a ``pattern`` of ``schema``, as
 * [path, message] pairs, checked off the page (for raw JSON arguments, say). It
 * follows ``properties``, ``items``, ``prefixItems``, ``allOf`` and an anyOf/oneOf
 * with one real option; the server's full JSON Schema check still decides.
 */
export async function patternErrors(schema, value, path = '') {
  const s = unwrap(schema);
  if (!s || typeof s !== 'object') return [];
  const checks = [];
  if (typeof value === 'string' && typeof s.pattern === 'string') {
    checks.push(testPattern(s.pattern, value).then((ok) => (ok === false ? [[path, `must match ${s.pattern}`]] : [])));
  }
  if (value && typeof value === 'object' && !Array.isArray(value) && s.properties) {
    for (const [key, sub] of Object.entries(s.properties)) {
      if (key in value) checks.push(patternErrors(sub, value[key], path ? `${path}.${key}` : key));
    }
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const sub = Array.isArray(s.prefixItems) && i < s.prefixItems.length ? s.prefixItems[i] : s.items;
      if (sub && typeof sub === 'object') checks.push(patternErrors(sub, item, `${path}[${i}]`));
    });
  }
  for (const sub of Array.isArray(s.allOf) ? s.allOf : []) checks.push(patternErrors(sub, value, path));
  return (await Promise.all(checks)).flat();
}
