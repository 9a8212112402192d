// Forms generated from a function tool's JSON Schema, with inline validation and
// a raw-JSON fallback. The server validates again with a full JSON Schema library.
import { el } from './dom.js';

/** Element.append turns null into the text "null": drop empty children first. */
const put = (node, ...children) => node.append(...children.filter((c) => c !== null && c !== undefined));

let uid = 0;
const nextId = () => `f${++uid}`;

/** The one type a schema describes, or 'json' when a form can't express it. */
function kindOf(schema) {
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

function unwrap(schema) {
  for (const key of ['anyOf', 'oneOf']) {
    if (Array.isArray(schema?.[key])) {
      const real = schema[key].filter((o) => o?.type !== 'null');
      if (real.length === 1) return { ...real[0], description: schema.description ?? real[0].description };
    }
  }
  return schema ?? {};
}

/** A form field for one schema node. ``read()`` gives {value, errors}. */
class Field {
  constructor(schema, name, required) {
    this.schema = unwrap(schema);
    this.kind = kindOf(schema);
    this.name = name;
    this.required = required;
    this.touched = false;
    this.id = nextId();
    this.element = this.build();
  }

  label() {
    if (this.name === null) return null;
    return el('label', { for: this.id }, this.name, this.required ? el('span', { class: 'req', title: 'required' }, ' *') : null);
  }

  hint() {
    const bits = [];
    if (this.schema.description) bits.push(this.schema.description);
    const range = [];
    if (this.schema.minimum !== undefined) range.push(`≥ ${this.schema.minimum}`);
    if (this.schema.maximum !== undefined) range.push(`≤ ${this.schema.maximum}`);
    if (this.schema.minLength !== undefined) range.push(`min length ${this.schema.minLength}`);
    if (this.schema.maxLength !== undefined) range.push(`max length ${this.schema.maxLength}`);
    if (this.schema.pattern) range.push(`pattern ${this.schema.pattern}`);
    if (range.length) bits.push(range.join(', '));
    if (this.kind === 'integer') bits.push('whole number');
    return bits.length ? el('span', { class: 'hint' }, bits.join(' · ')) : null;
  }

  build() {
    const wrap = el('div', { class: `field kind-${this.kind}`, 'data-name': this.name ?? '' });
    this.errorNode = el('p', { class: 'error', 'data-error-for': this.name ?? '' });
    switch (this.kind) {
      case 'object':
        return this.buildObject();
      case 'array':
        this.buildArray(wrap);
        break;
      case 'boolean':
        this.input = el('input', { type: 'checkbox', id: this.id, name: this.name ?? '' });
        if (this.schema.default === true) this.input.checked = true;
        put(wrap, el('label', { for: this.id }, this.input, ` ${this.name ?? ''}`, this.required ? el('span', { class: 'req' }, ' *') : null), this.hint());
        break;
      case 'enum': {
        this.input = el('select', { id: this.id, name: this.name ?? '' });
        if (!this.required) this.input.append(el('option', { value: '' }, '—'));
        this.schema.enum.forEach((option, i) => this.input.append(el('option', { value: String(i) }, JSON.stringify(option).replace(/^"|"$/g, ''))));
        if (this.schema.default !== undefined) this.set(this.schema.default);
        put(wrap, this.label(), this.input, this.hint());
        break;
      }
      case 'json':
        this.input = el('textarea', { id: this.id, class: 'raw', rows: 3, name: this.name ?? '', placeholder: 'JSON value' });
        put(wrap, this.label(), this.input, this.hint());
        break;
      default: {
        const numeric = this.kind === 'number' || this.kind === 'integer';
        const long = this.kind === 'string' && (this.schema.maxLength ?? 0) > 200;
        this.input = long
          ? el('textarea', { id: this.id, name: this.name ?? '', rows: 3 })
          : el('input', { type: 'text', id: this.id, name: this.name ?? '', inputmode: numeric ? (this.kind === 'integer' ? 'numeric' : 'decimal') : undefined, autocomplete: 'off' });
        if (this.schema.default !== undefined) this.set(this.schema.default);
        put(wrap, this.label(), this.input, this.hint());
      }
    }
    wrap.append(this.errorNode);
    if (this.input) {
      const check = () => {
        this.touched = true;
        this.validate();
      };
      this.input.addEventListener('input', check);
      this.input.addEventListener('change', check);
    }
    return wrap;
  }

  buildObject() {
    const required = new Set(this.schema.required ?? []);
    this.children = Object.entries(this.schema.properties ?? {}).map(([key, sub]) => new Field(sub, key, required.has(key)));
    if (this.name === null) {
      // The top level: no frame around it.
      const root = el('div', { class: 'object-root' }, ...this.children.map((c) => c.element));
      root.append(this.errorNode);
      if (!this.children.length) root.prepend(el('p', { class: 'muted' }, 'No arguments.'));
      return root;
    }
    return el(
      'fieldset',
      { class: 'object', 'data-name': this.name },
      el('legend', {}, this.name, this.required ? el('span', { class: 'req' }, ' *') : null),
      this.hint(),
      ...this.children.map((c) => c.element),
      this.errorNode,
    );
  }

  buildArray(wrap) {
    this.items = [];
    this.itemsNode = el('div', { class: 'array-items' });
    const add = el('button', { type: 'button', class: 'add-item' }, `+ add ${this.name ?? 'item'}`);
    add.addEventListener('click', () => {
      this.addItem();
      this.touched = true;
      this.validate();
    });
    put(wrap, this.label(), this.hint(), this.itemsNode, add);
  }

  addItem(value) {
    const field = new Field(this.schema.items ?? {}, null, true);
    const remove = el('button', { type: 'button', class: 'remove-item', title: 'Remove item' }, '✕');
    const row = el('div', { class: 'array-item' }, field.element, remove);
    const entry = { field, row };
    remove.addEventListener('click', () => {
      this.items.splice(this.items.indexOf(entry), 1);
      row.remove();
      this.validate();
    });
    this.items.push(entry);
    this.itemsNode.append(row);
    if (value !== undefined) field.set(value);
    return field;
  }

  /** {value, errors}: value undefined when left empty; errors as [path, message]. */
  read() {
    const s = this.schema;
    const errors = [];
    const fail = (message) => {
      errors.push([this.name, message]);
      return { value: undefined, errors, own: message };
    };
    switch (this.kind) {
      case 'object': {
        const value = {};
        let any = false;
        const childErrors = [];
        for (const child of this.children) {
          const r = child.read();
          childErrors.push(...r.errors);
          if (r.value !== undefined) {
            value[child.name] = r.value;
            any = true;
          }
        }
        // An optional nested object left entirely empty is simply absent.
        if (!any && !this.required && this.name !== null) return { value: undefined, errors };
        errors.push(...childErrors);
        return { value, errors };
      }
      case 'array': {
        const value = [];
        for (const { field } of this.items) {
          const r = field.read();
          errors.push(...r.errors);
          value.push(r.value ?? null);
        }
        if (!value.length && !this.required) return { value: undefined, errors };
        if (s.minItems !== undefined && value.length < s.minItems) return fail(`needs at least ${s.minItems} item(s)`);
        if (s.maxItems !== undefined && value.length > s.maxItems) return fail(`at most ${s.maxItems} item(s)`);
        return { value, errors };
      }
      case 'boolean':
        return { value: this.input.checked, errors };
      case 'enum': {
        if (this.input.value === '') return this.required ? fail('required') : { value: undefined, errors };
        return { value: s.enum[Number(this.input.value)], errors };
      }
      case 'json': {
        const text = this.input.value.trim();
        if (!text) return this.required ? fail('required') : { value: undefined, errors };
        try {
          return { value: JSON.parse(text), errors };
        } catch {
          return fail('not valid JSON');
        }
      }
      case 'number':
      case 'integer': {
        const text = this.input.value.trim();
        if (!text) return this.required ? fail('required') : { value: undefined, errors };
        const n = Number(text);
        if (!Number.isFinite(n)) return fail('must be a number');
        if (this.kind === 'integer' && !Number.isInteger(n)) return fail('must be a whole number');
        if (s.minimum !== undefined && n < s.minimum) return fail(`must be ≥ ${s.minimum}`);
        if (s.maximum !== undefined && n > s.maximum) return fail(`must be ≤ ${s.maximum}`);
        if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) return fail(`must be > ${s.exclusiveMinimum}`);
        if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) return fail(`must be < ${s.exclusiveMaximum}`);
        if (s.multipleOf && Math.abs(n / s.multipleOf - Math.round(n / s.multipleOf)) > 1e-9) return fail(`must be a multiple of ${s.multipleOf}`);
        return { value: n, errors };
      }
      default: {
        const text = this.input.value;
        if (!text) return this.required ? fail('required') : { value: undefined, errors };
        if (s.minLength !== undefined && text.length < s.minLength) return fail(`at least ${s.minLength} characters`);
        if (s.maxLength !== undefined && text.length > s.maxLength) return fail(`at most ${s.maxLength} characters`);
        if (s.pattern) {
          let re = null;
          try {
            re = new RegExp(s.pattern, 'u');
          } catch {
            re = null; // a pattern JavaScript can't read: leave it to the server
          }
          if (re && !re.test(text)) return fail(`must match ${s.pattern}`);
        }
        return { value: text, errors };
      }
    }
  }

  /** Show this field's own error (after it was touched or a submit was tried). */
  validate() {
    if (this.kind === 'object') return;
    const { own } = this.read();
    const show = this.touched ? own : undefined;
    this.errorNode.textContent = show ?? '';
    this.element.classList.toggle('invalid', Boolean(show));
  }

  /** Mark every field touched and show all errors. */
  touchAll() {
    this.touched = true;
    for (const child of this.children ?? []) child.touchAll();
    for (const { field } of this.items ?? []) field.touchAll();
    this.validate();
  }

  set(value) {
    switch (this.kind) {
      case 'object':
        for (const child of this.children) child.set(value?.[child.name]);
        break;
      case 'array':
        this.items.forEach(({ row }) => row.remove());
        this.items = [];
        for (const item of Array.isArray(value) ? value : []) this.addItem(item);
        break;
      case 'boolean':
        this.input.checked = value === true;
        break;
      case 'enum': {
        const at = this.schema.enum.findIndex((o) => JSON.stringify(o) === JSON.stringify(value));
        this.input.value = at >= 0 ? String(at) : this.required ? '0' : '';
        break;
      }
      case 'json':
        this.input.value = value === undefined ? '' : JSON.stringify(value, null, 2);
        break;
      default:
        this.input.value = value === undefined || value === null ? '' : String(value);
    }
    if (this.touched) this.validate();
  }

  clearErrors() {
    this.touched = false;
    for (const child of this.children ?? []) child.clearErrors();
    for (const { field } of this.items ?? []) field.clearErrors();
    if (this.kind !== 'object') this.validate();
  }
}

