/* structlm._native: the structured encoder (source bytes -> grammar actions) in C.
 *
 * It parses with tree-sitter (vendored core, the grammar wheel's TSLanguage), flattens the tree exactly as
 * structlm/syntax/tree.py does and walks it as structlm/syntax/codec.py's _Encoder does, emitting the same
 * (action, slot, depth, parent) rows. What the grammar decides -- a node's rule or segments, whether a kind is
 * allowed at a slot, slot ids, layout classes -- is asked of a Python resolver (structlm/syntax/native.py) the
 * first time a key is met and cached here under the key's 64-bit hash; leaf pieces come from bpe.h.
 * Tests check that both encoders give identical actions and features. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#include "bpe.h"
#include "hashmap.h"
#include "native.h"
#include "tree_sitter/api.h"

enum { LEAF_KIND = -2, NO_CHILD = -3 };                 /* child kinds besides real kind ids */
enum { SK_HOLE = 0, SK_SEG = 1, SK_GEN = 2, SK_EOF = 3 }; /* slot kinds */
enum { M_NONE = 0, M_START = 1, M_BYTES = 2, M_KIND = 3 }; /* the previous-sibling marker of a hole key */
enum { PLAN_RULE = 0, PLAN_SEGS = 1, PLAN_GENERIC = 2 };
enum { OK = 0, ERR = -1, SKIP_PARSE_ERROR = 1, SKIP_TOO_DEEP = 2 };

typedef struct {
  int32_t kind, field, first, n; /* children: child_idx[first .. first + n) */
  uint32_t start, end;
  uint64_t th;                   /* a leaf's text hash */
  uint8_t leaf, lit;             /* lit: a literal of its parent's production (anonymous or closed leaf) */
} FNode;

typedef struct { /* (parent kind, field, head literal, marker), or the root key */
  int root;
  int32_t kind, field;
  int32_t head_s, head_e; /* head_s < 0: None */
  int32_t mtype, m_a, m_b; /* M_BYTES: span [m_a, m_b); M_KIND: kind m_a */
  uint64_t head_h, m_h;    /* text hashes of the head and of an M_BYTES marker */
  uint64_t hash;
} HoleKey;

typedef struct { int32_t type, s, e, field, kind; uint64_t h; } Prev; /* type: M_START, M_BYTES, M_KIND (a hole) */

typedef struct { uint32_t s, e, pos; int32_t dflt, kd_off, kd_n, kd_i; } Gap;
typedef struct { uint32_t ws_s; int32_t c0, nspans, cls, dflt; } GapPart;

typedef struct {
  PyObject_HEAD
  TSParser *parser;
  PyObject *resolver, *kind_strs, *hash_kinds, *field_strs, *root_key, *start_marker;
  int32_t nsym, nkinds, nfields;
  int32_t *sym_kind, *open_action, *field_action;
  uint8_t *sym_named, *sym_comment, *kind_has_closed;
  int32_t eof, layout_default, layout_raw, layout_c_raw, close, layout_base, layout_c_base, piece_base;
  int32_t root_default0, root_default1, generic_default, slot_raw, slot_comment, slot_leaf;
  Map closed, literals, plans, allowed, slots, layouts, piece_cache;
  Vec32 arena;       /* plans, as the resolver wrote them */
  Vec32 piece_arena; /* cached leaf pieces: piece_cache maps a text's hash to offset << 16 | count */
  Bpe bpe;
  /* per file */
  const uint8_t *src;
  uint32_t src_len;
  FNode *nodes;
  size_t nn, ncap;
  Vec32 child_idx, parent_of, com_s, com_e, out, parents, piece_buf, leaf_buf, stack;
  Gap *pend;
  GapPart *parts;
  size_t npend, pend_cap;
  int32_t depth;
  uint32_t base_pos, base_s, base_e; /* the last base indentation computed (base_pos UINT32_MAX: none) */
  int busy; /* resolver callbacks may let another thread in: an Encoder is not reentrant */
} Encoder;

