/* structlm._native.Decoder: grammar actions -> source bytes in C, as structlm/syntax/machine.py's Machine does
 * with check=False (no masks, no slot keys: only what the output needs). Rules and segments are templates of
 * literals and holes; gaps between children take layout actions or their defaults (by the next child's kind where
 * the grammar says so), rendered against the indentation of the line their node started on. Invalid sequences
 * raise ValueError. Tests check it against the Python machine. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "native.h"

enum { F_ROOT, F_RULE, F_SEG, F_GEN, F_HOLE };            /* frame types */
enum { C_HOLE, C_SEG, C_GEN, C_EOF };                      /* what the next content action fills */
enum { S_NONE, S_LEAF, S_RAW, S_RAW_C, S_COMMENT };        /* reading pieces of ... */
enum { LEAF_KIND = -2, NO_KIND = -3 };

typedef struct { int32_t t, tmpl, idx, first, n; uint32_t base_s, base_n; } Frame;
typedef struct {
  int32_t lit;           /* >= 0: a literal (text id); else a gap */
  int32_t dflt, kd_tmpl, kd_i, closed;
  uint32_t base_s, base_n, ps, pe; /* base: span of out; parts: span of scratch */
} Pend;

typedef struct { uint8_t *a; size_t n, cap; } Bytes;

typedef struct {
  PyObject_HEAD
  int32_t n_tmpl, n_texts, n_layout;
  int32_t *tmpl_off, *tmpl; /* template t at tmpl[tmpl_off[t]]: kind, nitems, end, items[n], defaults[n], nkd, kd[3k] */
  int32_t *text_off;        /* text i: texts[text_off[i] .. text_off[i + 1]) */
  uint8_t *texts;
  int32_t *lit_text;        /* CHILD_LIT j -> text id */
  int32_t *open_kind;       /* OPEN k -> kind id */
  int32_t *layout_type, *layout_head, *layout_rel; /* 0 flat (head: text), 1 "+" (head, rel: texts), 2 "-" (rel: n) */
  int32_t *piece_off;
  uint8_t *piece_bytes, *piece_final;
  int32_t eof, layout_default, layout_raw, layout_c_raw, close, layout_base, layout_c_base, rule_base, seg_base,
      open_base, lit_base, field_base, piece_base, vocab_size, root_default0, root_default1, generic_default;
} Decoder;

typedef struct {
  const Decoder *D;
  Bytes out, scratch;
  Frame *frames;
  size_t nf, f_cap;
  Pend *pend;
  size_t np, p_cap;
  int choice, sub, done;
  int32_t target; /* the gap a sub-sequence of pieces writes to */
} State;

static int bytes_add(Bytes *b, const uint8_t *p, size_t n) { /* p is never inside b: see bytes_copy_self */
  if (grow((void **)&b->a, &b->cap, b->n + n, 1, 4096)) return -1;
  memcpy(b->a + b->n, p, n);
  b->n += n;
  return 0;
}

static int bytes_copy_self(Bytes *b, size_t s, size_t n) { /* append b[s:s+n] */
  if (grow((void **)&b->a, &b->cap, b->n + n, 1, 4096)) return -1;
  memmove(b->a + b->n, b->a + s, n);
  b->n += n;
  return 0;
}

static int fail(const char *msg, int32_t a) {
  PyErr_Format(PyExc_ValueError, "%s (action %d)", msg, (int)a);
  return -1;
}

static const uint8_t *text(const Decoder *D, int32_t i, size_t *n) {
  *n = (size_t)(D->text_off[i + 1] - D->text_off[i]);
  return D->texts + D->text_off[i];
}

/* Append layout class `cls` rendered against base out[base_s : base_s + base_n] to `dst`. */
static int render(State *S, Bytes *dst, int32_t cls, uint32_t base_s, uint32_t base_n, int32_t a) {
  const Decoder *D = S->D;
  if (cls < 0 || cls >= D->n_layout) return fail("layout class out of range", a);
  size_t n;
  const uint8_t *h = text(D, D->layout_head[cls], &n);
  if (bytes_add(dst, h, n)) return -1;
  if (D->layout_type[cls] == 0) return 0;
  size_t keep = base_n;
  if (D->layout_type[cls] == 2) { /* Python's base[:len(base) - rel], negative indices included */
    long k = (long)base_n - D->layout_rel[cls];
    if (k < 0) k = (long)base_n + k;
    keep = k < 0 ? 0 : (size_t)k;
  }
  int err = dst == &S->out ? bytes_copy_self(dst, base_s, keep) : bytes_add(dst, S->out.a + base_s, keep);
  if (err) return -1;
  if (D->layout_type[cls] == 1) {
    const uint8_t *r = text(D, D->layout_rel[cls], &n);
    return bytes_add(dst, r, n);
  }
  return 0;
}

