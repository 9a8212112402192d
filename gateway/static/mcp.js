// The MCP door's two task kinds get a view of their own above the answer:
// a permission task (request_permission) its tool call with Allow and Deny, a
// question (ask_human) its question and context, and a button per option if it has any. The call as the agent
// made it is under ``request.mcp``. Other tasks get nothing from here.
import { $, el } from './dom.js';
import { PermissionCard } from './permission.js';
import { QuestionCard } from './question.js';

const STYLE_ID = 'mcp-css';

function addStyle() {
  if ($(STYLE_ID)) return;
  document.head.append(el('link', { id: STYLE_ID, rel: 'stylesheet', href: '/static/mcp.css' }));
}

/**
 * The view for ``task``, mounted at the top of the work area, or null.
 * @param {{readOnly: boolean, answer: (body: object, message: string) => Promise<void>}} hooks
 * The view has ``key(key)`` (true when it used the key) and ``remove()``.
 */
export function mcpView(task, hooks) {
  const call = task.request?.mcp;
  if (!call || typeof call !== 'object') return null;
  let view = null;
  if (task.kind === 'permission') view = new PermissionCard(task, call, hooks);
  else if (task.kind === 'question' && typeof call.question === 'string') view = new QuestionCard(call, hooks);
  if (!view) return null;
  addStyle();
  document.querySelector('#task .work-main').prepend(view.element);
  if (view.hides) $('task').classList.add(view.hides); // the generic answer parts it stands in for
  return {
    key: (key) => view.key(key),
    submit: view.submit ? () => view.submit() : null,
    focus: () => view.focus(), // true when it took the focus
    remove: () => {
      view.element.remove();
      if (view.hides) $('task').classList.remove(view.hides);
    },
  };
}
