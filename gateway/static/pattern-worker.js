// Runs client-declared `pattern`s off the page (schema.js, testPattern): a pattern
// that backtracks for minutes stalls only this worker, which the page ends after
// its time limit. Answers {id, result}: true, false, or null for a pattern
// JavaScript cannot read.
const compiled = new Map();

self.onmessage = ({ data }) => {
  const { id, pattern, text } = data;
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = null;
    }
    if (compiled.size > 200) compiled.clear();
    compiled.set(pattern, re);
  }
  self.postMessage({ id, result: re ? re.test(text) : null });
};

self.postMessage({ ready: true });
