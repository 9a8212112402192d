// A form field for one JSON Schema node (strings, numbers, integers, booleans,
// enums, arrays, nested objects; anything else as a JSON box), with inline errors.
import { el } from './dom.js';
import { hintText, itemsError, kindOf, numberError, patternVerdict, stringError, testPattern, unwrap } from './schema.js';

/** Element.append turns null into the text "null": drop empty children first. */
const put = (node, ...children) => node.append(...children.filter((c) => c !== null && c !== undefined));

let uid = 0;
const nextId = () => `f${++uid}`;

/** A form field for one schema node. ``read()`` gives {value, errors}. */
export class Field {
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
    const text = hintText(this.schema, this.kind);
    return text ? el('span', { class: 'hint' }, text) : null;
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
        // Starts empty: a required choice must be made, an optional one left out.
        this.input = el('select', { id: this.id, name: this.name ?? '' });
        this.input.append(el('option', { value: '' }, this.required ? 'choose…' : '— (leave out)'));
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
        if (this.schema.default !== undefined) this.prefill(this.schema.default);
        put(wrap, this.label(), this.input, this.hint());
      }
    }
    wrap.append(this.errorNode);
    if (this.input) {
      const check = () => {
        this.touched = true;
        this.given = true; // an optional boolean the person never touched is left out
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
      const field = this.addItem();
      this.touched = true;
      this.validate();
      // The cursor goes into the new item, where the person types next.
      field.element.querySelector('input, select, textarea')?.focus();
    });
    put(wrap, this.label(), this.hint(), this.itemsNode, add);
  }

  addItem(value) {
    const field = new Field(this.schema.items ?? {}, null, true);
    // Out of the Tab order: Tab from an item's last field reaches the next field, not ✕.
    const remove = el('button', { type: 'button', class: 'remove-item', title: 'Remove item', 'aria-label': 'Remove item', tabindex: '-1' }, '✕');
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
        const wrong = itemsError(value.length, s);
        return wrong ? fail(wrong) : { value, errors };
      }
      case 'boolean':
        if (!this.required && !this.given) return { value: undefined, errors };
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
        const wrong = numberError(n, this.kind, s);
        return wrong ? fail(wrong) : { value: n, errors };
      }
      default: {
        const text = this.input.value;
        if (!text) return this.required ? fail('required') : { value: undefined, errors };
        const wrong = stringError(text, s, () => this.patternChecked());
        return wrong ? fail(wrong) : { value: text, errors };
      }
    }
  }

  /**
   * Put the schema's ``default`` in the box only when it fits the schema: a client
   * may declare a default its own pattern rejects (or one that backtracks for
   * minutes). A pattern's verdict comes from a Worker, so such a default appears
   * once it is known to match, unless the person has typed by then.
   */
  prefill(value) {
    const s = this.schema;
    if (this.kind === 'string') {
      if (typeof value !== 'string' || !value || stringError(value, { ...s, pattern: undefined })) return;
      if (typeof s.pattern !== 'string') return this.set(value);
      testPattern(s.pattern, value).then((ok) => {
        if (ok === true && !this.touched && this.input.value === '') this.set(value);
      });
      return;
    }
    if (typeof value === 'number' && !numberError(value, this.kind, s)) this.set(value);
  }

  /** A pattern's verdict came in: show it, and let the form's summary follow. */
  patternChecked() {
    this.validate();
    this.element.dispatchEvent(new CustomEvent('pattern-checked', { bubbles: true }));
  }

  /** Show this field's own error (after it was touched or a submit was tried). */
  validate() {
    if (this.kind === 'object') return;
    const { own } = this.read();
    const show = this.touched ? own : undefined;
    this.errorNode.textContent = show ?? '';
    this.element.classList.toggle('invalid', Boolean(show));
    // A pattern the Worker could not judge (out of time, or not JavaScript): say who
    // checks it, so a person does not take the silence for a pass.
    const unchecked = !show && this.touched && this.uncheckedPattern();
    this.errorNode.classList.toggle('unchecked', Boolean(unchecked));
    if (unchecked) this.errorNode.textContent = 'pattern not checked here (too slow, or not JavaScript): the gateway checks it on Submit';
  }

  uncheckedPattern() {
    const pattern = this.kind === 'string' ? this.schema.pattern : undefined;
    return typeof pattern === 'string' && this.input.value !== '' && patternVerdict(pattern, this.input.value) === null;
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
        this.input.checked = value === undefined ? this.schema.default === true : value === true;
        this.given = typeof value === 'boolean';
        break;
      case 'enum': {
        const at = this.schema.enum.findIndex((o) => JSON.stringify(o) === JSON.stringify(value));
        this.input.value = at >= 0 ? String(at) : '';
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

