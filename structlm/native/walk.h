/* The encoding walk, as structlm/syntax/codec.py's _Encoder: grammar keys (answered by the Python resolver once,
 * then cached), layout and content emission, and the rule / segment / generic forms of a node. */
#ifndef STRUCTLM_WALK_H
#define STRUCTLM_WALK_H

#include "encoder.h"

/* ---- keys the resolver answers -------------------------------------------------------------------------------- */
#define NONE_HASH 0x4e6f6e6548617368ULL

static void hole_hash(Encoder *E, HoleKey *k) {
  if (k->root) { k->hash = 0x526f6f744b6579ULL; return; }
  uint64_t h = combine(0x486f6c654b6579ULL, (uint32_t)k->kind);
  h = combine(h, (uint32_t)k->field);
  h = combine(h, k->head_s < 0 ? NONE_HASH : k->head_h);
  uint64_t m;
  switch (k->mtype) {
    case M_START: m = 0x5354415254ULL; break;
    case M_BYTES: m = combine(0x4259544553ULL, k->m_h); break;
    case M_KIND: m = combine(0x4b494e44ULL, (uint32_t)k->m_a); break;
    default: m = NONE_HASH;
  }
  k->hash = combine(h, m);
}

static PyObject *hole_py(Encoder *E, const HoleKey *k) {
  if (k->root) return Py_NewRef(E->root_key);
  PyObject *head = k->head_s < 0 ? Py_NewRef(Py_None) : span_bytes(E, k->head_s, k->head_e), *marker;
  switch (k->mtype) {
    case M_START: marker = Py_NewRef(E->start_marker); break;
    case M_BYTES: marker = span_bytes(E, k->m_a, k->m_b); break;
    case M_KIND: marker = Py_NewRef(PyList_GET_ITEM(E->hash_kinds, k->m_a == LEAF_KIND ? E->nkinds : k->m_a)); break;
    default: marker = Py_NewRef(Py_None);
  }
  PyObject *t = NULL;
  if (head && marker)
    t = PyTuple_Pack(4, PyList_GET_ITEM(E->kind_strs, k->kind), PyList_GET_ITEM(E->field_strs, k->field), head,
                     marker);
  Py_XDECREF(head);
  Py_XDECREF(marker);
  return t;
}

static int32_t slot_of(Encoder *E, int sk, const HoleKey *hk, int32_t seg_kind, int flag) {
  uint64_t h = sk == SK_HOLE ? combine(0x11, hk->hash) : sk == SK_SEG ? combine(0x22, (uint32_t)seg_kind) : (uint64_t)sk;
  h = combine(h, (uint64_t)flag);
  const int64_t *v = map_get(&E->slots, h);
  if (v) return (int32_t)*v;
  static const char *names[] = {"hole", "seg", "gen", "eof"};
  PyObject *key = sk == SK_HOLE ? hole_py(E, hk) : sk == SK_SEG ? kind_str(E, seg_kind) : Py_NewRef(Py_None);
  if (!key) return ERR;
  int64_t s = call_int(PyObject_CallMethod(E->resolver, "slot", "sOO", names[sk], key, flag ? Py_True : Py_False));
  Py_DECREF(key);
  if (s == INT64_MIN || map_put(&E->slots, h, s)) return ERR;
  return (int32_t)s;
}

static int allowed(Encoder *E, const HoleKey *hk, int32_t kind) {
  uint64_t h = combine(combine(0xa110, hk->hash), (uint32_t)kind);
  const int64_t *v = map_get(&E->allowed, h);
  if (v) return (int)*v;
  PyObject *key = hole_py(E, hk), *ks = kind_str(E, kind), *r = NULL;
  if (key && ks) r = PyObject_CallMethod(E->resolver, "allowed", "OO", key, ks);
  Py_XDECREF(key);
  Py_XDECREF(ks);
  if (!r) return ERR;
  int ok = PyObject_IsTrue(r);
  Py_DECREF(r);
  if (ok < 0 || map_put(&E->allowed, h, ok)) return ERR;
  return ok;
}

