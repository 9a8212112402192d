// A small markdown renderer for the reply preview. It builds DOM nodes with
// textContent only, never HTML from text: headings, paragraphs, lists, quotes,
// fenced code, **bold**, *italic*, `code` and [links](https://...) (http and
// https only). Whatever it does not know stays as plain text.
import { el } from './dom.js';

const INLINE = /(\*\*[^*]+\*\*|\*[^*\s][^*]*\*|`[^`]+`|\[[^\]]+\]\([^)\s]+\))/;

function inline(text) {
  const nodes = [];
  for (const piece of text.split(INLINE)) {
    if (!piece) continue;
    if (piece.startsWith('**') && piece.endsWith('**') && piece.length > 4) nodes.push(el('strong', {}, piece.slice(2, -2)));
    else if (piece.startsWith('`') && piece.endsWith('`') && piece.length > 2) nodes.push(el('code', {}, piece.slice(1, -1)));
    else if (piece.startsWith('*') && piece.endsWith('*') && piece.length > 2) nodes.push(el('em', {}, piece.slice(1, -1)));
    else if (piece.startsWith('[')) {
      const m = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(piece);
      const safe = m && /^https?:\/\//i.test(m[2]);
      nodes.push(safe ? el('a', { href: m[2], rel: 'noopener noreferrer', target: '_blank' }, m[1]) : piece);
    } else nodes.push(piece);
  }
  return nodes;
}

/** The markdown ``text`` as a fragment of DOM nodes. */
export function renderMarkdown(text) {
  const out = document.createDocumentFragment();
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^```/.test(line)) {
      const code = [];
      for (i += 1; i < lines.length && !/^```/.test(lines[i]); i += 1) code.push(lines[i]);
      i += 1;
      out.append(el('pre', {}, el('code', {}, code.join('\n'))));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      out.append(el(`h${Math.min(6, heading[1].length + 2)}`, {}, ...inline(heading[2])));
      i += 1;
      continue;
    }
    const bullet = /^\s*([-*+]|\d+[.)])\s+/;
    if (bullet.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? 'ol' : 'ul');
      for (; i < lines.length && bullet.test(lines[i]); i += 1) list.append(el('li', {}, ...inline(lines[i].replace(bullet, ''))));
      out.append(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      const quoted = [];
      for (; i < lines.length && /^>\s?/.test(lines[i]); i += 1) quoted.push(lines[i].replace(/^>\s?/, ''));
      out.append(el('blockquote', {}, ...inline(quoted.join(' '))));
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const para = [];
    for (; i < lines.length && lines[i].trim() && !/^(```|#{1,6}\s|>|\s*([-*+]|\d+[.)])\s)/.test(lines[i]); i += 1) para.push(lines[i]);
    if (!para.length) {
      para.push(line);
      i += 1;
    }
    const p = el('p');
    para.forEach((text, n) => {
      if (n) p.append(el('br'));
      p.append(...inline(text));
    });
    out.append(p);
  }
  return out;
}
