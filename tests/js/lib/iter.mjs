// iter.mjs - reading the async iterators the clients return (lists,
// watchers) in tests.

// Every element of a finite iterator.
export async function collect(iter) {
  const out = [];
  for await (const x of iter) out.push(x);
  return out;
}

// Drains a watcher in the background; take(n) waits (bounded) until n more
// entries arrived and returns them.  A QueuedIterator can only be iterated
// once, so one reader serves the whole watch.  show(entries) renders what
// did arrive for the timeout's message.
export function reader(iter, show = (entries) => `${entries.length} entries`) {
  const buf = [];
  let pos = 0;
  let wake = null;
  (async () => {
    for await (const e of iter) {
      buf.push(e);
      wake?.();
    }
  })();
  return {
    async take(n, ms = 5000) {
      const deadline = Date.now() + ms;
      while (buf.length < pos + n) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`watch: got ${buf.length - pos} of ${n} entries in ${ms} ms: ` +
            show(buf.slice(pos)));
        }
        let timer;
        await new Promise((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
      const out = buf.slice(pos, pos + n);
      pos += n;
      return out;
    },
    // Entries beyond those taken so far.
    extra: () => buf.slice(pos),
    stop: () => iter.stop(),
  };
}