/* Layout class of gap src[s:e] at a node starting at `pos` (-1: not a class, -2: error). */
static int32_t class_of(Encoder *E, uint32_t s, uint32_t e, uint32_t pos) {
  const uint8_t *src = E->src;
  int nl = memchr(src + s, '\n', e - s) != NULL;
  uint64_t h = hash_bytes(src + s, e - s);
  uint32_t bs = pos, be = pos;
  if (nl) {
    if (pos == E->base_pos) { /* the siblings of a block share their base: remembered from the last gap */
      bs = E->base_s;
      be = E->base_e;
    } else {
      while (bs > 0 && src[bs - 1] != '\n') bs--;
      be = bs;
      while (be < pos && (src[be] == ' ' || src[be] == '\t' || src[be] == '\f')) be++;
      E->base_pos = pos;
      E->base_s = bs;
      E->base_e = be;
    }
    h = combine(combine(0x4e4c, h), hash_bytes(src + bs, be - bs));
  } else {
    h = combine(0x464c4154, h);
  }
  const int64_t *v = map_get(&E->layouts, h);
  if (v) return (int32_t)*v;
  PyObject *gap = span_bytes(E, s, e), *base = nl ? span_bytes(E, bs, be) : Py_NewRef(Py_None);
  int64_t c = INT64_MIN;
  if (gap && base) c = call_int(PyObject_CallMethod(E->resolver, "layout", "OO", gap, base));
  Py_XDECREF(gap);
  Py_XDECREF(base);
  if (c == INT64_MIN || map_put(&E->layouts, h, c)) return -2;
  return (int32_t)c;
}

/* The plan of node ni (arena offset): [mode, nseg, per segment: action, nitems, defaults[nitems], nkd, (i, kind,
 * class) * nkd]; a rule is one segment holding all the items. */
static int64_t plan_of(Encoder *E, int32_t ni) {
  const FNode *n = &E->nodes[ni];
  const int32_t *kids = E->child_idx.a + n->first;
  uint64_t h = combine(0x504c414e, (uint32_t)n->kind);
  for (int32_t i = 0; i < n->n; i++) {
    const FNode *c = &E->nodes[kids[i]];
    h = combine(h, c->lit ? combine(0x4c4954, c->th) : combine(0x484f4c45, (uint32_t)c->field));
  }
  const int64_t *v = map_get(&E->plans, h);
  if (v) return *v;
  PyObject *items = PyTuple_New(n->n), *r = NULL, *seq = NULL;
  if (!items) return ERR;
  for (int32_t i = 0; i < n->n; i++) {
    const FNode *c = &E->nodes[kids[i]];
    PyObject *it = c->lit ? Py_BuildValue("(sN)", "L", span_bytes(E, c->start, c->end))
                          : Py_BuildValue("(sO)", "H", PyList_GET_ITEM(E->field_strs, c->field));
    if (!it) { Py_DECREF(items); return ERR; }
    PyTuple_SET_ITEM(items, i, it);
  }
  r = PyObject_CallMethod(E->resolver, "plan", "ON", PyList_GET_ITEM(E->kind_strs, n->kind), items);
  if (!r || !(seq = PySequence_Fast(r, "plan"))) { Py_XDECREF(r); return ERR; }
  int64_t off = (int64_t)E->arena.n;
  Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
  int err = vec_reserve(&E->arena, (size_t)len);
  for (Py_ssize_t i = 0; !err && i < len; i++) {
    long x = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
    if (x == -1 && PyErr_Occurred()) err = 1;
    E->arena.a[E->arena.n++] = (int32_t)x;
  }
  Py_DECREF(seq);
  Py_DECREF(r);
  if (err || map_put(&E->plans, h, off)) return ERR;
  return off;
}

/* ---- emission: layout, pieces, content ------------------------------------------------------------------------ */
#define PIECE_CACHE_MAX_BYTES 256

/* Pieces of src[s:e] into `out` (cleared), through the cache for short texts. */
static int text_pieces(Encoder *E, uint32_t s, uint32_t e, const uint64_t *known_hash, Vec32 *out) {
  out->n = 0;
  uint64_t h = 0;
  if (e - s <= PIECE_CACHE_MAX_BYTES) {
    h = known_hash ? *known_hash : hash_bytes(E->src + s, e - s);
    const int64_t *v = map_get(&E->piece_cache, h);
    if (v) {
      size_t off = (size_t)(*v >> 16), n = (size_t)(*v & 0xffff);
      if (vec_reserve(out, n)) return ERR;
      memcpy(out->a, E->piece_arena.a + off, n * sizeof(int32_t));
      out->n = n;
      return OK;
    }
  }
  if (bpe_encode(&E->bpe, E->src + s, e - s, out)) return ERR;
  if (e - s <= PIECE_CACHE_MAX_BYTES) {
    int64_t v = ((int64_t)E->piece_arena.n << 16) | (int64_t)out->n;
    if (vec_reserve(&E->piece_arena, out->n) || map_put(&E->piece_cache, h, v)) return ERR;
    memcpy(E->piece_arena.a + E->piece_arena.n, out->a, out->n * sizeof(int32_t));
    E->piece_arena.n += out->n;
  }
  return OK;
}

