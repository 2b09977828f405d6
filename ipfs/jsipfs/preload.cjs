// Preloaded into js-ipfs 0.66.1 (via NODE_OPTIONS=--require) so that it starts on Node 20:
// some of its dependencies call Promise.withResolvers, which Node only ships from version 22.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
