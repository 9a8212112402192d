// A JSON value checked against a tool's JSON Schema in the browser, in the words the
// form fields use ("priority must be one of low, normal, high"), for arguments typed
// in the raw-JSON view; and the server's 422 about a call put in the same words.
// The server checks again with a full JSON Schema library: this covers what forms
// can express (types, required, enums, const, ranges, lengths, items, closed
// objects, nullable anyOf). Patterns are not run here: a client-declared pattern run
// on the page could freeze it, so forms.js asks schema.js's patternErrors (a Worker
// with a time limit) after this.
import { itemsError, kindOf, numberError, stringError, unwrap } from './schema.js';

const TYPE_WORDS = {
  string: 'must be text',
  number: 'must be a number',
  integer: 'must be a whole number',
  boolean: 'must be true or false',
  array: 'must be a list',
  object: 'must be an object with fields',
  null: 'must be null',
};

const show = (value) => (typeof value === 'string' ? value : JSON.stringify(value));

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function fits(value, type) {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

/**
 * Problems of ``value`` against ``schema`` as [path, message] pairs ('' for the top);
 * an empty list when it fits as far as the browser checks.
 */
export function checkValue(schema, value, path = '') {
  const problems = [];
  visit(schema, value, path, problems, 0);
  return problems;
}

function visit(rawSchema, value, path, problems, depth) {
  if (!rawSchema || typeof rawSchema !== 'object' || depth > 32) return;
  const nullable = [rawSchema.anyOf, rawSchema.oneOf].some((o) => Array.isArray(o) && o.some((x) => x?.type === 'null'));
  if (value === null && (nullable || (Array.isArray(rawSchema.type) && rawSchema.type.includes('null')))) return;
  const schema = unwrap(rawSchema);
  const kind = kindOf(schema);
  const fail = (message) => problems.push([path, message]);
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) return fail(`must be ${show(schema.const)}`);
  if (kind === 'enum') {
    if (!schema.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))) fail(`must be one of ${schema.enum.map(show).join(', ')}`);
    return;
  }
  if (kind === 'json') return; // a shape forms don't express: the server's to check
  if (!fits(value, kind)) return fail(TYPE_WORDS[kind]);
  switch (kind) {
    case 'number':
    case 'integer': {
      const wrong = numberError(value, kind, schema);
      if (wrong) fail(wrong);
      return;
    }
    case 'string': {
      const { pattern: _pattern, ...rest } = schema;
      const wrong = value ? stringError(value, rest) : schema.minLength > 0 ? `at least ${schema.minLength} characters` : null;
      if (wrong) fail(wrong);
      return;
    }
    case 'array': {
      const wrong = itemsError(value.length, schema);
      if (wrong) fail(wrong);
      value.forEach((item, i) => visit(schema.items ?? {}, item, join(path, String(i + 1)), problems, depth + 1));
      return;
    }
    case 'object': {
      const properties = schema.properties ?? {};
      for (const name of schema.required ?? []) if (!(name in value)) problems.push([join(path, name), 'required']);
      for (const [name, item] of Object.entries(value)) {
        if (name in properties) visit(properties[name], item, join(path, name), problems, depth + 1);
        else if (schema.additionalProperties === false) problems.push([join(path, name), 'is not a field of this tool']);
        else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') visit(schema.additionalProperties, item, join(path, name), problems, depth + 1);
      }
      return;
    }
    default:
  }
}

const join = (path, name) => (path ? `${path}.${name}` : name);

/**
 * The server's 422 about a call's arguments, for the person: which call (0-based),
 * which field ('' for the arguments as a whole) and what is wrong, in plain words.
 * ``param`` is like ``tool_calls.0.arguments.customer.name``; ``message`` is
 * ``<param>: <JSON Schema message>``. Null when the error is not about one call.
 */
export function callProblem(param, message) {
  const m = /^tool_calls\.(\d+)(?:\.(name|arguments))?(?:\.(.+))?$/.exec(param ?? '');
  if (!m) return null;
  const detail = String(message ?? '').startsWith(`${param}: `) ? message.slice(param.length + 2) : String(message ?? '');
  let field = m[3] ?? '';
  let words = plainWords(detail);
  // "'x' is a required property" / "('x' was unexpected)" name the field themselves.
  const named = /^'([^']+)' is a required property$/.exec(detail) ?? /\('([^']+)' was unexpected\)/.exec(detail);
  if (named) {
    field = field ? `${field}.${named[1]}` : named[1];
    words = /required/.test(detail) ? 'required' : 'is not a field of this tool';
  }
  if (m[2] === 'name') words = detail;
  return { index: Number(m[1]), field, words };
}

/** A JSON Schema library's message in the form's words, or the message as it is. */
export function plainWords(detail) {
  const rules = [
    [/ is not one of \[(.*)\]$/, (m) => `must be one of ${m[1].replace(/'/g, '')}`],
    [/ is not of type '(\w+)'$/, (m) => TYPE_WORDS[m[1]] ?? `must be of type ${m[1]}`],
    [/ is less than the minimum of (.+)$/, (m) => `must be ≥ ${m[1]}`],
    [/ is greater than the maximum of (.+)$/, (m) => `must be ≤ ${m[1]}`],
    [/ is less than or equal to the minimum of (.+)$/, (m) => `must be > ${m[1]}`],
    [/ is greater than or equal to the maximum of (.+)$/, (m) => `must be < ${m[1]}`],
    [/ does not match '(.*)'$/, (m) => `must match ${m[1]}`],
    [/ is too short$/, () => 'is too short (or has too few items)'],
    [/ is too long$/, () => 'is too long (or has too many items)'],
    [/ has non-unique elements$/, () => 'has the same item twice'],
    [/ should be non-empty$/, () => 'must not be empty'],
    [/ is not a multiple of (.+)$/, (m) => `must be a multiple of ${m[1]}`],
    [/ was expected$/, (m) => `must be ${m.input.replace(/ was expected$/, '')}`],
  ];
  for (const [re, words] of rules) {
    const m = re.exec(detail);
    if (m) return words(m);
  }
  return detail;
}