static int push_pend(State *S, Pend p) {
  if (grow((void **)&S->pend, &S->p_cap, S->np + 1, sizeof(Pend), 64)) return -1;
  S->pend[S->np++] = p;
  return 0;
}

static int gap(State *S, int32_t dflt, uint32_t base_s, uint32_t base_n, int32_t kd_tmpl, int32_t kd_i) {
  return push_pend(S, (Pend){-1, dflt, kd_tmpl, kd_i, 0, base_s, base_n, 0, 0});
}

static int push_frame(State *S, Frame f) {
  if (grow((void **)&S->frames, &S->f_cap, S->nf + 1, sizeof(Frame), 64)) return -1;
  S->frames[S->nf++] = f;
  return 0;
}

/* The last gap not yet closed: where layout actions write now. */
static int32_t target_gap(State *S, int32_t a) {
  for (size_t i = S->np; i-- > 0;)
    if (S->pend[i].lit < 0 && !S->pend[i].closed) {
      if (S->pend[i].pe == S->pend[i].ps) S->pend[i].ps = S->pend[i].pe = (uint32_t)S->scratch.n;
      return (int32_t)i;
    }
  fail("no pending gap for a layout action", a);
  return -1;
}

static int32_t kind_default(const Decoder *D, const Pend *p, int32_t child, int32_t cls) {
  const int32_t *t = D->tmpl + D->tmpl_off[p->kd_tmpl];
  int32_t nitems = t[1], *kd = (int32_t *)t + 3 + 2 * nitems + 1, nkd = t[3 + 2 * nitems];
  for (int32_t k = 0; k < nkd; k++)
    if (kd[3 * k] == p->kd_i && kd[3 * k + 1] == child) return kd[3 * k + 2];
  return cls;
}

/* The length `render` would append for class `cls` (checked by render when the class is used). */
static size_t render_len(const State *S, int32_t cls, uint32_t base_n) {
  const Decoder *D = S->D;
  if (cls < 0 || cls >= D->n_layout) return 0;
  size_t n, r;
  text(D, D->layout_head[cls], &n);
  if (D->layout_type[cls] == 0) return n;
  size_t keep = base_n;
  if (D->layout_type[cls] == 2) {
    long k = (long)base_n - D->layout_rel[cls];
    if (k < 0) k = (long)base_n + k;
    keep = k < 0 ? 0 : (size_t)k;
  }
  if (D->layout_type[cls] == 1) text(D, D->layout_rel[cls], &r); else r = 0;
  return n + keep + r;
}

/* Where a leaf would begin if the next action started one: the bytes written, plus the pending run with its open
 * gaps at their defaults (the last by a leaf's kind), as Machine.leaf_offset gives it. Inside a leaf: its start. */
static size_t leaf_offset(const State *S) {
  const Decoder *D = S->D;
  size_t at = S->out.n, n;
  if (S->sub == S_LEAF || S->done) return at;
  for (size_t i = 0; i < S->np; i++) {
    const Pend *p = &S->pend[i];
    if (p->lit >= 0) { text(D, p->lit, &n); at += n; continue; }
    at += p->pe - p->ps;
    if (!p->closed) {
      int32_t cls = p->dflt;
      if (i == S->np - 1 && p->kd_tmpl >= 0 && S->choice == C_HOLE) cls = kind_default(D, p, LEAF_KIND, cls);
      at += render_len(S, cls, p->base_n);
    }
  }
  return at;
}

/* Write the pending run; an open gap right before a hole's content may default by the child's kind. */
static int flush(State *S, int32_t child, int32_t a) {
  const Decoder *D = S->D;
  for (size_t i = 0; i < S->np; i++) {
    Pend *p = &S->pend[i];
    size_t n;
    if (p->lit >= 0) {
      const uint8_t *t = text(D, p->lit, &n);
      if (bytes_add(&S->out, t, n)) return -1;
      continue;
    }
    if (bytes_add(&S->out, S->scratch.a + p->ps, p->pe - p->ps)) return -1;
    if (!p->closed) {
      int32_t cls = p->dflt;
      if (i == S->np - 1 && p->kd_tmpl >= 0 && child != NO_KIND) cls = kind_default(D, p, child, cls);
      if (render(S, &S->out, cls, p->base_s, p->base_n, a)) return -1;
    }
  }
  S->np = 0;
  S->scratch.n = 0;
  return 0;
}

