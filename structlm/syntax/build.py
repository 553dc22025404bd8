"""Build an ActionGrammar from a Language and training files (two passes: leaf statistics, then productions)."""
from __future__ import annotations

import bisect
import collections
from collections.abc import Iterable

from structlm.syntax import languages, layout
from structlm.syntax.grammar import (BYTE_ALPHABET, FLAT_EMPTY, SPECIALS, ActionGrammar, GrammarConfig, _finish,
                                     START, advance_brackets, head_of, prev_marker, segments_of)
from structlm.syntax.pieces import LeafPieces
from structlm.syntax.tree import LEAF, NODE, Skip, parse


def production_items(children, closed) -> tuple:
  items = []
  for ch in children:
    if ch[0] == LEAF and (ch[1][0] == '"' or ch[3] in closed.get(ch[1], ())):
      items.append(("L", ch[3]))
    else:
      items.append(("H", ch[2]))
  return tuple(items)


def split_gap(src: bytes, start: int, end: int, comments):
  """Whitespace parts and comment spans of src[start:end] (`comments`: sorted (start, end) spans)."""
  ci = bisect.bisect_left(comments, (start, -1)) if comments else 0
  ws, spans, pos = [], [], start
  while ci < len(comments) and comments[ci][1] <= end:
    s, e = comments[ci]
    ws.append(src[pos:s])
    spans.append((s, e))
    pos = e
    ci += 1
  ws.append(src[pos:end])
  return ws, spans


class _Stats:
  def __init__(self, closed):
    self.closed = closed
    self.prods = collections.Counter()
    self.prod_gaps: dict = {}
    self.prod_kind_gaps: dict = {}  # per production: item index -> child kind -> Counter of the gap before it
    self.slot_kinds = collections.defaultdict(set)
    self.slot_texts = collections.defaultdict(collections.Counter)
    self.leaf_texts = collections.Counter()
    self.layout = collections.Counter()
    self.root_gaps = [collections.Counter(), collections.Counter()]

  def gap(self, src, start, end, base, comments):
    ws, spans = split_gap(src, start, end, comments)
    keys = [layout.normalize(w, base) for w in ws]
    for k, w in zip(keys, ws):
      if k is None:
        self.leaf_texts[w] += 1
      else:
        self.layout[k] += 1
    for s, e in spans:
      self.leaf_texts[src[s:e]] += 1
    return keys[0] if not spans else None

  def file(self, parsed):
    src, comments = parsed.source, parsed.comments
    root = parsed.root
    self.root_gaps[0][self.gap(src, 0, root[4], b"", comments)] += 1
    self.slot_kinds[("#root", None, None, None)].add(root[1])
    stack = [root]
    while stack:
      node = stack.pop()
      children = node[3]
      items = production_items(children, self.closed)
      key = (node[1], items)
      self.prods[key] += 1
      gaps = self.prod_gaps.get(key)
      if gaps is None:
        gaps = self.prod_gaps[key] = [collections.Counter() for _ in items]
        self.prod_kind_gaps[key] = [collections.defaultdict(collections.Counter) for _ in items]
      kgaps = self.prod_kind_gaps[key]
      base = layout.line_indent(src, node[4])
      head = head_of(items)
      prev_end, prev = None, START
      for i, (ch, it) in enumerate(zip(children, items)):
        if i:
          gk = self.gap(src, prev_end, ch[4], base, comments)
          gaps[i][gk] += 1
          if it[0] == "H":
            kgaps[i]["#leaf" if ch[0] == LEAF else ch[1]][gk] += 1
        prev_end = ch[5]
        if it[0] == "H":
          slot = (node[1], it[1], head, prev_marker(prev, it[1]))
          if ch[0] == LEAF:
            self.slot_kinds[slot].add("#leaf:" + ch[1])
            self.slot_texts[slot][ch[3]] += 1
            self.leaf_texts[ch[3]] += 1
            prev = (it[1], "#leaf")
          else:
            self.slot_kinds[slot].add(ch[1])
            prev = (it[1], ch[1])
        else:
          prev = it[1]
      for ch in reversed(children):
        if ch[0] == NODE:
          stack.append(ch)
    self.root_gaps[1][self.gap(src, root[5], len(src), b"", comments)] += 1


