// The computer-action list of the open task: numbered entries the reviewer can
// reorder, remove or undo, drawn over the screenshot as markers and drag paths.
// Actions hold display coordinates; ``view.onImage`` places them on the screenshot.
import { describe } from './actions.js';
import { $, clear, el } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';

export class ActionList {
  /**
   * @param {{onImage: (p: {x: number, y: number}) => {x: number, y: number}, scale: number}} view
   *   where a display point sits on the screenshot, and the current zoom
   * @param {(actions: object[]) => void} onChange called after every change made here
   */
  constructor(view, onChange) {
    this.view = view;
    this.onChange = onChange;
    this.list = $('actions');
    this.markers = $('markers');
    this.svg = $('paths');
    this.entries = []; // {seq, action}; seq orders them by when they were added
    this.seq = 0;
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
    this.renderList();
    this.renderMarkers();
    if (notify) this.onChange(this.actions);
  }

  renderList() {
    clear(this.list);
    this.entries.forEach(({ action }, i) => {
      const up = el('button', { type: 'button', class: 'up', title: 'Move up', 'aria-label': `Move action ${i + 1} up` }, '↑');
      const down = el('button', { type: 'button', class: 'down', title: 'Move down', 'aria-label': `Move action ${i + 1} down` }, '↓');
      const remove = el('button', { type: 'button', class: 'remove', title: 'Remove', 'aria-label': `Remove action ${i + 1}` }, '✕');
      up.disabled = i === 0;
      down.disabled = i === this.entries.length - 1;
      up.addEventListener('click', () => this.shift(i, -1));
      down.addEventListener('click', () => this.shift(i, 1));
      remove.addEventListener('click', () => this.remove(i));
      this.list.append(
        el('li', { 'data-type': action.type }, el('span', { class: 'num' }, String(i + 1)), el('span', { class: 'desc' }, describe(action)), up, down, remove),
      );
    });
    $('action-count').textContent = this.entries.length ? `(${this.entries.length})` : '';
  }

  renderMarkers() {
    clear(this.markers);
    clear(this.svg);
    this.entries.forEach(({ action }, i) => {
      let at = null;
      if (action.type === 'drag') {
        this.polyline(action.path);
        at = action.path[0];
      } else if ('x' in action && 'y' in action) {
        at = action;
      }
      if (!at) return;
      const marker = el('div', { class: `marker ${action.type}`, title: `${i + 1}: ${describe(action)}` }, el('span', {}, String(i + 1)));
      const spot = this.view.onImage(at);
      marker.style.left = `${spot.x}px`;
      marker.style.top = `${spot.y}px`;
      marker.style.transform = `scale(${1 / this.view.scale})`;
      this.markers.append(marker);
    });
  }

  /** Keep markers the same size on screen whatever the zoom. */
  rescale(scale) {
    // CSSOM writes are allowed by the CSP (it forbids inline style attributes only).
    const inverse = `scale(${1 / scale})`;
    for (const marker of this.markers.children) marker.style.transform = inverse;
  }

  /** An SVG line through display points; ``live`` for a drag in progress. */
  polyline(path, live = false) {
    const line = document.createElementNS(SVG, 'polyline');
    this.setPoints(line, path);
    if (live) line.setAttribute('class', 'live');
    this.svg.append(line);
    return line;
  }

  /** Draw a path of display points on the screenshot. */
  setPoints(line, path) {
    line.setAttribute('points', path.map((p) => this.view.onImage(p)).map((q) => `${q.x},${q.y}`).join(' '));
  }
}