static void line_indent(const Bytes *b, uint32_t *s, uint32_t *n) {
  size_t st = b->n, e;
  while (st > 0 && b->a[st - 1] != '\n') st--;
  for (e = st; e < b->n && (b->a[e] == ' ' || b->a[e] == '\t' || b->a[e] == '\f'); e++) {}
  *s = (uint32_t)st;
  *n = (uint32_t)(e - st);
}

/* Walk the templates to the next choice point, queueing gaps and literals. */
static int advance(State *S) {
  const Decoder *D = S->D;
  for (;;) {
    if (!S->nf) return fail("no open node", -1);
    Frame *f = &S->frames[S->nf - 1];
    if (f->t == F_HOLE) { S->nf--; S->choice = C_GEN; return 0; }
    if (f->t == F_GEN) { S->choice = C_GEN; return 0; }
    if (f->t == F_ROOT) {
      if (f->idx == 0) {
        f->idx = 1;
        if (gap(S, D->root_default1, 0, 0, -1, 0)) return -1;
      }
      S->choice = C_EOF;
      return 0;
    }
    const int32_t *t = D->tmpl + D->tmpl_off[f->tmpl];
    int32_t nitems = t[1], end = t[2];
    if (f->idx >= nitems) {
      if (end) { S->nf--; continue; }
      S->choice = C_SEG;
      return 0;
    }
    int32_t i = f->idx++;
    if ((i || (f->t == F_SEG && !f->first)) && gap(S, t[3 + nitems + i], f->base_s, f->base_n, f->tmpl, i))
      return -1;
    int32_t item = t[3 + i];
    if (item >= 0) {
      if (push_pend(S, (Pend){item, 0, -1, 0, 0, 0, 0, 0, 0})) return -1;
      continue;
    }
    S->choice = C_HOLE;
    return 0;
  }
}

static int32_t child_kind(const Decoder *D, int32_t a) {
  if (a >= D->piece_base) return LEAF_KIND;
  if (a >= D->rule_base && a < D->open_base) return D->tmpl[D->tmpl_off[a - D->rule_base]];
  if (a >= D->open_base && a < D->lit_base) return D->open_kind[a - D->open_base];
  return NO_KIND;
}

static int end_sub(State *S) {
  int mode = S->sub;
  S->sub = S_NONE;
  if (mode == S_LEAF) {
    if (bytes_add(&S->out, S->scratch.a, S->scratch.n)) return -1;
    S->scratch.n = 0;
    return advance(S);
  }
  if (mode == S_RAW) S->pend[S->target].closed = 1;
  else if (mode == S_RAW_C) S->sub = S_COMMENT; /* comment pieces follow, into the same gap */
  return 0;
}

