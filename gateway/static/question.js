// A question from an agent (MCP's ask_human): the question in large type, its context
// (markdown), and, when asked with options, one button per option (keys 1-9). An
// option sends itself as the answer ({"answer": option}); the server checks it is one
// of them. Without options the reply box (text) or the schema's form (JSON) answers.
import { el } from './dom.js';
import { renderMarkdown } from './markdown.js';

export class QuestionCard {
  constructor(call, hooks) {
    this.hooks = hooks;
    this.options = Array.isArray(call.options) ? call.options : [];
    // With options the buttons are the answer: the generic JSON form goes.
    this.hides = this.options.length ? 'mcp-options' : null;
    this.buttons = this.options.map((option, index) => {
      const key = index < 9 ? String(index + 1) : null;
      const title = key ? `Answer “${option}” (${key})` : `Answer “${option}”`;
      const button = el('button', { type: 'button', class: 'option', title, disabled: hooks.readOnly }, key ? el('kbd', {}, key) : null, el('span', {}, option));
      button.addEventListener('click', () => this.choose(index));
      return button;
    });
    const context = typeof call.context === 'string' && call.context.trim() ? el('div', { class: 'context markdown' }, renderMarkdown(call.context)) : null;
    const images = call.images ? el('p', { class: 'muted' }, `${call.images} image${call.images === 1 ? '' : 's'}: see the messages.`) : null;
    this.element = el(
      'section',
      { id: 'mcp-question', class: 'card', 'aria-label': 'Question' },
      context,
      el('p', { class: 'question' }, String(call.question ?? '')),
      images,
      this.buttons.length ? el('div', { class: 'option-list', role: 'group', 'aria-label': 'Options' }, this.buttons) : null,
    );
  }

  async choose(index) {
    if (this.hooks.readOnly || this.sending) return;
    this.sending = true;
    try {
      await this.hooks.answer({ content: { answer: this.options[index] } }, `Answered “${this.options[index]}”`);
    } finally {
      this.sending = false;
    }
  }

  key(key) {
    const index = Number(key) - 1;
    if (!/^[1-9]$/.test(key) || index >= this.options.length) return false;
    this.choose(index);
    return true;
  }

  /** True when it took the focus (the options); else the reply or form keeps it. */
  focus() {
    this.buttons[0]?.focus({ preventScroll: true });
    return this.buttons.length > 0;
  }
}