/** True when a function tool takes numeric ``x`` and ``y``: the screenshot can fill them. */
export function takesXY(tool) {
  const props = tool?.parameters?.properties ?? {};
  const numeric = (p) => p && ['number', 'integer'].includes(kindOf(p));
  return numeric(props.x) && numeric(props.y);
}

/** A card for one function tool: generated form, raw JSON fallback, "Add call". */
export class ToolForm {
  constructor(tool, onAdd) {
    this.tool = tool;
    this.onAdd = onAdd;
    const schema = tool.parameters && typeof tool.parameters === 'object' ? tool.parameters : { type: 'object', properties: {} };
    this.root = new Field(kindOf(schema) === 'object' ? schema : { type: 'object', properties: {} }, null, true);
    this.raw = el('textarea', { class: 'raw raw-json', rows: 6, hidden: true, 'aria-label': `${tool.name} arguments as JSON` });
    this.rawToggle = el('input', { type: 'checkbox', class: 'raw-toggle' });
    this.error = el('p', { class: 'error form-error', role: 'alert' });
    const add = el('button', { type: 'button', class: 'add-call primary' }, `Add call`);
    add.addEventListener('click', () => this.submit());
    this.rawToggle.addEventListener('change', () => this.toggleRaw());
    this.element = el(
      'details',
      { class: 'tool-card', 'data-tool': tool.name, open: true },
      el('summary', {}, tool.name ?? '(unnamed)'),
      tool.description ? el('p', { class: 'desc' }, tool.description) : null,
      this.root.element,
      this.raw,
      el('div', { class: 'row' }, add, el('label', {}, this.rawToggle, ' raw JSON')),
      this.error,
    );
  }

