/* The encoder's state and small helpers (encoder.c holds the Python type, walk.h the encoding itself). */
#ifndef STRUCTLM_ENCODER_H
#define STRUCTLM_ENCODER_H

#include <Python.h>
#include <stddef.h>

#include "bpe.h"
#include "hashmap.h"
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
  size_t npend, pend_cap, parts_cap; /* parts[i]: pend[i] worked out by content() */
  int32_t depth;
  uint32_t base_pos, base_s, base_e; /* the last base indentation computed (base_pos UINT32_MAX: none) */
  size_t cache_limit; /* entries per cache before all caches start afresh (bounds memory on big corpora) */
  size_t cache_resets; /* how many times they did (tests) */
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

#endif
