// The bar under the work column: its one-line message (cut with … when long, whole
// on hover, so the bar never changes height), "nothing to send" in the words of the
// task at hand, and a refused answer said where it belongs (a 422 about a call on
// that call's row and field, in plain words).
import { callProblem } from './check.js';
import { $ } from './dom.js';

/** The bar's one line ('' clears it). */
export function barError(text) {
  $('reply-error').textContent = text;
  $('reply-error').title = text;
}

/** "Nothing to send", for a screen task (``computer``), one with tool forms, or plain text. */
export function nothingToSend({ computer, forms }) {
  if (computer) return 'Nothing to send: act on the screenshot, or write a reply (+ Text).';
  if (forms) return 'Nothing to send: fill in a tool form (Submit sends it as a call) or write a reply.';
  return 'Nothing to send: write a reply.';
}

/**
 * The server refused an answer with ``error`` (an ApiError): a 422 about one of
 * ``calls`` (a CallList) goes on that call's row and field; anything else in the bar.
 */
export function showRefusal(error, calls) {
  const detail = error.body?.error;
  const problem = error.status === 422 ? callProblem(detail?.param, detail?.message ?? error.message) : null;
  const call = problem ? calls.calls[problem.index] : null;
  if (!call) {
    barError(error.message);
    return;
  }
  calls.showProblem(problem.index, problem.field, problem.words);
  barError(`Not sent: call ${problem.index + 1} (${call.name}): ${problem.field ? `${problem.field} ` : ''}${problem.words}.`);
}
