// The screenshot workspace: zoom, pan, crosshair, and the tools that add actions
// to the computer-action list (action-list.js).
// Pointer positions are read in the screenshot's own pixels, whatever the zoom.
// Computer actions are sent in the display's coordinates: a computer tool that
// declares display_width/height other than the screenshot's size (a HiDPI capture,
// say) gets them scaled by display/natural. Otherwise the two are the same.
import { ActionList } from './action-list.js';
import { UNSHOWN_IMAGE } from './conversation.js';
import { $ } from './dom.js';
import { captureKeys } from './keys.js';
import { drawMarks, svg } from './marks.js';
import { ONE_SHOT_TOOLS, PointerInput } from './pointer.js';

const MIN_SCALE = 0.05;
const MAX_SCALE = 16;

export class Workspace {
  /**
   * @param {{onChange: (actions: object[]) => void, onPick: (x: number, y: number) => void}} hooks
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.viewport = $('viewport');
    this.layer = $('layer');
    this.img = $('shot');
    this.svg = $('marks');
    this.list = new ActionList(this, hooks.onChange);
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.width = 0;
    this.height = 0;
    this.declared = null; // the computer tool's {width, height}, if it declares one
    this.sx = 1; // display pixels per screenshot pixel
    this.sy = 1;
    this.tool = 'click';
    this.previousTool = 'click'; // where Keys and Type return to
    this.locked = false; // someone else holds the task: look, don't act
    this.fitted = true; // the view follows the viewport's size until the person zooms or pans
    this.marks = []; // the drawn marks' screen points, for hover
    this.space = false;
    this.pointer = null; // the last pointer position over the viewport
    this.gesture = null;
    this.bind();
  }

  // -- loading ------------------------------------------------------------------

  /**
   * Show a task's screenshot and tools.
   * @param {{src: string|null, computer: boolean, pick: boolean, actions: object[],
   *   display?: {width: number, height: number}|null, keepView?: boolean}} setup
   *   ``keepView``: the next step of the same session keeps zoom and pan when the
   *   screenshot has the same size.
   */
  load({ src, computer, pick, actions, display = null, keepView = false }) {
    this.kept = keepView && this.width ? { width: this.width, height: this.height, scale: this.scale, tx: this.tx, ty: this.ty, fitted: this.fitted } : null;
    this.computer = computer;
    this.declared = display;
    this.sx = 1;
    this.sy = 1;
    this.pick = pick;
    for (const button of document.querySelectorAll('#tools [data-tool]')) {
      const tool = button.dataset.tool;
      button.hidden = tool === 'pick' ? !pick : !computer;
    }
    $('click-button').hidden = !computer;
    $('add-wait').hidden = !computer;
    $('add-screenshot').hidden = !computer;
    this.width = 0;
    this.height = 0;
    $('no-shot').hidden = Boolean(src);
    $('no-shot').textContent = 'No screenshot in this task.';
    this.layer.hidden = !src;
    $('shot-size').textContent = '';
    delete this.viewport.dataset.ready;
    this.img.removeAttribute('src');
    if (src) {
      this.img.addEventListener('load', () => this.imageReady(), { once: true });
      this.img.addEventListener('error', () => this.imageRefused(src), { once: true });
      this.img.src = src;
    }
    this.list.set(actions ?? [], false);
    this.setTool(computer ? 'click' : pick ? 'pick' : 'none');
  }

  /** The gateway would not serve the screenshot (not a raster image): say so. */
  imageRefused(src) {
    if (this.img.getAttribute('src') !== src) return; // another task's image by now
    this.layer.hidden = true;
    $('no-shot').textContent = `Screenshot ${UNSHOWN_IMAGE}.`;
    $('no-shot').hidden = false;
  }

  imageReady() {
    this.width = this.img.naturalWidth;
    this.height = this.img.naturalHeight;
    this.img.width = this.width;
    this.img.height = this.height;
    const d = this.declared;
    const scaled = d && (d.width !== this.width || d.height !== this.height);
    this.sx = scaled ? d.width / this.width : 1;
    this.sy = scaled ? d.height / this.height : 1;
    $('shot-size').textContent = scaled
      ? `${this.width}×${this.height}, sent as display ${d.width}×${d.height}`
      : `${this.width}×${this.height}`;
    this.viewport.dataset.ready = '1';
    const kept = this.kept;
    this.kept = null;
    if (kept && !kept.fitted && kept.width === this.width && kept.height === this.height) {
      Object.assign(this, { scale: kept.scale, tx: kept.tx, ty: kept.ty, fitted: false });
      this.apply();
    } else {
      this.fit();
    }
  }

