// Pointer and wheel input over the screenshot: pan, zoom at the pointer, the
// crosshair readout, point tools (click, double-click, move, scroll, pick), drags,
// and the hover link between marks and action rows. Positions come from the
// workspace (workspace.js), which owns the view and the action list.
import { $ } from './dom.js';

export const ONE_SHOT_TOOLS = new Set(['type', 'keypress']); // used once, then the tool before comes back
const POINT_TOOLS = new Set(['click', 'double_click', 'move', 'scroll', 'pick']);
const CLICK_SLOP = 6; // screen pixels a press may wander and still be a click
const DRAG_STEP = 4; // image pixels between recorded drag points
const HOVER_PX = 14; // screen pixels from a mark that still count as over it

function isTextField(target) {
  if (!(target instanceof Element)) return false;
  return target.matches('input:not([type=checkbox]):not([type=radio]), textarea, select, .capture');
}

export class PointerInput {
  /** @param {import('./workspace.js').Workspace} ws */
  constructor(ws) {
    this.ws = ws;
    const vp = ws.viewport;
    vp.addEventListener('wheel', (e) => {
      e.preventDefault();
      const box = vp.getBoundingClientRect();
      ws.zoomAt(Math.exp(-e.deltaY * 0.002), e.clientX - box.left, e.clientY - box.top);
      this.crosshair(e);
    }, { passive: false });
    vp.addEventListener('contextmenu', (e) => e.preventDefault());
    vp.addEventListener('pointerdown', (e) => this.down(e));
    vp.addEventListener('pointermove', (e) => this.moveTo(e));
    vp.addEventListener('pointerup', (e) => this.up(e));
    vp.addEventListener('pointercancel', () => {
      ws.gesture = null;
      ws.redraw();
    });
    vp.addEventListener('pointerleave', () => {
      this.crosshair(null);
      ws.list.highlight(-1);
    });
    // Space held over the page means "pan" while dragging the screenshot.
    document.addEventListener('keydown', (e) => {
      if (e.key === ' ' && !isTextField(e.target) && !ws.viewport.hidden) {
        if (ws.hover || e.target === vp) e.preventDefault();
        ws.space = true;
        vp.classList.add('can-pan');
      }
    });
    document.addEventListener('keyup', (e) => {
      if (e.key === ' ') {
        ws.space = false;
        vp.classList.remove('can-pan');
      }
    });
  }

  /** Light the mark under the pointer, and its row. */
  hoverMark(e) {
    const ws = this.ws;
    const box = ws.viewport.getBoundingClientRect();
    const x = e.clientX - box.left;
    const y = e.clientY - box.top;
    let best = -1;
    let nearest = HOVER_PX;
    for (const m of ws.marks) {
      const d = Math.hypot(m.x - x, m.y - y);
      if (d <= nearest) {
        nearest = d;
        best = m.index;
      }
    }
    ws.list.highlight(best);
  }

  down(e) {
    const ws = this.ws;
    // The zoom buttons and tool options sit over the picture: presses there are theirs.
    if (!ws.width || e.target.closest('.zoombar, .tool-float')) return;
    // A press on the screenshot ends Keys or Type: it acts with the tool before them,
    // at the pixel under the pointer when pressed.
    const pressed = ws.toImage(e.clientX, e.clientY);
    if (ONE_SHOT_TOOLS.has(ws.tool)) ws.leaveOneShot();
    ws.viewport.focus({ preventScroll: true });
    if (e.button === 1) e.preventDefault(); // no autoscroll
    const start = { cx: e.clientX, cy: e.clientY };
    if (ws.space || e.altKey || ws.tool === 'none') {
      ws.fitted = false;
      ws.gesture = { kind: 'pan', ...start, tx: ws.tx, ty: ws.ty };
      ws.viewport.classList.add('panning');
      ws.viewport.setPointerCapture(e.pointerId);
      return;
    }
    const p = pressed;
    if (!p.inside || ws.locked) return;
    if (ws.tool === 'drag' && e.button === 0) {
      ws.gesture = { kind: 'drag', path: [{ x: p.x, y: p.y }], last: p };
    } else if (POINT_TOOLS.has(ws.tool)) {
      ws.gesture = { kind: 'point', p, button: e.button, ...start };
    } else {
      return;
    }
    ws.viewport.setPointerCapture(e.pointerId);
    e.preventDefault();
  }

  moveTo(e) {
    const ws = this.ws;
    this.crosshair(e);
    const g = ws.gesture;
    if (!g) {
      this.hoverMark(e);
      return;
    }
    if (g.kind === 'pan') {
      ws.tx = g.tx + e.clientX - g.cx;
      ws.ty = g.ty + e.clientY - g.cy;
      ws.apply();
    } else if (g.kind === 'drag') {
      // Points are spaced in screenshot pixels, and recorded in display pixels.
      const p = ws.toImage(e.clientX, e.clientY);
      const last = g.path[g.path.length - 1];
      const moved = Math.hypot(p.ix - g.last.ix, p.iy - g.last.iy) >= DRAG_STEP;
      if (moved && (p.x !== last.x || p.y !== last.y)) {
        g.path.push({ x: p.x, y: p.y });
        g.last = p;
        ws.redraw();
      }
    }
  }

  up(e) {
    const ws = this.ws;
    const g = ws.gesture;
    ws.gesture = null;
    ws.viewport.classList.remove('panning');
    if (!g) return;
    if (g.kind === 'drag') {
      const end = ws.toImage(e.clientX, e.clientY);
      const last = g.path[g.path.length - 1];
      if (end.x !== last.x || end.y !== last.y) g.path.push({ x: end.x, y: end.y });
      if (g.path.length >= 2) ws.add({ type: 'drag', path: g.path });
      else ws.redraw();
    } else if (g.kind === 'point') {
      if (Math.hypot(e.clientX - g.cx, e.clientY - g.cy) > CLICK_SLOP) return;
      if (ws.tool === 'pick') {
        // A function tool declares no display: it gets the screenshot's own pixels.
        ws.hooks.onPick(g.p.ix, g.p.iy);
        return;
      }
      const action = ws.pointAction(g.p, g.button);
      if (action) ws.add(action);
    }
  }

  crosshair(e) {
    const ws = this.ws;
    const cx = $('cross-x');
    const cy = $('cross-y');
    const readout = $('coords');
    ws.hover = Boolean(e);
    ws.pointer = e ? { clientX: e.clientX, clientY: e.clientY } : null;
    const p = e ? ws.toImage(e.clientX, e.clientY) : { inside: false };
    if (!p.inside) {
      cx.hidden = true;
      cy.hidden = true;
      readout.textContent = '–';
      return;
    }
    const box = ws.viewport.getBoundingClientRect();
    cx.hidden = false;
    cy.hidden = false;
    cx.style.left = `${e.clientX - box.left}px`;
    cy.style.top = `${e.clientY - box.top}px`;
    // What a press here would send: display points for actions, pixels for "pick".
    readout.textContent = ws.tool === 'pick' ? `${p.ix}, ${p.iy}` : `${p.x}, ${p.y}`;
  }
}