  toggleRaw() {
    this.error.textContent = '';
    if (this.rawToggle.checked) {
      this.raw.value = JSON.stringify(this.root.read().value ?? {}, null, 2);
      this.raw.hidden = false;
      this.root.element.hidden = true;
      return;
    }
    try {
      const value = JSON.parse(this.raw.value || '{}');
      this.root.set(value);
      this.raw.hidden = true;
      this.root.element.hidden = false;
    } catch {
      this.rawToggle.checked = true;
      this.error.textContent = 'The raw JSON is not valid: fix it before going back to the form.';
    }
  }

  /** The arguments, or null (with errors shown) when they don't validate. */
  arguments() {
    this.error.textContent = '';
    if (this.rawToggle.checked) {
      try {
        const value = JSON.parse(this.raw.value || '{}');
        if (value && typeof value === 'object' && !Array.isArray(value)) return value;
        this.error.textContent = 'Arguments must be a JSON object.';
      } catch (e) {
        this.error.textContent = `Not valid JSON: ${e.message}`;
      }
      return null;
    }
    const { value, errors } = this.root.read();
    if (errors.length) {
      this.root.touchAll();
      this.error.textContent = `Fix ${errors.length} field${errors.length > 1 ? 's' : ''}: ${errors.map(([n, m]) => `${n ?? 'item'} ${m}`).join('; ')}`;
      return null;
    }
    return value ?? {};
  }

  submit() {
    const args = this.arguments();
    if (args === null) return;
    this.onAdd({ name: this.tool.name, arguments: args });
    this.fill({});
  }

  fill(args) {
    this.root.set(args ?? {});
    this.root.clearErrors();
    if (this.rawToggle.checked) this.raw.value = JSON.stringify(args ?? {}, null, 2);
    this.element.open = true;
  }

  /** Put a picked screenshot point into x and y. */
  setXY(x, y) {
    const fields = Object.fromEntries(this.root.children.map((c) => [c.name, c]));
    fields.x.set(x);
    fields.y.set(y);
    fields.x.touched = fields.y.touched = true;
    fields.x.validate();
    fields.y.validate();
  }
}
