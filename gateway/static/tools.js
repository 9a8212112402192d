// What a task's declared tools ask of the seat: a computer (the screenshot workspace
// is its form), function arguments x and y a click can fill, the display size actions
// are sent in, and the function tools that get a form of their own.
import { takesXY } from './forms.js';

/** The client's computer function (named "computer", or like it), if any. */
function computerFunction(functions) {
  return functions.find((t) => t.name === 'computer') ?? functions.find((t) => (t.name ?? '').toLowerCase().includes('computer'));
}

/** The display size a computer tool declares, or null when it declares none. */
function declaredDisplay(tools) {
  const computer = tools.find((t) => t.type === 'computer');
  const valid = (n) => Number.isInteger(n) && n > 0;
  return valid(computer?.display_width) && valid(computer?.display_height) ? { width: computer.display_width, height: computer.display_height } : null;
}

/**
 * ``{computer, pick, display, formTools, computerFn}`` for a full task from the
 * reviewer API. Function tools get forms, except the computer function (the workspace
 * is its form), which keeps one only where it can name its target in words (Cua's).
 */
export function toolsOf(task) {
  const tools = task.tools ?? [];
  const functions = tools.filter((t) => t.type === 'function');
  const chat = task.api === 'chat.completions';
  const computerFn = computerFunction(functions);
  const computer = tools.some((t) => t.type === 'computer') || (chat && Boolean(computerFn));
  const describes = (t) => Boolean(t.parameters?.properties?.element_description);
  const formTools = computer && chat ? functions.filter((t) => t !== computerFn || describes(t)) : functions;
  return { computer, pick: functions.some(takesXY), display: declaredDisplay(tools), formTools, computerFn };
}