static int pieces(Encoder *E, uint32_t s, uint32_t e, int32_t slot) {
  if (text_pieces(E, s, e, NULL, &E->piece_buf)) return ERR;
  for (size_t i = 0; i < E->piece_buf.n; i++)
    if (emit(E, E->piece_base + E->piece_buf.a[i], slot)) return ERR;
  return OK;
}

static int push_gap(Encoder *E, uint32_t s, uint32_t e, int32_t dflt, uint32_t pos, int32_t kd_off, int32_t kd_n,
                    int32_t kd_i) {
  if (grow((void **)&E->pend, &E->pend_cap, E->npend + 1, sizeof(Gap), 64) ||
      grow((void **)&E->parts, &E->parts_cap, E->npend + 1, sizeof(GapPart), 64)) {
    PyErr_NoMemory();
    return ERR;
  }
  E->pend[E->npend++] = (Gap){s, e, pos, dflt, kd_off, kd_n, kd_i};
  return OK;
}

static size_t lower_bound(const Vec32 *v, uint32_t x) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if ((uint32_t)v->a[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/* Layout actions set the pending gaps from the last one backwards, down to `first`. */
static int layout(Encoder *E, size_t first, int sk, const HoleKey *hk, int32_t seg_kind) {
  int32_t slot_on = slot_of(E, sk, hk, seg_kind, 1);
  if (slot_on < 0) return ERR;
  for (size_t i = E->npend; i-- > first;) {
    const Gap *g = &E->pend[i];
    const GapPart *P = &E->parts[i];
    uint32_t ws = g->s;
    for (int32_t k = 0; k < P->nspans; k++) {
      uint32_t cs = (uint32_t)E->com_s.a[P->c0 + k], ce = (uint32_t)E->com_e.a[P->c0 + k];
      int32_t wc = class_of(E, ws, cs, g->pos);
      if (wc == -2) return ERR;
      if (wc < 0) {
        if (emit(E, E->layout_c_raw, slot_on) || pieces(E, ws, cs, E->slot_raw)) return ERR;
      } else if (emit(E, E->layout_c_base + wc, slot_on)) return ERR;
      if (pieces(E, cs, ce, E->slot_comment)) return ERR;
      ws = ce;
    }
    if (i > first || P->cls != P->dflt) {
      int err;
      if (P->cls < 0) err = emit(E, E->layout_raw, slot_on) || pieces(E, P->ws_s, g->e, E->slot_raw);
      else if (P->cls == g->dflt) err = emit(E, E->layout_default, slot_on);  /* the plain default */
      else err = emit(E, E->layout_base + P->cls, slot_on);
      if (err) return ERR;
    }
  }
  return OK;
}

/* Emit the layout the pending gaps need, then content action `a` at slot (sk, key); `child`: the kind `a` starts
 * in a hole (the gap right before it may default by that kind), else NO_CHILD. */
static int content(Encoder *E, int32_t a, int sk, const HoleKey *hk, int32_t seg_kind, int32_t child) {
  size_t n = E->npend;
  if (!n) {
    int32_t s = slot_of(E, sk, hk, seg_kind, 0);
    return s < 0 ? ERR : emit(E, a, s);
  }
  ptrdiff_t first = -1;
  for (size_t i = 0; i < n; i++) {
    const Gap *g = &E->pend[i];
    GapPart *P = &E->parts[i];
    int32_t dflt = g->dflt;
    if (g->kd_off >= 0 && i == n - 1 && child != NO_CHILD) {
      for (int32_t k = 0; k < g->kd_n; k++) {
        const int32_t *t = E->arena.a + g->kd_off + 3 * k;
        if (t[0] == g->kd_i && t[1] == child) { dflt = t[2]; break; }
      }
    }
    size_t c0 = lower_bound(&E->com_s, g->s);
    P->c0 = (int32_t)c0;
    P->nspans = 0;
    P->ws_s = g->s;
    if (c0 < E->com_s.n && (uint32_t)E->com_s.a[c0] < g->e) {
      for (size_t c = c0; c < E->com_s.n && (uint32_t)E->com_e.a[c] <= g->e; c++) {
        P->ws_s = (uint32_t)E->com_e.a[c];
        P->nspans++;
      }
    }
    P->cls = class_of(E, P->ws_s, g->e, g->pos);
    if (P->cls == -2) return ERR;
    P->dflt = dflt;
    if (first < 0 && (P->nspans || P->cls != dflt)) first = (ptrdiff_t)i;
  }
  size_t consumed = 0;
  if (first >= 0) {
    if (layout(E, (size_t)first, sk, hk, seg_kind)) return ERR;
    consumed = n - (size_t)first - (E->parts[first].cls == E->parts[first].dflt);
  }
  E->npend = 0;
  int32_t s = slot_of(E, sk, hk, seg_kind, consumed < n);
  return s < 0 ? ERR : emit(E, a, s);
}

/* ---- structure ------------------------------------------------------------------------------------------------ */
static int node(Encoder *E, int32_t ni, const HoleKey *key);

static void set_marker(HoleKey *k, const Prev *p, int32_t field) {
  if (p->type == M_START) k->mtype = M_START;
  else if (p->type == M_BYTES) { k->mtype = M_BYTES; k->m_a = p->s; k->m_b = p->e; k->m_h = p->h; }
  else if (p->field == field) { k->mtype = M_KIND; k->m_a = p->kind; }
  else k->mtype = M_NONE;
}

/* Encode a hole's content; `prev` becomes what the next hole of the same node sees as its predecessor. */
static int child(Encoder *E, int32_t ci, const HoleKey *hk, Prev *prev) {
  const FNode *c = &E->nodes[ci];
  *prev = (Prev){M_KIND, 0, 0, c->field, c->leaf ? LEAF_KIND : c->kind, 0};
  if (!c->leaf) return node(E, ci, hk);
  if (text_pieces(E, c->start, c->end, &c->th, &E->leaf_buf)) return ERR;
  if (content(E, E->piece_base + E->leaf_buf.a[0], SK_HOLE, hk, 0, LEAF_KIND)) return ERR;
  for (size_t k = 1; k < E->leaf_buf.n; k++)
    if (emit(E, E->piece_base + E->leaf_buf.a[k], E->slot_leaf)) return ERR;
  return OK;
}

static int hole(Encoder *E, const FNode *n, int32_t ci, int32_t head_s, int32_t head_e, uint64_t head_h,
                Prev *prev) {
  const FNode *c = &E->nodes[ci];
  HoleKey k = {0, n->kind, c->field, head_s, head_e, M_NONE, 0, 0, head_h, 0, 0};
  set_marker(&k, prev, c->field);
  hole_hash(E, &k);
  return child(E, ci, &k, prev);
}

/* A rule (one segment) or a node built segment by segment, from plan `p`. */
static int segments(Encoder *E, int32_t ni, const HoleKey *key, int64_t p) {
  const FNode *n = &E->nodes[ni];
  int32_t nseg = E->arena.a[p + 1], ci = 0, head_s = -1, head_e = -1;
  uint64_t head_h = 0;
  int64_t off = p + 2;
  Prev prev = {M_START, 0, 0, 0, 0, 0};
  if (n->n && E->nodes[E->child_idx.a[n->first]].lit) {
    head_s = (int32_t)E->nodes[E->child_idx.a[n->first]].start;
    head_e = (int32_t)E->nodes[E->child_idx.a[n->first]].end;
    head_h = E->nodes[E->child_idx.a[n->first]].th;
  }
  for (int32_t j = 0; j < nseg; j++) {
    int32_t a = E->arena.a[off], nitems = E->arena.a[off + 1];
    int64_t dpos = off + 2, kd_off = off + 3 + nitems;
    int32_t kd_n = E->arena.a[off + 2 + nitems];
    off = kd_off + 3 * (int64_t)kd_n;
    if (j == 0) {
      if (content(E, a, SK_HOLE, key, 0, n->kind)) return ERR;
      E->depth++;
      if (vec_push(&E->parents, a)) return ERR;
    } else {
      if (content(E, a, SK_SEG, NULL, n->kind, NO_CHILD)) return ERR;
      E->parents.a[E->parents.n - 1] = a;
    }
    if (ci + nitems > n->n) {
      PyErr_SetString(PyExc_RuntimeError, "native encoder: a plan has more items than the node has children");
      return ERR;
    }
    for (int32_t i = 0; i < nitems; i++, ci++) {
      int32_t chi = E->child_idx.a[n->first + ci];
      const FNode *ch = &E->nodes[chi];
      if (ci && push_gap(E, E->nodes[E->child_idx.a[n->first + ci - 1]].end, ch->start, E->arena.a[dpos + i],
                         n->start, kd_n ? (int32_t)kd_off : -1, kd_n, i))
        return ERR;
      if (!ch->lit) {
        if (hole(E, n, chi, head_s, head_e, head_h, &prev)) return ERR;
      } else {
        prev = (Prev){M_BYTES, (int32_t)ch->start, (int32_t)ch->end, 0, 0, ch->th};
      }
    }
  }
  if (ci != n->n) {
    PyErr_SetString(PyExc_RuntimeError, "native encoder: a plan has fewer items than the node has children");
    return ERR;
  }
  E->depth--;
  E->parents.n--;
  return OK;
}

/* The generic form: OPEN kind, then per child CHILD_LIT or CHILD_HOLE (and the child), then CLOSE. */
static int generic(Encoder *E, int32_t ni, const HoleKey *key) {
  const FNode *n = &E->nodes[ni];
  int32_t a = E->open_action[n->kind], head_s = -1, head_e = -1;
  uint64_t head_h = 0;
  if (a < 0) {
    PyErr_Format(PyExc_ValueError, "node kind %R is not in the grammar", PyList_GET_ITEM(E->kind_strs, n->kind));
    return ERR;
  }
  if (content(E, a, SK_HOLE, key, 0, n->kind)) return ERR;
  E->depth++;
  if (vec_push(&E->parents, a)) return ERR;
  Prev prev = {M_START, 0, 0, 0, 0, 0};
  for (int32_t i = 0; i < n->n; i++) {
    int32_t chi = E->child_idx.a[n->first + i];
    const FNode *ch = &E->nodes[chi];
    int32_t lit = -1;
    if (ch->leaf) {
      const int64_t *v = map_get(&E->literals, ch->th);
      if (v) lit = (int32_t)*v;
    }
    if (lit >= 0) {
      if (content(E, lit, SK_GEN, NULL, 0, NO_CHILD)) return ERR;
      if (i == 0) { head_s = (int32_t)ch->start; head_e = (int32_t)ch->end; head_h = ch->th; }
    } else {
      int32_t fa = E->field_action[ch->field];
      if (fa < 0) {
        PyErr_Format(PyExc_ValueError, "field %R is not in the grammar", PyList_GET_ITEM(E->field_strs, ch->field));
        return ERR;
      }
      if (content(E, fa, SK_GEN, NULL, 0, NO_CHILD)) return ERR;
    }
    if (i && push_gap(E, E->nodes[E->child_idx.a[n->first + i - 1]].end, ch->start, E->generic_default, n->start,
                      -1, 0, 0))
      return ERR;
    if (lit < 0) {
      E->depth++;
      if (hole(E, n, chi, head_s, head_e, head_h, &prev)) return ERR;
      E->depth--;
    } else {
      prev = (Prev){M_BYTES, (int32_t)ch->start, (int32_t)ch->end, 0, 0, ch->th};
    }
  }
  if (content(E, E->close, SK_GEN, NULL, 0, NO_CHILD)) return ERR;
  E->depth--;
  E->parents.n--;
  return OK;
}

static int node(Encoder *E, int32_t ni, const HoleKey *key) {
  int ok = allowed(E, key, E->nodes[ni].kind);
  if (ok < 0) return ERR;
  if (ok) {
    int64_t p = plan_of(E, ni);
    if (p < 0) return ERR;
    if (E->arena.a[p] != PLAN_GENERIC) return segments(E, ni, key, p);
  }
  return generic(E, ni, key);
}

#endif
