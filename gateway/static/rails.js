// Rails: while following a session on a screen task, the queue and the side column
// (past steps, messages) fold into narrow rails at the edges and the chrome above
// and below the screenshot gets slimmer, so a laptop's width goes to the picture
// (at 1280x720 a 1280x800 screenshot shows at least 68% wide, 870 px, instead of 60%).
// A rail opens over the screenshot, never beside it, so the picture does not move:
// on pointing at it (after HOVER_MS, so a pointer passing by opens nothing), on a
// click, or by key (q for the queue, \ for the side column).
import { $ } from './dom.js';

const HOVER_MS = 250;
const WIDE = '(min-width: 901px)'; // narrower windows stack the queue above the task (style.css)

export class Rails {
  constructor() {
    this.on = false;
    this.panes = { queue: $('queue-pane'), side: $('side') };
    this.timers = {};
    this.keyed = {}; // closed by key or click: pointing opens it again only after leaving
    for (const [which, pane] of Object.entries(this.panes)) {
      pane.addEventListener('mouseenter', () => {
        if (!this.on || this.keyed[which]) return;
        clearTimeout(this.timers[which]);
        this.timers[which] = setTimeout(() => this.open(which, true), HOVER_MS);
      });
      pane.addEventListener('mouseleave', (e) => {
        // A screenshot opened from the rail covers the page: the rail stays for its return.
        if (e.relatedTarget instanceof Element && e.relatedTarget.closest('.overlay')) return;
        clearTimeout(this.timers[which]);
        this.keyed[which] = false;
        this.open(which, false);
      });
    }
    $('queue-rail').addEventListener('click', () => this.toggle('queue'));
    $('side-rail').addEventListener('click', () => this.toggle('side'));
  }

  /** True when the rails are showing (folded while following, on a window wide enough). */
  get active() {
    return this.on && window.matchMedia(WIDE).matches;
  }

  /** Fold the panes into rails (``on``) or give them their room back. */
  set(on) {
    if (on === this.on) return;
    this.on = on;
    document.body.classList.toggle('rails', on);
    if (!on) this.closeAll();
  }

  open(which, open) {
    const pane = this.panes[which];
    pane.classList.toggle('open', open && this.on);
    $(`${which}-rail`).setAttribute('aria-expanded', String(open && this.on));
  }

  /** Fold both rails back (another task opened: its screenshot whole). */
  closeAll() {
    for (const which of Object.keys(this.panes)) {
      clearTimeout(this.timers[which]);
      this.keyed[which] = false;
      this.open(which, false);
    }
  }

  /** Open or close by key or click (a pending open on pointing is called off). */
  toggle(which) {
    clearTimeout(this.timers[which]);
    const open = !this.panes[which].classList.contains('open');
    this.keyed[which] = !open;
    this.open(which, open);
  }
}
