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

/** Why the non-empty string ``text`` breaks ``s``, or null. */
export function stringError(text, s) {
  if (s.minLength !== undefined && text.length < s.minLength) return `at least ${s.minLength} characters`;
  if (s.maxLength !== undefined && text.length > s.maxLength) return `at most ${s.maxLength} characters`;
  if (s.pattern) {
    let re = null;
    try {
      re = new RegExp(s.pattern, 'u');
    } catch {
      re = null; // a pattern JavaScript can't read: leave it to the server
    }
    if (re && !re.test(text)) return `must match ${s.pattern}`;
  }
  return null;
}