  // -- view ---------------------------------------------------------------------

  fit() {
    if (!this.width) return;
    const vw = this.viewport.clientWidth;
    const vh = this.viewport.clientHeight;
    // Never above 100% by itself: a small screenshot is shown pixel for pixel, not blown up.
    this.scale = Math.min(vw / this.width, vh / this.height, 1);
    this.tx = (vw - this.width * this.scale) / 2;
    this.ty = (vh - this.height * this.scale) / 2;
    this.fitted = true;
    this.apply();
  }

  actualSize() {
    this.zoomAt(1 / this.scale, this.viewport.clientWidth / 2, this.viewport.clientHeight / 2);
  }

  /** Zoom by ``factor`` keeping the viewport point (vx, vy) fixed. */
  zoomAt(factor, vx, vy) {
    if (!this.width) return;
    const next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    const ratio = next / this.scale;
    this.tx = vx - (vx - this.tx) * ratio;
    this.ty = vy - (vy - this.ty) * ratio;
    this.scale = next;
    this.fitted = false;
    this.apply();
  }

  zoomCentre(factor) {
    this.zoomAt(factor, this.viewport.clientWidth / 2, this.viewport.clientHeight / 2);
  }

  apply() {
    // CSSOM writes are allowed by the CSP (it forbids inline style attributes only).
    this.layer.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    // Smooth below 100% (text stays legible); pixels shown as pixels above it.
    this.layer.classList.toggle('pixelated', this.scale > 1);
    $('zoom-level').textContent = `${Math.round(this.scale * 100)}%`;
    this.redraw();
    // The picture moved under a still pointer (keys, buttons, a pan): re-read it.
    if (this.pointer) this.input.crosshair(this.pointer);
  }

  /**
   * Where a screen point falls on the screenshot, from the image's on-screen box:
   * the screenshot pixel (ix, iy) and the display point (x, y) an action sends,
   * clamped to the display.
   */
  toImage(clientX, clientY) {
    const box = this.img.getBoundingClientRect();
    if (!this.width || !box.width) return { ix: 0, iy: 0, x: 0, y: 0, inside: false };
    const fx = ((clientX - box.left) * this.width) / box.width;
    const fy = ((clientY - box.top) * this.height) / box.height;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    const [w, h] = this.displaySize();
    return {
      ix,
      iy,
      x: Math.min(w - 1, Math.max(0, Math.floor(fx * this.sx))),
      y: Math.min(h - 1, Math.max(0, Math.floor(fy * this.sy))),
      inside: ix >= 0 && iy >= 0 && ix < this.width && iy < this.height,
    };
  }

  /** The display's size: the declared one, else the screenshot's. */
  displaySize() {
    return [Math.round(this.width * this.sx), Math.round(this.height * this.sy)];
  }

  /** Where a display point's centre is in the viewport, for marks and paths. */
  toView(p) {
    return { x: this.tx + ((p.x + 0.5) / this.sx) * this.scale, y: this.ty + ((p.y + 0.5) / this.sy) * this.scale };
  }

  /** Draw the action marks (and a drag in progress) over the screenshot. */
  redraw() {
    if (!this.width) {
      this.svg.replaceChildren();
      this.marks = [];
      return;
    }
    this.marks = drawMarks(this.svg, this.list.actions, (p) => this.toView(p), { hot: this.list.hot });
    const g = this.gesture;
    if (g?.kind === 'drag' && g.path.length) {
      const pts = g.path.map((p) => this.toView(p)).map((q) => `${q.x},${q.y}`).join(' ');
      this.svg.append(svg('polyline', { points: pts, class: 'live' }));
    }
  }

  // -- tools --------------------------------------------------------------------

