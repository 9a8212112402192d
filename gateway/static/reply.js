// The reply box: it grows with its text (up to half the window, then scrolls) and
// shows a markdown preview beside it on demand. Also where a person types on a task
// (typingSpot): the reply box, or a structured answer's first field.
import { $, clear } from './dom.js';
import { renderMarkdown } from './markdown.js';

export class ReplyBox {
  /** @param {() => void} onChange called on every edit */
  constructor(onChange) {
    this.box = $('reply-text');
    this.preview = $('reply-preview');
    this.toggle = $('opt-preview');
    this.box.addEventListener('input', () => {
      this.grow();
      this.renderPreview();
      onChange();
    });
    this.toggle.addEventListener('change', () => {
      localStorage.setItem('hitl.preview', this.toggle.checked ? '1' : '0');
      this.renderPreview();
    });
    this.toggle.checked = localStorage.getItem('hitl.preview') === '1';
  }

  get value() {
    return this.box.value;
  }

  set value(text) {
    this.box.value = text ?? '';
    this.grow();
    this.renderPreview();
  }

  /** Fit the box to its text; CSS caps it (max-height) and it scrolls beyond. */
  grow() {
    // CSSOM writes are allowed by the CSP (it forbids inline style attributes only).
    this.box.style.height = 'auto';
    this.box.style.height = `${this.box.scrollHeight + 2}px`;
  }

  renderPreview() {
    const show = this.toggle.checked && this.box.value.trim() !== '';
    this.preview.hidden = !show;
    $('reply').classList.toggle('previewing', show);
    if (show) clear(this.preview).append(renderMarkdown(this.box.value));
  }

  focus() {
    this.box.focus({ preventScroll: true });
  }
}

/**
 * Where the person types on the open task: a structured answer's first field when its
 * slots stand in for the reply box (choices.js), else the reply box (shown if it
 * waited behind "+ Text").
 * @param {ReplyBox} reply
 */
export function typingSpot(reply) {
  if ($('task').classList.contains('slotted')) {
    const slot = $('answer-shape')?.querySelector('input:not([type=checkbox]), textarea');
    if (slot && !slot.closest('[hidden]')) return slot;
  }
  $('reply').hidden = false;
  $('btn-add-reply').hidden = true;
  return reply.box;
}
