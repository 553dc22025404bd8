// Utilities for parsing query strings and formatting sizes.
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n, digits = 1) {
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : digits)} ${UNITS[i]}`;
}

export const parseQuery = (query) => {
  const out = {};
  for (const part of query.replace(/^\?/, '').split('&')) {
    if (!part) continue;
    const [key, value = ''] = part.split('=').map(decodeURIComponent);
    out[key] = key in out ? [].concat(out[key], value) : value;
  }
  return out;
};

export async function retry(fn, { attempts = 3, delay = 100 } = {}) {
  let last;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn(i);
    } catch (err) {
      last = err;
      await new Promise((resolve) => setTimeout(resolve, delay * 2 ** i));
    }
  }
  throw last;
}

/* A tiny memoiser keyed on the first argument. */
export function memoize(fn) {
  const cache = new Map();
  return function (arg) {
    if (!cache.has(arg)) {
      cache.set(arg, fn.call(this, arg));
    }
    return cache.get(arg);
  };
}

const isEven = (n) => n % 2 === 0, isOdd = (n) => !isEven(n);
let counter = 0;
switch (typeof counter) {
  case 'number':
    counter += 1;
    break;
  default:
    counter = null;
}
export default { formatBytes, parseQuery, retry, memoize, isEven, isOdd };
