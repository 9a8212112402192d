// The function calls the person will send: shown as name plus readable arguments,
// edited where they stand (the tool's form opens inside the row), reorderable like
// actions, removable. New calls come from the tools' forms below the list.
import { $, clear, el, toast } from './dom.js';
import { ToolForm } from './forms.js';
import { readableCall } from './timeline.js';

export class CallList {
  /** @param {(calls: object[]) => void} onChange called after every change */
  constructor(onChange) {
    this.onChange = onChange;
    this.list = $('calls');
    this.calls = [];
    this.tools = [];
    this.editing = -1;
    this.fresh = -1; // the call just added: lit for a moment
    this.problems = new Map(); // call index -> {field, words}: the server's 422, shown on the row
  }

  /** A task opened: its function tools, and the calls kept for it. */
  load(tools, calls) {
    this.tools = tools;
    this.calls = calls;
    this.editing = -1;
    this.problems.clear();
    this.render();
  }

  set(calls) {
    this.calls = calls;
    this.editing = -1;
    this.changed();
  }

  /** A new call: lit in the list, the list brought into view, and said in words. */
  add(call) {
    this.calls.push(call);
    this.fresh = this.calls.length - 1;
    this.changed();
    const row = this.list.querySelector('li.added');
    row?.scrollIntoView({ block: 'nearest' });
    toast(`Added call ${this.calls.length}: ${readableCall(call.name, call.arguments)}`);
    clearTimeout(this.freshTimer);
    this.freshTimer = setTimeout(() => row?.classList.remove('added'), 2500);
  }

  changed() {
    this.problems.clear();
    this.render();
    this.onChange(this.calls);
  }

  /** The server refused call ``index``: say so on its row (and its field, when edited). */
  showProblem(index, field, words) {
    this.problems.set(index, { field, words });
    this.editing = -1;
    this.render();
  }

  move(index, step) {
    const to = index + step;
    if (to < 0 || to >= this.calls.length) return;
    const [call] = this.calls.splice(index, 1);
    this.calls.splice(to, 0, call);
    this.editing = -1;
    this.changed();
  }

  render() {
    const list = clear(this.list);
    this.editorForm = null;
    this.calls.forEach((call, i) => {
      const button = (cls, label, text, action) => {
        const b = el('button', { type: 'button', class: cls, 'aria-label': `${label} call ${i + 1}`, title: label }, text);
        b.addEventListener('click', action);
        return b;
      };
      const up = button('up', 'Earlier', '↑', () => this.move(i, -1));
      const down = button('down', 'Later', '↓', () => this.move(i, 1));
      up.disabled = i === 0;
      down.disabled = i === this.calls.length - 1;
      const problem = this.problems.get(i);
      const li = el(
        'li',
        { 'data-name': call.name, class: [i === this.fresh ? 'added' : '', problem ? 'invalid' : ''].join(' ').trim() || undefined },
        el('span', { class: 'num' }, String(i + 1)),
        el('span', { class: 'desc' }, readableCall(call.name, call.arguments)),
        button('edit', 'Edit', 'edit', () => {
          this.editing = this.editing === i ? -1 : i;
          this.render();
          this.editorForm?.focus(true);
        }),
        up,
        down,
        button('remove', 'Remove', '✕', () => {
          this.calls.splice(i, 1);
          this.editing = -1;
          this.changed();
        }),
      );
      list.append(li);
      if (problem) {
        const where = problem.field ? `${problem.field} ` : '';
        list.append(el('li', { class: 'call-problem error', role: 'alert' }, `Call ${i + 1}: ${where}${problem.words}`));
      }
      if (this.editing === i) list.append(this.editor(call, i));
    });
    this.fresh = -1;
    $('call-count').textContent = this.calls.length ? `(${this.calls.length})` : '';
  }

  /** The tool's form inside the list, filled with this call; Save keeps its place. */
  editor(call, index) {
    const tool = this.tools.find((t) => t.name === call.name) ?? { name: call.name, parameters: {} };
    const form = new ToolForm(tool, (edited) => {
      this.calls[index] = edited;
      this.editing = -1;
      this.changed();
    }, 'Save');
    form.fill(call.arguments);
    this.editorForm = form;
    const problem = this.problems.get(index);
    if (problem) form.showProblem(problem.field, problem.words);
    const cancel = el('button', { type: 'button', class: 'cancel' }, 'Cancel');
    cancel.addEventListener('click', () => {
      this.editing = -1;
      this.render();
    });
    form.element.querySelector('.row')?.append(cancel);
    return el('li', { class: 'call-editor' }, form.element);
  }
}
