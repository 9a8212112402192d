// The computer-action list of the open task: numbered entries the reviewer can
// reorder, remove or undo. The workspace draws them over the screenshot (marks.js);
// hovering a row lights its mark, and hovering a mark lights its row.
import { describe } from './actions.js';
import { $, clear, el } from './dom.js';

export class ActionList {
  /**
   * @param {{redraw: () => void}} view the workspace, which draws the marks
   * @param {(actions: object[]) => void} onChange called after every change made here
   */
  constructor(view, onChange) {
    this.view = view;
    this.onChange = onChange;
    this.list = $('actions');
    this.entries = []; // {seq, action}; seq orders them by when they were added
    this.seq = 0;
    this.hot = -1; // the highlighted action
  }

  get actions() {
    return this.entries.map((e) => e.action);
  }

  /** Replace every action (a task opened, a draft loaded); ``notify`` calls onChange. */
  set(actions, notify = true) {
    this.entries = actions.map((action) => ({ seq: ++this.seq, action }));
    this.changed(notify);
  }

  add(action) {
    this.entries.push({ seq: ++this.seq, action });
    this.changed();
  }

  remove(index) {
    this.entries.splice(index, 1);
    this.changed();
  }

  /** Remove the most recently added action (wherever reordering put it). */
  undo() {
    if (!this.entries.length) return false;
    let newest = 0;
    this.entries.forEach((e, i) => {
      if (e.seq > this.entries[newest].seq) newest = i;
    });
    this.entries.splice(newest, 1);
    this.changed();
    return true;
  }

  shift(index, step) {
    const to = index + step;
    if (to < 0 || to >= this.entries.length) return;
    const [entry] = this.entries.splice(index, 1);
    this.entries.splice(to, 0, entry);
    this.changed();
  }

  changed(notify = true) {
    this.hot = -1;
    this.renderList();
    this.view.redraw();
    if (notify) this.onChange(this.actions);
  }

  /** Light action ``index`` (or none with -1) in the list and on the screenshot. */
  highlight(index) {
    if (index === this.hot) return;
    this.hot = index;
    this.list.querySelectorAll('li').forEach((li, i) => li.classList.toggle('hot', i === index));
    this.view.redraw();
  }

  renderList() {
    clear(this.list);
    this.entries.forEach(({ action }, i) => {
      const up = el('button', { type: 'button', class: 'up', title: 'Earlier', 'aria-label': `Move action ${i + 1} earlier` }, '◀');
      const down = el('button', { type: 'button', class: 'down', title: 'Later', 'aria-label': `Move action ${i + 1} later` }, '▶');
      const remove = el('button', { type: 'button', class: 'remove', title: 'Remove', 'aria-label': `Remove action ${i + 1}` }, '✕');
      up.disabled = i === 0;
      down.disabled = i === this.entries.length - 1;
      up.addEventListener('click', () => this.shift(i, -1));
      down.addEventListener('click', () => this.shift(i, 1));
      remove.addEventListener('click', () => this.remove(i));
      const li = el('li', { 'data-type': action.type }, el('span', { class: 'num' }, String(i + 1)), el('span', { class: 'desc' }, describe(action)), up, down, remove);
      li.addEventListener('mouseenter', () => this.highlight(i));
      li.addEventListener('mouseleave', () => this.highlight(-1));
      this.list.append(li);
    });
    $('action-count').textContent = this.entries.length ? `(${this.entries.length})` : '';
    // One row of fixed height that scrolls sideways, newest in view: adding an action
    // never changes the strip's height, so the screenshot above it never moves.
    this.list.scrollLeft = this.list.scrollWidth;
  }
}