def _leaf_stats(files, language, max_bytes, closed_max):
  """Pass 1: texts of named leaf kinds, to decide which are closed (literals of their rules). The language's name
  kinds stay open whatever their count: a name is always spelled in a hole (the scoped variant references it,
  strict mode checks its scope), never baked into a rule."""
  texts: dict[str, set] = collections.defaultdict(set)
  open_kinds: set = set(languages.spec(language).name_kinds)
  parsed_files, skipped = [], collections.Counter()
  for path, src in files:
    try:
      p = parse(src, language, max_bytes=max_bytes)
    except Skip as e:
      skipped[str(e)] += 1
      continue
    parsed_files.append(p)
    stack = [p.root]
    while stack:
      n = stack.pop()
      if n[0] == NODE:
        stack.extend(n[3])
      elif n[1][0] != '"' and n[1] not in open_kinds:
        texts[n[1]].add(n[3])
        if len(texts[n[1]]) > closed_max:
          open_kinds.add(n[1])
  closed = {k: v for k, v in texts.items() if k not in open_kinds}
  return closed, parsed_files, skipped


def build_grammar(language: str, files: Iterable[tuple[str, bytes]], config: GrammarConfig | None = None,
                  max_bytes: int = 1 << 20) -> ActionGrammar:
  """`files`: (path, source bytes). Files that do not parse are ignored here (the encoder reports them)."""
  config = config or GrammarConfig()
  closed, parsed_files, skipped = _leaf_stats(list(files), language, max_bytes, config.closed_leaf_max_texts)
  if not parsed_files:
    why = "; ".join(f"{n} x {reason}" for reason, n in skipped.items()) or "no files"
    raise ValueError(f"no training file could be encoded ({why}): cannot build a grammar from nothing")
  stats = _Stats(closed)
  for p in parsed_files:
    stats.file(p)

  # layout classes
  must = [FLAT_EMPTY, ("flat", b" "), (b"\n", "+", b""), (b"\n", "+", b"    ")]
  classes = [k for k, _ in stats.layout.most_common() if k not in must][:max(0, config.layout_classes - len(must))]
  layout_keys = must + classes
  lindex = {k: i for i, k in enumerate(layout_keys)}

  def default_of(counter):
    for k, _ in counter.most_common():
      if k in lindex:
        return lindex[k]
    return lindex[FLAT_EMPTY]

  # list kinds (a hole field repeats in some production) are built element by element; only their short forms
  # (at most list_rule_max_holes children) may also be whole rules, so the rule vocabulary stays bounded
  list_kinds = set()
  for kind, items in stats.prods:
    holes = [it[1] for it in items if it[0] == "H"]
    if len(holes) != len(set(holes)):
      list_kinds.add(kind)

  def rule_ok(key):
    return key[0] not in list_kinds or sum(it[0] == "H" for it in key[1]) <= config.list_rule_max_holes

  ranked = [(c, k) for k, c in stats.prods.items() if c >= config.min_count and rule_ok(k)]
  ranked.sort(key=lambda x: (-x[0], repr(x[1])))
  rules = [k for _, k in ranked[:config.max_rules]]
  rule_defaults = [[default_of(g) if i else -1 for i, g in enumerate(stats.prod_gaps[k])] for k in rules]

  def kind_defaults(defaults, kind_counters):
    """{item index: {child kind: class}} where the child's kind changes the most frequent gap before it."""
    out = {}
    for i, by_kind in enumerate(kind_counters):
      for kind, counter in by_kind.items():
        best = default_of(counter)
        if best != defaults[i] and counter[layout_keys[best]] >= 3:
          out.setdefault(i, {})[kind] = best
    return out

  rule_kind_defaults = [kind_defaults(d, stats.prod_kind_gaps[k]) for d, k in zip(rule_defaults, rules)]

  # segments, their gap defaults, first-ness and bigrams, from every production
  seg_count = collections.Counter()
  seg_gaps: dict = {}
  seg_kind_gaps: dict = {}
  seg_first_keys, seg_pairs = set(), set()
  for key, c in stats.prods.items():
    kind, items = key
    offset, prev, brackets, head = 0, None, b"", head_of(items)
    # looked up once: a long list's key is hashed in full at every lookup (quadratic in its length)
    gaps, kind_gaps = stats.prod_gaps[key], stats.prod_kind_gaps[key]
    for j, (sitems, end) in enumerate(segments_of(items)):
      skey = (kind, (head, brackets) if j else None, sitems, end)
      brackets = advance_brackets(brackets, sitems)
      seg_count[skey] += c
      g = seg_gaps.setdefault(skey, [collections.Counter() for _ in sitems])
      kg = seg_kind_gaps.setdefault(skey, [collections.defaultdict(collections.Counter) for _ in sitems])
      for i in range(len(sitems)):
        if offset + i > 0:
          g[i].update(gaps[offset + i])
          for child_kind, counter in kind_gaps[offset + i].items():
            kg[i][child_kind].update(counter)
      if j == 0:
        seg_first_keys.add(skey)
      else:
        seg_pairs.add((prev, skey))
      prev = skey
      offset += len(sitems)
  ranked = sorted(((c, k) for k, c in seg_count.items() if c >= config.min_count), key=lambda x: (-x[0], repr(x[1])))
  segs = [k for _, k in ranked[:config.max_segments]]
  sindex = {k: i for i, k in enumerate(segs)}
  seg_defaults = [[default_of(g) for g in seg_gaps[k]] for k in segs]
  seg_kind_defaults = [kind_defaults(d, seg_kind_gaps[k]) for d, k in zip(seg_defaults, segs)]
  seg_first = sorted(sindex[k] for k in seg_first_keys if k in sindex)
  seg_next: dict = collections.defaultdict(set)
  for a, b in seg_pairs:
    if a in sindex and b in sindex:
      seg_next[sindex[a]].add(sindex[b])

  kinds = [k if named else '"' + k for k, named in languages.node_kinds(language)]
  literals = sorted({k[1:].encode() for k in kinds if k[0] == '"'} | {t for v in closed.values() for t in v})
  fields = [None] + languages.field_names(language)

  fixed = (len(SPECIALS) + 2 * len(layout_keys) + len(rules) + len(segs) + len(kinds) + len(literals)
           + len(fields))
  if config.leaf_capacity == "merges":  # the token BPE's merges, over the leaf alphabet (bytes + END)
    n_pieces = config.vocab_size - BYTE_ALPHABET + (BYTE_ALPHABET + 1)
  else:
    n_pieces = config.vocab_size - fixed
  if n_pieces < config.min_leaf_pieces:
    raise ValueError(f"vocab_size {config.vocab_size} leaves {n_pieces} leaf pieces after {fixed} structural "
                     f"actions; raise vocab_size or lower max_rules/max_segments")
  pieces = LeafPieces.train((t for t, c in stats.leaf_texts.items() for _ in range(min(c, 1000))), n_pieces)

  data = dict(
      language=language, config=vars(config).copy(),
      closed={k: v for k, v in closed.items()},
      layout=layout_keys, rules=rules, rule_defaults=rule_defaults, rule_kind_defaults=rule_kind_defaults,
      segments=segs, seg_defaults=seg_defaults, seg_kind_defaults=seg_kind_defaults, seg_first=seg_first, seg_next=dict(seg_next),
      kinds=kinds, literals=literals, fields=fields,
      generic_default=lindex[FLAT_EMPTY],
      root_defaults=[default_of(stats.root_gaps[0]), default_of(stats.root_gaps[1])],
      slot_kinds=sorted(stats.slot_kinds.items(), key=repr),
      slot_lexicon=sorted(((k, [t for t, _ in c.most_common(config.lexicon_per_slot)])
                           for k, c in stats.slot_texts.items()), key=repr),
      list_kinds=sorted(list_kinds),
  )
  return _finish(data, pieces)
