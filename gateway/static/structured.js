// One answer in the JSON a request requires (structured outputs): a form built from
// the request's JSON Schema by the tool forms (forms.js), with their raw-JSON switch.
// The server checks the answer again against the schema (strict mode included).
import { ToolForm } from './forms.js';
import { kindOf } from './schema.js';

/** The schema with local ``$ref``s (``#/$defs/X``) put in place, so nested models get fields. */
export function inlineRefs(schema, root = schema, seen = new Set()) {
  if (Array.isArray(schema)) return schema.map((item) => inlineRefs(item, root, seen));
  if (!schema || typeof schema !== 'object') return schema;
  const ref = schema.$ref;
  if (typeof ref === 'string' && ref.startsWith('#/') && !seen.has(ref)) {
    const target = ref
      .slice(2)
      .split('/')
      .reduce((node, key) => (node && typeof node === 'object' ? node[key.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), root);
    // A recursive model stops after one level: deeper, its field is a JSON box.
    if (target && typeof target === 'object') return inlineRefs({ ...target, ...withoutRef(schema) }, root, new Set([...seen, ref]));
  }
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$defs' || key === 'definitions') continue;
    out[key] = key === 'enum' || key === 'const' || key === 'default' ? value : inlineRefs(value, root, seen);
  }
  return out;
}

function withoutRef(schema) {
  const { $ref: _ref, ...rest } = schema;
  return rest;
}

/** What the answer must be, in words, for a task's ``output_format``. */
export function formatStatement(format) {
  if (!format) return '';
  if (format.type === 'json_object') return 'The agent asked for JSON: the answer must be valid JSON (any JSON value), written in the reply box.';
  const name = format.name ? ` “${format.name}”` : '';
  const strict = format.strict ? ' Strict: every field is required and no other fields are allowed.' : '';
  return `The agent asked for JSON matching the schema${name}: the answer must be JSON of that shape. Fill in the form, or switch to raw JSON.${strict}`;
}

/** A form for one JSON answer of a ``json_schema`` output format. */
export class JsonForm {
  constructor(format, label) {
    const description = [label, format.description].filter(Boolean).join(' · ');
    const tool = { name: format.name || 'answer', description, parameters: inlineRefs(format.schema ?? {}) };
    this.form = new ToolForm(tool, () => {});
    this.form.element.classList.add('json-answer');
    // The form is the answer itself, not a call to add to a list.
    this.form.element.querySelector('.add-call').hidden = true;
    this.element = this.form.element;
    // A schema whose top is not an object has no fields to show: raw JSON it is.
    if (kindOf(tool.parameters) !== 'object') this.fill('');
  }

  /** True when nothing was entered (an answer of tool calls alone may leave it so). */
  isEmpty() {
    if (this.form.rawToggle.checked) return !this.form.raw.value.trim();
    return JSON.stringify(this.form.root.read().value ?? {}) === '{}';
  }

  /** The JSON value, or undefined with the problems shown in the form. */
  value() {
    if (!this.form.rawToggle.checked) return this.form.arguments() ?? undefined;
    this.form.error.textContent = '';
    try {
      return JSON.parse(this.form.raw.value); // any JSON here: the server checks the schema
    } catch (error) {
      this.form.error.textContent = `Not valid JSON: ${error.message}`;
      return undefined;
    }
  }

  /** Show a value; text that is not a JSON object goes to the raw box as it is. */
  fill(value) {
    let parsed = value;
    if (typeof value === 'string') {
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined;
      }
    }
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      this.form.rawToggle.checked = false;
      this.form.raw.hidden = true;
      this.form.root.element.hidden = false;
      this.form.fill(parsed);
      return;
    }
    this.form.rawToggle.checked = true;
    this.form.raw.hidden = false;
    this.form.root.element.hidden = true;
    this.form.raw.value = typeof value === 'string' ? value : JSON.stringify(value ?? {}, null, 2);
  }

  /** What to keep for a reload: the raw text, or the form's value. */
  snapshot() {
    return this.form.rawToggle.checked ? this.form.raw.value : (this.form.root.read().value ?? {});
  }
}