static int apply(State *S, int32_t a) {
  const Decoder *D = S->D;
  if (a < 0 || a >= D->vocab_size) return fail("action out of range", a);
  if (S->done) return fail("action after EOF", a);
  if (S->sub != S_NONE) {
    if (a < D->piece_base) return fail("a leaf, comment or raw layout needs pieces until its last piece", a);
    int32_t p = a - D->piece_base;
    /* a leaf's text waits in scratch (nothing is pending during a leaf) until its last piece, as in Machine */
    if (bytes_add(&S->scratch, D->piece_bytes + D->piece_off[p], (size_t)(D->piece_off[p + 1] - D->piece_off[p])))
      return -1;
    if (S->sub != S_LEAF) S->pend[S->target].pe = (uint32_t)S->scratch.n;
    return D->piece_final[p] ? end_sub(S) : 0;
  }
  if (a == D->layout_default || a == D->layout_raw || (a >= D->layout_base && a < D->layout_c_base)) {
    int32_t g = target_gap(S, a);
    if (g < 0) return -1;
    if (a == D->layout_raw) { S->target = g; S->sub = S_RAW; return 0; }
    Pend *p = &S->pend[g];
    if (render(S, &S->scratch, a == D->layout_default ? p->dflt : a - D->layout_base, p->base_s, p->base_n, a))
      return -1;
    p->pe = (uint32_t)S->scratch.n;
    p->closed = 1;
    return 0;
  }
  if ((a >= D->layout_c_base && a < D->rule_base) || a == D->layout_c_raw) {
    int32_t g = target_gap(S, a);
    if (g < 0) return -1;
    S->target = g;
    if (a == D->layout_c_raw) { S->sub = S_RAW_C; return 0; }
    Pend *p = &S->pend[g];
    if (render(S, &S->scratch, a - D->layout_c_base, p->base_s, p->base_n, a)) return -1;
    p->pe = (uint32_t)S->scratch.n;
    S->sub = S_COMMENT;
    return 0;
  }
  /* content actions resolve every pending gap with its default */
  int choice = S->choice;
  if (flush(S, choice == C_HOLE ? child_kind(D, a) : NO_KIND, a)) return -1;
  if (choice == C_EOF) {
    if (a != D->eof) return fail("only EOF may end the file here", a);
    S->done = 1;
    return 0;
  }
  Frame *f = S->nf ? &S->frames[S->nf - 1] : NULL;
  if (choice == C_HOLE) {
    if (a >= D->piece_base) { S->sub = S_LEAF; S->target = -1; return apply(S, a); }
    uint32_t bs, bn;
    line_indent(&S->out, &bs, &bn);
    if (a >= D->rule_base && a < D->seg_base) {
      if (push_frame(S, (Frame){F_RULE, a - D->rule_base, 0, 1, 0, bs, bn})) return -1;
    } else if (a >= D->seg_base && a < D->open_base) {
      if (push_frame(S, (Frame){F_SEG, a - D->rule_base, 0, 1, 0, bs, bn})) return -1;
    } else if (a >= D->open_base && a < D->lit_base) {
      if (push_frame(S, (Frame){F_GEN, -1, 0, 1, 0, bs, bn})) return -1;
    } else {
      return fail("a hole needs a rule, segment, OPEN or leaf piece", a);
    }
  } else if (choice == C_SEG) {
    if (!f || f->t != F_SEG || a < D->seg_base || a >= D->open_base) return fail("a segment must follow", a);
    f->tmpl = a - D->rule_base;
    f->idx = 0;
    f->first = 0;
  } else { /* C_GEN */
    if (!f || f->t != F_GEN) return fail("no generic node open", a);
    if (a == D->close) {
      S->nf--;
    } else if (a >= D->lit_base && a < D->field_base) {
      if (f->n && gap(S, D->generic_default, f->base_s, f->base_n, -1, 0)) return -1;
      if (push_pend(S, (Pend){D->lit_text[a - D->lit_base], 0, -1, 0, 0, 0, 0, 0, 0})) return -1;
      f->n++;
    } else if (a >= D->field_base && a < D->piece_base) {
      if (f->n && gap(S, D->generic_default, f->base_s, f->base_n, -1, 0)) return -1;
      f->n++;
      S->choice = C_HOLE;
      return push_frame(S, (Frame){F_HOLE, -1, 0, 1, 0, 0, 0});
    } else {
      return fail("a generic node takes CHILD_LIT, CHILD_HOLE or CLOSE", a);
    }
  }
  return advance(S);
}

/* Decode acts[0..n); offsets: NULL, or n int32 slots that get leaf_offset before each action. */
static PyObject *run(Decoder *D, PyObject *arg, int want_offsets) {
  Py_buffer buf;
  if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;  /* int32 rows (NativeDecoder.decode) */
  if (buf.len % 4) {
    PyBuffer_Release(&buf);
    return PyErr_Format(PyExc_TypeError, "decode takes a contiguous int32 array");
  }
  State S = {0};
  S.D = D;
  S.choice = C_HOLE;
  S.target = -1;
  const int32_t *acts = buf.buf;
  Py_ssize_t n = buf.len / 4;
  int32_t *offsets = want_offsets ? malloc((size_t)(n ? n : 1) * sizeof(int32_t)) : NULL;
  int err = (want_offsets && !offsets) || push_frame(&S, (Frame){F_ROOT, -1, 0, 1, 0, 0, 0}) ||
            gap(&S, D->root_default0, 0, 0, -1, 0);
  for (Py_ssize_t i = 0; !err && i < n; i++) {
    if (offsets) offsets[i] = (int32_t)leaf_offset(&S);
    err = apply(&S, acts[i]);
  }
  PyObject *out = NULL;
  if (!err) out = want_offsets ? PyBytes_FromStringAndSize((const char *)offsets, (Py_ssize_t)(n * sizeof(int32_t)))
                               : PyBytes_FromStringAndSize((const char *)S.out.a, (Py_ssize_t)S.out.n);
  else if (!PyErr_Occurred()) PyErr_NoMemory();
  free(S.out.a); free(S.scratch.a); free(S.frames); free(S.pend); free(offsets);
  PyBuffer_Release(&buf);
  return out;
}

