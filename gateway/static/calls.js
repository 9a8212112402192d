// The function calls the person will send: shown as name plus readable arguments,
// edited where they stand (the tool's form opens inside the row), reorderable like
// actions, removable. New calls come from the tools' forms below the list.
import { $, clear, el } from './dom.js';
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
  }

  /** A task opened: its function tools, and the calls kept for it. */
  load(tools, calls) {
    this.tools = tools;
    this.calls = calls;
    this.editing = -1;
    this.render();
  }

  set(calls) {
    this.calls = calls;
    this.editing = -1;
    this.changed();
  }

  add(call) {
    this.calls.push(call);
    this.changed();
  }

  changed() {
    this.render();
    this.onChange(this.calls);
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
      const li = el(
        'li',
        { 'data-name': call.name },
        el('span', { class: 'num' }, String(i + 1)),
        el('span', { class: 'desc' }, readableCall(call.name, call.arguments)),
        button('edit', 'Edit', 'edit', () => {
          this.editing = this.editing === i ? -1 : i;
          this.render();
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
      if (this.editing === i) list.append(this.editor(call, i));
    });
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
    const cancel = el('button', { type: 'button', class: 'cancel' }, 'Cancel');
    cancel.addEventListener('click', () => {
      this.editing = -1;
      this.render();
    });
    form.element.querySelector('.row')?.append(cancel);
    return el('li', { class: 'call-editor' }, form.element);
  }
}
