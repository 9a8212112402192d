// Who holds the open task, and what that lets this seat do. Ours: the claim is
// renewed while it is open and given back when the page goes away. Someone else's:
// read-only, with every control of the work column disabled, so nothing can be typed
// into it. When the holder lets go, the seat takes the task over in place and says so,
// keeping what is on screen; when our claim lapsed and someone else took it, it turns
// read-only and what we typed is kept for when it comes back.
import { api } from './api.js';
import { $, toast } from './dom.js';

const RENEW_MS = 60_000; // well inside the default five-minute lease
// Every control of the work column a reader of someone else's task must not use
// (the zoom bar stays: looking closer changes nothing).
const CONTROLS = '.work input, .work textarea, .work select, .work button:not(.zoombar button), #answer-shape *';

/** The banner under the task's head ('' hides it). */
export function banner(text) {
  $('task-banner').textContent = text;
  $('task-banner').hidden = !text;
}

/**
 * Disable (``locked``) or enable again the work column's controls. Only what this
 * disabled is enabled again, so a button disabled for its own reason stays so.
 */
export function lockControls(locked) {
  for (const node of $('task').querySelectorAll(CONTROLS)) {
    if (!('disabled' in node)) continue;
    if (locked && !node.disabled) {
      node.disabled = true;
      node.dataset.locked = '1';
    } else if (!locked && node.dataset.locked) {
      node.disabled = false;
      delete node.dataset.locked;
    }
  }
}

export class Hold {
  /**
   * @param {{me: () => string, taskId: () => string|null, done: () => boolean,
   *   save: () => void, tookOver: () => void, lock: (locked: boolean) => void}} hooks
   *   ``save`` keeps the unsent work, ``tookOver`` runs once the task became ours,
   *   ``lock`` makes the work column read-only or usable.
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.readOnly = false;
    this.holder = null; // who holds it when it is not us
    this.timer = null;
    this.leaving = false; // the page is going away (pagehide)
    // Leaving the page releases the claim; a reload claims it again from sessionStorage.
    // ``leaving`` keeps this page from re-claiming on the event its own release causes.
    window.addEventListener('pagehide', () => {
      const id = this.hooks.taskId();
      if (!id || this.hooks.done() || this.readOnly) return;
      this.leaving = true;
      api.release(id, true).catch(() => {});
    });
    window.addEventListener('pageshow', (event) => {
      if (!event.persisted || !this.leaving) return; // back from the page cache
      this.leaving = false;
      this.renew();
    });
  }

  /** A task opened: ours (renewed from now on) or, with ``holder``, someone else's. */
  begin(readOnly, holder = null) {
    this.end();
    this.readOnly = readOnly;
    this.holder = readOnly ? holder : null;
    if (!readOnly) this.timer = setInterval(() => this.renew(), RENEW_MS);
  }

  /** The task closed. */
  end() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async renew() {
    const id = this.hooks.taskId();
    if (!id || this.hooks.done() || this.readOnly) return;
    try {
      await api.claim(id);
    } catch (error) {
      banner(error.message);
    }
  }

  /** The open task was claimed by ``by`` (not us) or released (``by`` null). */
  changed(id, by) {
    if (by) {
      this.holder = by;
      if (this.readOnly) return banner(`Read-only: held by ${by}.`);
      // Our claim lapsed and someone else took it: read-only, and what we typed is kept.
      this.hooks.save();
      this.readOnly = true;
      this.end();
      this.hooks.lock(true);
      banner(`Now held by ${by}: read-only. What you typed is kept for when it comes back.`);
      return;
    }
    // Our lease ran out, someone released it, or its holder let go of a task we are
    // looking at: take it (back) and work on it, in place, keeping what is typed.
    api.claim(id).then(
      () => {
        if (this.hooks.taskId() !== id) return;
        if (this.readOnly) this.takeOver();
        else banner('');
      },
      (error) => banner(error.message),
    );
  }

  /** The holder let go of the task we were reading: it is ours now, said aloud, nothing lost. */
  takeOver() {
    const text = `${this.holder ? `${this.holder} let go` : 'The holder let go'}: this task is yours now. Anything typed here is kept.`;
    this.begin(false);
    this.hooks.lock(false);
    banner(text);
    toast(text);
    this.hooks.tookOver();
  }
}