static PyObject *Decoder_decode(Decoder *D, PyObject *arg) { return run(D, arg, 0); }
static PyObject *Decoder_leaf_offsets(Decoder *D, PyObject *arg) { return run(D, arg, 1); }

static int Decoder_init(Decoder *D, PyObject *args, PyObject *kw) {
  PyObject *cfg;
  if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &cfg)) return -1;
  int err = 0;
  int32_t n_text_off = 0, n_lit = 0, n_open = 0, n_lh = 0, n_lr = 0, n_po = 0, n_pf = 0, n_tmpl_vals = 0, n_pb = 0;
  D->tmpl_off = cfg_ints(cfg, "tmpl_off", &D->n_tmpl, &err);
  D->tmpl = cfg_ints(cfg, "tmpl", &n_tmpl_vals, &err);
  D->text_off = cfg_ints(cfg, "text_off", &n_text_off, &err);
  D->lit_text = cfg_ints(cfg, "lit_text", &n_lit, &err);
  D->open_kind = cfg_ints(cfg, "open_kind", &n_open, &err);
  D->layout_type = cfg_ints(cfg, "layout_type", &D->n_layout, &err);
  D->layout_head = cfg_ints(cfg, "layout_head", &n_lh, &err);
  D->layout_rel = cfg_ints(cfg, "layout_rel", &n_lr, &err);
  D->piece_off = cfg_ints(cfg, "piece_off", &n_po, &err);
  int32_t *final = cfg_ints(cfg, "piece_final", &n_pf, &err);
  int32_t *tb = cfg_ints(cfg, "texts", &D->n_texts, &err);
  int32_t *pb = cfg_ints(cfg, "piece_bytes", &n_pb, &err);
#define INT(name) D->name = cfg_int(cfg, #name, &err)
  INT(eof); INT(layout_default); INT(layout_raw); INT(layout_c_raw); INT(close); INT(layout_base);
  INT(layout_c_base); INT(rule_base); INT(seg_base); INT(open_base); INT(lit_base); INT(field_base);
  INT(piece_base); INT(vocab_size); INT(root_default0); INT(root_default1); INT(generic_default);
#undef INT
  if (!err && (n_lh != D->n_layout || n_lr != D->n_layout || n_po != n_pf + 1 || n_lit != D->field_base - D->lit_base ||
               n_open != D->lit_base - D->open_base || D->n_tmpl != D->open_base - D->rule_base ||
               n_pf != D->vocab_size - D->piece_base)) {
    PyErr_SetString(PyExc_ValueError, "native decoder config: inconsistent table sizes");
    err = 1;
  }
  if (!err) {
    D->texts = malloc((size_t)D->n_texts + 1);
    D->piece_bytes = malloc((size_t)n_pb + 1);
    D->piece_final = malloc((size_t)n_pf + 1);
    if (!D->texts || !D->piece_bytes || !D->piece_final) { PyErr_NoMemory(); err = 1; }
  }
  if (!err) {
    for (int32_t i = 0; i < D->n_texts; i++) D->texts[i] = (uint8_t)tb[i];
    for (int32_t i = 0; i < n_pb; i++) D->piece_bytes[i] = (uint8_t)pb[i];
    for (int32_t i = 0; i < n_pf; i++) D->piece_final[i] = final[i] != 0;
  }
  free(final); free(tb); free(pb);
  (void)n_tmpl_vals; (void)n_text_off;
  return err ? -1 : 0;
}

static void Decoder_dealloc(Decoder *D) {
  free(D->tmpl_off); free(D->tmpl); free(D->text_off); free(D->texts); free(D->lit_text); free(D->open_kind);
  free(D->layout_type); free(D->layout_head); free(D->layout_rel); free(D->piece_off); free(D->piece_bytes);
  free(D->piece_final);
  Py_TYPE(D)->tp_free((PyObject *)D);
}

static PyMethodDef Decoder_methods[] = {
    {"decode", (PyCFunction)Decoder_decode, METH_O, "decode(int32 actions, PAD removed) -> bytes"},
    {"leaf_offsets", (PyCFunction)Decoder_leaf_offsets, METH_O,
     "leaf_offsets(int32 actions) -> bytes of int32: before each action, the source offset a leaf would begin at"},
    {NULL, NULL, 0, NULL}};

PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "structlm._native.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Decoder(tables): actions -> bytes in C (structlm/syntax/native.py)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
};