/* ---- small helpers ------------------------------------------------------------------------------------------ */
static uint64_t span_hash(Encoder *E, int32_t s, int32_t e) { return hash_bytes(E->src + s, (size_t)(e - s)); }

static PyObject *span_bytes(Encoder *E, int32_t s, int32_t e) {
  return PyBytes_FromStringAndSize((const char *)E->src + s, e - s);
}

static PyObject *kind_str(Encoder *E, int32_t kind) {
  PyObject *o = kind == LEAF_KIND ? PyUnicode_FromString("#leaf") : PyList_GET_ITEM(E->kind_strs, kind);
  if (kind != LEAF_KIND) Py_INCREF(o);
  return o;
}

static int emit(Encoder *E, int32_t a, int32_t slot) {
  if (vec_reserve(&E->out, 4)) return ERR;
  int32_t *row = E->out.a + E->out.n;
  row[0] = a;
  row[1] = slot;
  row[2] = E->depth;
  row[3] = E->parents.a[E->parents.n - 1];
  E->out.n += 4;
  return OK;
}

static int64_t call_int(PyObject *r) { /* steals r */
  if (!r) return INT64_MIN;
  int64_t v = PyLong_AsLongLong(r);
  Py_DECREF(r);
  return (v == -1 && PyErr_Occurred()) ? INT64_MIN : v;
}

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
#define PIECE_ARENA_MAX (1 << 23)

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
  if (e - s <= PIECE_CACHE_MAX_BYTES && E->piece_arena.n + out->n <= PIECE_ARENA_MAX) {
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
  if (E->npend == E->pend_cap) {
    size_t cap = E->pend_cap ? 2 * E->pend_cap : 64;
    Gap *p = realloc(E->pend, cap * sizeof(Gap));
    GapPart *q = realloc(E->parts, cap * sizeof(GapPart));
    if (p) E->pend = p;
    if (q) E->parts = q;
    if (!p || !q) { PyErr_NoMemory(); return ERR; }
    E->pend_cap = cap;
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

/* ---- parse and flatten (as structlm/syntax/tree.py's _flatten) ------------------------------------------------ */
static int add_node(Encoder *E, TSNode node, int32_t sym, int32_t field) {
  if (E->nn == E->ncap) {
    size_t cap = E->ncap ? 2 * E->ncap : 4096;
    FNode *p = realloc(E->nodes, cap * sizeof(FNode));
    if (!p) { PyErr_NoMemory(); return ERR; }
    E->nodes = p;
    E->ncap = cap;
  }
  FNode *n = &E->nodes[E->nn++];
  n->kind = E->sym_kind[sym];
  n->field = field;
  n->first = n->n = 0;
  n->start = ts_node_start_byte(node);
  n->end = ts_node_end_byte(node);
  n->leaf = 1;
  n->lit = 0;
  return vec_push(&E->parent_of, E->stack.n ? E->stack.a[E->stack.n - 1] : -1);
}

/* Non-extra nodes in preorder with their children lists; comments kept aside as spans. */
static int flatten(Encoder *E, TSNode root, int32_t max_depth) {
  E->nn = E->parent_of.n = E->com_s.n = E->com_e.n = E->stack.n = 0;
  TSTreeCursor c = ts_tree_cursor_new(root);
  int status = OK;
  for (;;) {
    TSNode node = ts_tree_cursor_current_node(&c);
    TSSymbol sym = ts_node_symbol(node);
    if (sym >= E->nsym || E->sym_kind[sym] < 0) {
      PyErr_Format(PyExc_ValueError, "tree-sitter symbol %d is not in the encoder's tables", (int)sym);
      status = ERR;
      break;
    }
    if (ts_node_is_extra(node)) {
      uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
      if (e > s && E->sym_comment[sym] && (vec_push(&E->com_s, (int32_t)s) || vec_push(&E->com_e, (int32_t)e))) {
        status = ERR;
        break;
      }
    } else {
      if (add_node(E, node, sym, ts_tree_cursor_current_field_id(&c))) { status = ERR; break; }
      FNode *n = &E->nodes[E->nn - 1];
      if (ts_tree_cursor_goto_first_child(&c)) {
        n->leaf = 0;
        if (vec_push(&E->stack, (int32_t)E->nn - 1)) { status = ERR; break; }
        if ((int32_t)E->stack.n > max_depth) { status = SKIP_TOO_DEEP; break; }
        continue;
      }
      n->th = span_hash(E, (int32_t)n->start, (int32_t)n->end);
      n->lit = !E->sym_named[sym] ||
               (E->kind_has_closed[n->kind] && map_get(&E->closed, combine((uint32_t)n->kind, n->th)));
    }
    int up = 0;
    while (!ts_tree_cursor_goto_next_sibling(&c)) {
      if (!ts_tree_cursor_goto_parent(&c)) { up = 1; break; }
      E->stack.n--;
    }
    if (up) break;
  }
  ts_tree_cursor_delete(&c);
  if (status != OK) return status;
  /* children lists: preorder keeps siblings in order */
  for (size_t i = 1; i < E->nn; i++) E->nodes[E->parent_of.a[i]].n++;
  int32_t total = 0;
  for (size_t i = 0; i < E->nn; i++) {
    E->nodes[i].first = total;
    total += E->nodes[i].n;
    E->nodes[i].n = 0;
  }
  E->child_idx.n = 0;
  if (vec_reserve(&E->child_idx, (size_t)total + 1)) return ERR;
  E->child_idx.n = (size_t)total;
  for (size_t i = 1; i < E->nn; i++) {
    FNode *p = &E->nodes[E->parent_of.a[i]];
    E->child_idx.a[p->first + p->n++] = (int32_t)i;
  }
  /* a node spans its first token to its last (an inner node without tokens: empty, at its own start) */
  for (size_t i = E->nn; i-- > 0;) {
    FNode *n = &E->nodes[i];
    if (n->leaf) continue;
    if (n->n) {
      n->start = E->nodes[E->child_idx.a[n->first]].start;
      n->end = E->nodes[E->child_idx.a[n->first + n->n - 1]].end;
    } else {
      n->end = n->start;
    }
  }
  return OK;
}

/* ---- the Python type ------------------------------------------------------------------------------------------ */
static PyObject *Encoder_encode(Encoder *E, PyObject *args) {
  Py_buffer buf;
  int max_depth;
  if (!PyArg_ParseTuple(args, "y*i", &buf, &max_depth)) return NULL;
  if (E->busy) {
    PyBuffer_Release(&buf);
    return PyErr_Format(PyExc_RuntimeError, "this native encoder is in use (one Codec per thread)");
  }
  if (buf.len >= (Py_ssize_t)UINT32_MAX) {
    PyBuffer_Release(&buf);
    return PyErr_Format(PyExc_ValueError, "source too large for the native encoder");
  }
  TSTree *tree = ts_parser_parse_string(E->parser, NULL, buf.buf, (uint32_t)buf.len);
  PyObject *result = NULL;
  int status = ERR;
  if (!tree) {
    PyErr_SetString(PyExc_RuntimeError, "tree-sitter returned no tree");
    goto done;
  }
  TSNode root = ts_tree_root_node(tree);
  if (ts_node_has_error(root)) { status = SKIP_PARSE_ERROR; goto done; }
  E->src = buf.buf;
  E->src_len = (uint32_t)buf.len;
  E->busy = 1;
  E->base_pos = UINT32_MAX;
  status = flatten(E, root, max_depth);
  if (status != OK) goto done;
  E->npend = 0;
  E->out.n = E->parents.n = 0;
  E->depth = 0;
  HoleKey rk = {1, 0, 0, -1, -1, M_NONE, 0, 0, 0, 0, 0};
  hole_hash(E, &rk);
  const FNode *r = &E->nodes[0];
  if (vec_push(&E->parents, 0) ||  /* PAD: no enclosing node */
      push_gap(E, 0, r->start, E->root_default0, 0, -1, 0, 0) || node(E, 0, &rk) ||
      push_gap(E, E->nodes[0].end, E->src_len, E->root_default1, 0, -1, 0, 0) ||
      content(E, E->eof, SK_EOF, NULL, 0, NO_CHILD)) {
    status = ERR;
    goto done;
  }
  result = PyBytes_FromStringAndSize((const char *)E->out.a, (Py_ssize_t)(E->out.n * sizeof(int32_t)));
done:
  if (tree) ts_tree_delete(tree);
  E->src = NULL;
  E->busy = 0;
  PyBuffer_Release(&buf);
  if (status > 0) return PyLong_FromLong(status);
  if (status == ERR && !PyErr_Occurred()) PyErr_NoMemory();
  return status == OK ? result : NULL;
}

static PyObject *Encoder_pieces(Encoder *E, PyObject *args) {
  Py_buffer buf;
  if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
  if (E->busy) {
    PyBuffer_Release(&buf);
    return PyErr_Format(PyExc_RuntimeError, "this native encoder is in use (one Codec per thread)");
  }
  E->piece_buf.n = 0;
  int err = bpe_encode(&E->bpe, buf.buf, (size_t)buf.len, &E->piece_buf);
  PyBuffer_Release(&buf);
  if (err) return PyErr_NoMemory();
  PyObject *out = PyList_New((Py_ssize_t)E->piece_buf.n);
  for (size_t i = 0; out && i < E->piece_buf.n; i++) PyList_SET_ITEM(out, i, PyLong_FromLong(E->piece_buf.a[i]));
  return out;
}

static int Encoder_init(Encoder *E, PyObject *args, PyObject *kw) {
  PyObject *capsule, *cfg, *resolver;
  if (!PyArg_ParseTuple(args, "OO!O", &capsule, &PyDict_Type, &cfg, &resolver)) return -1;
  const TSLanguage *lang = PyCapsule_GetPointer(capsule, "tree_sitter.Language");
  if (!lang) return -1;
  E->parser = ts_parser_new();
  if (!ts_parser_set_language(E->parser, lang)) {
    PyErr_Format(PyExc_ValueError, "language ABI %u is not supported by the vendored tree-sitter (%d..%d)",
                 ts_language_abi_version(lang), TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
                 TREE_SITTER_LANGUAGE_VERSION);
    return -1;
  }
  E->resolver = Py_NewRef(resolver);
  int err = 0;
  int32_t n_named, n_comment, n_closed_kinds, n_bytes, n_merges, n_closed, n_lits;
  E->sym_kind = cfg_ints(cfg, "sym_kind", &E->nsym, &err);
  int32_t *named = cfg_ints(cfg, "sym_named", &n_named, &err);
  int32_t *comment = cfg_ints(cfg, "sym_comment", &n_comment, &err);
  int32_t *has_closed = cfg_ints(cfg, "kind_has_closed", &n_closed_kinds, &err);
  E->open_action = cfg_ints(cfg, "open_action", &E->nkinds, &err);
  E->field_action = cfg_ints(cfg, "field_action", &E->nfields, &err);
  int32_t *byte_ids = cfg_ints(cfg, "bpe_byte_ids", &n_bytes, &err);
  int32_t *merges = cfg_ints(cfg, "bpe_merges", &n_merges, &err);  /* flat (a, b, new id) in rank order */
  int32_t *closed = cfg_ints(cfg, "closed", &n_closed, &err);        /* flat (kind, literal id) */
  int32_t *lits = cfg_ints(cfg, "literal_actions", &n_lits, &err);
  E->kind_strs = cfg_obj(cfg, "kind_strs", &err);
  E->hash_kinds = cfg_obj(cfg, "hash_kinds", &err);
  E->field_strs = cfg_obj(cfg, "field_strs", &err);
  E->root_key = cfg_obj(cfg, "root_key", &err);
  E->start_marker = cfg_obj(cfg, "start_marker", &err);
  PyObject *lit_texts = cfg_obj(cfg, "literal_texts", &err);
#define INT(name) E->name = cfg_int(cfg, #name, &err)
  INT(eof); INT(layout_default); INT(layout_raw); INT(layout_c_raw); INT(close); INT(layout_base);
  INT(layout_c_base); INT(piece_base); INT(root_default0); INT(root_default1); INT(generic_default);
  INT(slot_raw); INT(slot_comment); INT(slot_leaf);
#undef INT
  E->bpe.end_id = cfg_int(cfg, "bpe_end_id", &err);
  if (!err && (n_named != E->nsym || n_comment != E->nsym || n_closed_kinds != E->nkinds || n_bytes != 256 ||
               n_merges % 3 || n_closed % 2 || !PyList_Check(E->kind_strs) || !PyList_Check(E->hash_kinds) ||
               !PyList_Check(E->field_strs) || PyList_GET_SIZE(E->kind_strs) != E->nkinds ||
               PyList_GET_SIZE(E->hash_kinds) != E->nkinds + 1 || PyList_GET_SIZE(E->field_strs) != E->nfields ||
               !PyList_Check(lit_texts) || PyList_GET_SIZE(lit_texts) != n_lits)) {
    PyErr_SetString(PyExc_ValueError, "native encoder config: inconsistent table sizes");
    err = 1;
  }
  if (!err) {
    E->sym_named = malloc(E->nsym + 1);
    E->sym_comment = malloc(E->nsym + 1);
    E->kind_has_closed = malloc(E->nkinds + 1);
    for (int32_t i = 0; i < E->nsym; i++) { E->sym_named[i] = named[i] != 0; E->sym_comment[i] = comment[i] != 0; }
    for (int32_t i = 0; i < E->nkinds; i++) E->kind_has_closed[i] = has_closed[i] != 0;
    memcpy(E->bpe.byte_ids, byte_ids, sizeof(E->bpe.byte_ids));
    err = map_init(&E->closed, 1024) || map_init(&E->literals, 1024) || map_init(&E->plans, 4096) ||
          map_init(&E->allowed, 4096) || map_init(&E->slots, 4096) || map_init(&E->layouts, 1024) || map_init(&E->piece_cache, 1 << 16) ||
          pairs_init(&E->bpe.merges, (size_t)n_merges / 3);
    Map made = {0};
    E->bpe.rank_new_id = malloc((size_t)(n_merges / 3 + 1) * sizeof(int32_t));
    err = err || !E->bpe.rank_new_id || map_init(&made, 1024);
    E->bpe.unique_new_ids = 1;
    for (int32_t i = 0; !err && i < n_merges; i += 3) {
      pairs_put(&E->bpe.merges, merges[i], merges[i + 1], ((int64_t)(i / 3) << 32) | merges[i + 2]);
      E->bpe.rank_new_id[i / 3] = merges[i + 2];
      if (map_get(&made, mix64((uint32_t)merges[i + 2]))) E->bpe.unique_new_ids = 0;
      E->bpe.unique_new_ids_merges = E->bpe.unique_new_ids;
      err = map_put(&made, mix64((uint32_t)merges[i + 2]), 1);
    }
    map_free(&made);
    E->bpe.byte_pairs = malloc(256 * 256 * sizeof(int64_t));
    if (!err && !E->bpe.byte_pairs) err = 1;
    for (int x = 0; !err && x < 256; x++)
      for (int y = 0; y < 256; y++) {
        const int64_t *v = pairs_get(&E->bpe.merges, E->bpe.byte_ids[x], E->bpe.byte_ids[y]);
        E->bpe.byte_pairs[x << 8 | y] = v ? *v : -1;
      }
    for (int32_t i = 0; !err && i < n_lits; i++) {
      PyObject *t = PyList_GET_ITEM(lit_texts, i);
      if (!PyBytes_Check(t)) { PyErr_SetString(PyExc_TypeError, "literal texts must be bytes"); err = 1; break; }
      err = map_put(&E->literals, hash_bytes((const uint8_t *)PyBytes_AS_STRING(t), PyBytes_GET_SIZE(t)), lits[i]);
    }
    for (int32_t i = 0; !err && i < n_closed; i += 2) {
      if (closed[i + 1] < 0 || closed[i + 1] >= n_lits) { PyErr_SetString(PyExc_ValueError, "closed literal id"); err = 1; break; }
      PyObject *t = PyList_GET_ITEM(lit_texts, closed[i + 1]);
      uint64_t h = hash_bytes((const uint8_t *)PyBytes_AS_STRING(t), PyBytes_GET_SIZE(t));
      err = map_put(&E->closed, combine((uint32_t)closed[i], h), 1);
    }
    if (err && !PyErr_Occurred()) PyErr_NoMemory();
  }
  free(named); free(comment); free(has_closed); free(byte_ids); free(merges); free(closed); free(lits);
  Py_XDECREF(lit_texts);
  return err ? -1 : 0;
}

static void Encoder_dealloc(Encoder *E) {
  if (E->parser) ts_parser_delete(E->parser);
  Py_XDECREF(E->resolver); Py_XDECREF(E->kind_strs); Py_XDECREF(E->hash_kinds); Py_XDECREF(E->field_strs);
  Py_XDECREF(E->root_key); Py_XDECREF(E->start_marker);
  free(E->sym_kind); free(E->open_action); free(E->field_action); free(E->sym_named); free(E->sym_comment);
  free(E->kind_has_closed);
  Map *maps[] = {&E->closed, &E->literals, &E->plans, &E->allowed, &E->slots, &E->layouts, &E->piece_cache};
  for (size_t i = 0; i < sizeof(maps) / sizeof(*maps); i++) map_free(maps[i]);
  Vec32 *vecs[] = {&E->arena, &E->piece_arena, &E->child_idx, &E->parent_of, &E->com_s, &E->com_e, &E->out, &E->parents,
                   &E->piece_buf, &E->leaf_buf, &E->stack};
  for (size_t i = 0; i < sizeof(vecs) / sizeof(*vecs); i++) free(vecs[i]->a);
  free(E->bpe.merges.t); free(E->bpe.rank_new_id); free(E->bpe.byte_pairs); free(E->bpe.c); free(E->bpe.prev); free(E->bpe.next); free(E->bpe.len); free(E->bpe.heap);
  free(E->nodes); free(E->pend); free(E->parts);
  Py_TYPE(E)->tp_free((PyObject *)E);
}

static PyObject *Encoder_set_short_bpe(Encoder *E, PyObject *arg) {  /* tests: compare both BPE paths */
  int on = PyObject_IsTrue(arg), was = E->bpe.unique_new_ids;
  if (on < 0) return NULL;
  E->bpe.unique_new_ids = on && E->bpe.unique_new_ids_merges;
  return PyBool_FromLong(was);
}

static PyMethodDef Encoder_methods[] = {
    {"set_short_bpe", (PyCFunction)Encoder_set_short_bpe, METH_O,
     "set_short_bpe(on) -> previous: use the scan for short leaves when the merges allow it (tests)"},
    {"encode", (PyCFunction)Encoder_encode, METH_VARARGS,
     "encode(source, max_depth) -> bytes of int32 rows (action, slot, depth, parent), or 1 (parse error) / 2 (too "
     "deep)"},
    {"pieces", (PyCFunction)Encoder_pieces, METH_VARARGS, "pieces(text) -> leaf piece ids (with the END flag)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "structlm._native.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Encoder(language_capsule, tables, resolver): structured encoding in C (structlm/syntax/native.py)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "structlm's native structured encoder", -1,
                                    NULL};

PyMODINIT_FUNC PyInit__native(void) {
  /* tree-sitter's many small allocations go through pymalloc (as py-tree-sitter does; glibc malloc is slower);
   * the encoder runs with the GIL held */
  ts_set_allocator(PyMem_Malloc, PyMem_Calloc, PyMem_Realloc, PyMem_Free);
  if (PyType_Ready(&EncoderType) < 0 || PyType_Ready(&DecoderType) < 0) return NULL;
  PyObject *m = PyModule_Create(&module);
  if (m && (PyModule_AddObjectRef(m, "Encoder", (PyObject *)&EncoderType) < 0 ||
            PyModule_AddObjectRef(m, "Decoder", (PyObject *)&DecoderType) < 0)) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
