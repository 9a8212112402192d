// Forms generated from a function tool's JSON Schema (fields.js), with inline
// validation and a raw-JSON fallback. The server validates again with a full JSON
// Schema library.
import { checkValue } from './check.js';
import { el } from './dom.js';
import { Field } from './fields.js';
import { kindOf, patternErrors } from './schema.js';

/** True when a function tool takes numeric ``x`` and ``y``: the screenshot can fill them. */
export function takesXY(tool) {
  const props = tool?.parameters?.properties ?? {};
  const numeric = (p) => p && ['number', 'integer'].includes(kindOf(p));
  return numeric(props.x) && numeric(props.y);
}

/** A card for one function tool: generated form, raw JSON fallback, "Add call". */
export class ToolForm {
  /** ``label``: the button's text ("Add call", or "Save" when editing a call in place). */
  constructor(tool, onAdd, label = 'Add call') {
    this.tool = tool;
    this.onAdd = onAdd;
    const schema = tool.parameters && typeof tool.parameters === 'object' ? tool.parameters : { type: 'object', properties: {} };
    this.root = new Field(kindOf(schema) === 'object' ? schema : { type: 'object', properties: {} }, null, true);
    this.raw = el('textarea', { class: 'raw raw-json', rows: 6, hidden: true, 'aria-label': `${tool.name} arguments as JSON` });
    this.rawToggle = el('input', { type: 'checkbox', class: 'raw-toggle' });
    this.error = el('p', { class: 'error form-error', role: 'alert' });
    this.editing = label !== 'Add call';
    const add = el('button', { type: 'button', class: this.editing ? 'save-call primary' : 'add-call primary' }, label);
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
    // Once a summary of errors is shown, it follows the fields as they are fixed.
    const recheck = () => {
      if (this.error.textContent && !this.rawToggle.checked) this.error.textContent = this.summary(this.root.read().errors);
    };
    this.element.addEventListener('input', recheck);
    this.element.addEventListener('change', recheck);
    this.element.addEventListener('pattern-checked', recheck);
    // Typed in since it was last added or emptied: Submit sends it (or says what is missing).
    this.dirty = false;
    const touched = (e) => {
      if (e.target !== this.rawToggle) this.dirty = true;
    };
    this.element.addEventListener('input', touched);
    this.element.addEventListener('change', touched);
  }

  /** True when the person filled something in that is not in the calls list yet. */
  pending() {
    if (!this.dirty) return false;
    if (this.rawToggle.checked) return !['', '{}'].includes(this.raw.value.replace(/\s+/g, ''));
    return JSON.stringify(this.root.read().value ?? {}) !== '{}';
  }

  /** The cursor in the form's first field (or its first field in error). */
  focus(firstError = false) {
    this.element.open = true;
    const where = firstError ? this.element.querySelector('.invalid input, .invalid select, .invalid textarea') : null;
    const target = where ?? (this.rawToggle.checked ? this.raw : this.root.element.querySelector('input, select, textarea'));
    target?.focus({ preventScroll: false });
    return Boolean(target);
  }

  /** Show a problem (from the server, say) on the field at ``path`` ('a.b'), or on the form. */
  showProblem(path, words) {
    let field = this.root;
    for (const name of path ? path.split('.') : []) {
      const next = field.children?.find((c) => c.name === name) ?? field.items?.[Number(name) - 1]?.field;
      if (!next) break;
      field = next;
    }
    if (field !== this.root && field.errorNode) {
      field.errorNode.textContent = words;
      field.element.classList.add('invalid');
    }
    this.error.textContent = path ? `${path} ${words}` : words;
  }

  summary(errors) {
    if (!errors.length) return '';
    return `Fix ${errors.length} field${errors.length > 1 ? 's' : ''}: ${errors.map(([n, m]) => `${n || 'item'} ${m}`).join('; ')}`;
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
      let value;
      try {
        value = JSON.parse(this.raw.value || '{}');
      } catch (e) {
        this.error.textContent = `Not valid JSON: ${e.message}`;
        return null;
      }
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        this.error.textContent = 'Arguments must be a JSON object.';
        return null;
      }
      // Checked against the tool's schema here too, in the form's words.
      const problems = checkValue(this.root.schema, value);
      if (problems.length) {
        this.error.textContent = this.summary(problems);
        return null;
      }
      return value;
    }
    const { value, errors } = this.root.read();
    if (errors.length) {
      this.root.touchAll();
      this.error.textContent = this.summary(errors);
      return null;
    }
    return value ?? {};
  }

  /**
   * The arguments with the schema's patterns checked too (off the page, in a Worker:
   * schema.js), or null with the problems shown. Raw JSON gets its patterns checked here.
   */
  async checkedArguments() {
    const args = this.arguments();
    if (args === null) return null;
    const broken = await patternErrors(this.root.schema, args);
    if (broken.length) {
      this.error.textContent = this.summary(broken);
      return null;
    }
    return args;
  }

  async submit() {
    const args = await this.checkedArguments();
    if (args === null) return;
    this.onAdd({ name: this.tool.name, arguments: args });
    if (!this.editing) this.fill({});
  }

  fill(args) {
    this.dirty = false;
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
    this.dirty = true;
  }
}