  setTool(tool) {
    if (tool !== 'none' && document.querySelector(`#tools [data-tool="${tool}"]`)?.hidden) return;
    if (!ONE_SHOT_TOOLS.has(this.tool)) this.previousTool = this.tool;
    this.tool = tool;
    for (const button of document.querySelectorAll('#tools [data-tool]')) {
      button.classList.toggle('active', button.dataset.tool === tool);
    }
    $('opt-scroll').hidden = tool !== 'scroll';
    $('opt-type').hidden = tool !== 'type';
    $('opt-keys').hidden = tool !== 'keypress';
    const hints = {
      click: 'click the screenshot (right / middle mouse buttons work too)',
      double_click: 'click where to double-click',
      move: 'click where to move the pointer',
      drag: 'press, move and release on the screenshot',
      pick: 'click the screenshot to fill x and y of the function form',
    };
    $('opt-hint').textContent = hints[tool] ?? '';
    if (tool === 'type') $('type-text').focus();
    if (tool === 'keypress') {
      $('key-capture').textContent = 'press a combination (Esc leaves)';
      $('key-capture').focus();
    }
  }

  /** Leave Keys or Type for the tool used before, with the focus back on the screenshot. */
  leaveOneShot() {
    if (!ONE_SHOT_TOOLS.has(this.tool)) return;
    this.setTool(ONE_SHOT_TOOLS.has(this.previousTool) ? 'click' : this.previousTool);
    this.viewport.focus({ preventScroll: true });
  }

  // -- actions (kept in the action list) ----------------------------------------

  get actions() {
    return this.list.actions;
  }

  setActions(actions, notify = true) {
    this.list.set(actions, notify);
  }

  add(action) {
    if (this.computer && !this.locked) this.list.add(action);
  }

  undo() {
    return this.list.undo();
  }

  /** A point tool's action at an image point, for a press with mouse ``button``. */
  pointAction(p, button) {
    switch (this.tool) {
      case 'click': {
        const chosen = button === 2 ? 'right' : button === 1 ? 'middle' : $('click-button').value;
        // The Responses API calls the middle button "wheel".
        return { type: 'click', button: chosen === 'middle' ? 'wheel' : chosen, x: p.x, y: p.y };
      }
      case 'double_click':
        return { type: 'double_click', x: p.x, y: p.y };
      case 'move':
        return { type: 'move', x: p.x, y: p.y };
      case 'scroll': {
        const amount = Math.max(1, Math.round(Number($('scroll-amount').value) || 0));
        const dir = $('scroll-direction').value;
        const sx = dir === 'right' ? amount : dir === 'left' ? -amount : 0;
        const sy = dir === 'down' ? amount : dir === 'up' ? -amount : 0;
        return { type: 'scroll', x: p.x, y: p.y, scroll_x: sx, scroll_y: sy };
      }
      default:
        return null;
    }
  }

  // -- input --------------------------------------------------------------------

  bind() {
    this.input = new PointerInput(this);
    for (const button of document.querySelectorAll('#tools [data-tool]')) {
      button.addEventListener('click', () => this.setTool(button.dataset.tool));
    }
    $('add-wait').addEventListener('click', () => this.add({ type: 'wait' }));
    $('add-screenshot').addEventListener('click', () => this.add({ type: 'screenshot' }));
    $('zoom-in').addEventListener('click', () => this.zoomCentre(1.25));
    $('zoom-out').addEventListener('click', () => this.zoomCentre(0.8));
    $('zoom-fit').addEventListener('click', () => this.fit());
    $('zoom-one').addEventListener('click', () => this.actualSize());
    const typeText = $('type-text');
    const addType = () => {
      if (!typeText.value) return;
      this.add({ type: 'type', text: typeText.value });
      typeText.value = '';
      this.leaveOneShot();
    };
    $('add-type').addEventListener('click', addType);
    typeText.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        addType();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.leaveOneShot();
      }
    });
    // One combination, then back to the tool before; Esc leaves without adding.
    captureKeys(
      $('key-capture'),
      (keys) => {
        this.add({ type: 'keypress', keys });
        this.leaveOneShot();
      },
      () => this.leaveOneShot(),
    );
    // Keep the screenshot fitted while the space around it changes (unless zoomed).
    new ResizeObserver(() => {
      if (this.fitted) this.fit();
      else this.redraw();
    }).observe(this.viewport);
  }
}
