// Constructs whose placement V8 checks beyond tree-sitter's grammar (tests/test_placement.py pushes walks toward
// each): accessors, for heads, switch defaults, statements whose `;` is inserted automatically, export clauses,
// `??` beside `&&`/`||`, destructuring.
import { helper } from "./utils.js";
export { helper as aliasName } from "./utils.js";

export default function main(items) {
  let total = 0
  var count = 1
  for (let i = 0; i < items.length; i++) {
    total += items[i];
  }
  for (var j = 0, k = 1; j < k; j++) total++
  for (count = 0; count < 3; count++) total = total + 1
  for (;;) {
    break
  }
  switch (items.length) {
    case 0:
      return null
    default:
      break
  }
  switch (total) {
    case 1:
    default:
      total++;
    case 2:
    case 3:
      break;
  }
  if (total > 1) return total
  else total = 2
  if (count) throw new Error("x")
  else count = 2
  do count--
  while (count > 0)
  return total
}

class Box {
  get size() {
    return this.n
  }
  set size(value) {
    this.n = value
  }
  static make(a, b) {
    return new Box(a, b)
  }
}

const box = new Box();
function local(a, b, c) {
  return a + b + c
}
export { box, local };

// nullish and logical operators, destructuring declarations and assignments (members only in assignments)
function pick(opts, fallback) {
  const chosen = opts.value ?? fallback;
  const ready = opts.ready && chosen || fallback;
  let { name: label, size } = opts;
  const [first, ...others] = opts.list;
  ({ name: box.label, size } = opts);
  [box.first, local.second] = others;
  return chosen ?? (ready && label);
}

// names a block may not declare again: a catch's parameter in its body, a for-of head's in its body's `var`s
function guard(items) {
  try {
    items.check();
  } catch (err) {
    const message = err;
    let count = 0;
  }
  for (const key of items) {
    var other = key;
  }
  for (var index in items) {
    const seen = index;
  }
  for (let value = 0, limit = 3; value < limit; value++) {}
  return "key" in items;
}
