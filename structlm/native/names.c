/* The scoped variant's name references in C: structured rows -> scoped rows, as structlm/syntax/names.py's
 * NameScheme.encode_reference gives them (tests compare the two on real files and edge cases).
 *
 * One pass over a file's actions with each action's leaf offset (the C decoder's leaf_offsets): a leaf spelled at a
 * name slot whose text is a name is replaced by REF (serial mod refs) when the name's newest serial is live there
 * (anchored within `window` bytes before the leaf's offset, and among the newest `refs`), else spelled and entered
 * as the next serial, anchored at its offset; `names` marks the REF and the final piece of a spelling (REF id +
 * 1), `name_count` is the serials before each action, `name_live` how many of the newest are live (0 off a name
 * slot). Texts are compared as piece-id sequences
 * (one text has one sequence): a hash map finds the candidate entry, which is then compared exactly. Whether a
 * text is a name comes from per-piece ASCII character classes and the keyword sequences, or, for a text with a
 * non-ASCII piece, from a Python callback (the LanguageSpec's pattern). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hashmap.h"
#include "native.h"

enum { P_FINAL = 1, P_ASCII = 2, P_CONT = 4, P_START = 8 }; /* piece flags (names.py `_native_config`) */

typedef struct {
  PyObject_HEAD
  int32_t piece_base, npieces, ref_base, refs, nslots, window;
  uint8_t *name_slot, *piece_flags;
  Map keywords;  /* hash of a keyword's piece sequence -> offset << 16 | length in kw */
  Vec32 kw;
  PyObject *slow; /* callable(bytes of int32 piece ids, relative) -> bool, for texts with a non-ASCII piece */
  Map table;      /* per call: hash of a name's pieces (re-hashed on a collision) -> entry */
  Vec32 entry_at, entry_serial, anchors, out, rel; /* per entry: (at, len), newest serial; per serial: offset */
  int ready, busy;          /* busy: in encode (the callback may let another caller in; not reentrant) */
} NameRefs;

static uint64_t seq_hash(const int32_t *p, int32_t n) { return hash_bytes((const uint8_t *)p, n * sizeof(int32_t)); }

/* 1 if pieces a[0..n) (absolute ids) spell a name, 0 if not, -1 on a Python error; rel: scratch of n ints */
static int is_name(NameRefs *R, const int32_t *a, int32_t n, int32_t *rel) {
  int ascii = 1, ok = 1;
  for (int32_t k = 0; k < n; k++) {
    rel[k] = a[k] - R->piece_base;
    uint8_t f = R->piece_flags[rel[k]];
    ascii &= (f & P_ASCII) != 0;
    ok &= (f & (k ? P_CONT : P_START)) != 0;
  }
  if (ascii) {
    if (!ok) return 0;
    /* a keyword is spelled by the same pieces as its text, so comparing relative ids is exact */
    const int64_t *v = map_get(&R->keywords, seq_hash(rel, n));
    if (!v) return 1;
    const int32_t *q = R->kw.a + (*v >> 16);
    int32_t m = (int32_t)(*v & 0xffff);
    return !(m == n && memcmp(q, rel, n * sizeof(int32_t)) == 0);
  }
  PyObject *r = PyObject_CallFunction(R->slow, "y#", (const char *)rel, (Py_ssize_t)(n * sizeof(int32_t)));
  if (!r) return -1;
  int flag = PyObject_IsTrue(r);
  Py_DECREF(r);
  return flag;
}

static int NameRefs_init(NameRefs *R, PyObject *args, PyObject *kw) {
  PyObject *cfg;
  if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &cfg)) return -1;
  if (R->ready) {
    PyErr_SetString(PyExc_RuntimeError, "NameRefs is initialised once; make a new one");
    return -1;
  }
  int err = 0;
  int32_t piece_base = cfg_int(cfg, "piece_base", &err), ref_base = cfg_int(cfg, "ref_base", &err);
  int32_t refs = cfg_int(cfg, "refs", &err), window = cfg_int(cfg, "window", &err);
  int32_t nslots = 0, npieces = 0, nkw = 0, nkl = 0;
  PyObject *slow = cfg_obj(cfg, "slow", &err);
  int32_t *slots = cfg_ints(cfg, "name_slot", &nslots, &err);
  int32_t *flags = cfg_ints(cfg, "piece_flags", &npieces, &err);
  int32_t *kw_pieces = cfg_ints(cfg, "keyword_pieces", &nkw, &err);
  int32_t *kw_lens = cfg_ints(cfg, "keyword_lengths", &nkl, &err);
  if (!err && (!PyCallable_Check(slow) || piece_base < 0 || ref_base < piece_base + npieces || refs < 1 ||
               window < 0)) {
    PyErr_SetString(PyExc_ValueError, "NameRefs config: slow must be callable, pieces must lie below ref_base, "
                    "refs >= 1, window >= 0");
    err = 1;
  }
  if (!err) {
    R->name_slot = malloc(nslots + 1);
    R->piece_flags = malloc(npieces + 1);
    if (!R->name_slot || !R->piece_flags || map_init(&R->keywords, 256) || map_init(&R->table, 1024)) {
      PyErr_NoMemory();
      err = 1;
    }
  }
  for (int32_t i = 0; !err && i < nslots; i++) R->name_slot[i] = slots[i] != 0;
  for (int32_t i = 0; !err && i < npieces; i++) R->piece_flags[i] = (uint8_t)flags[i];
  for (int32_t i = 0, off = 0; !err && i < nkl; off += kw_lens[i++]) { /* keywords: relative piece ids */
    int32_t m = kw_lens[i];
    if (m < 0 || m > 0xffff || off + m > nkw) {
      PyErr_SetString(PyExc_ValueError, "keyword_lengths do not add up to keyword_pieces");
      err = 1;
      break;
    }
    uint64_t h = seq_hash(kw_pieces + off, m);
    if (map_get(&R->keywords, h)) {
      PyErr_SetString(PyExc_ValueError, "two keywords share a hash; the native name references cannot tell them apart");
      err = 1;
    } else if (vec_reserve(&R->kw, m) || map_put(&R->keywords, h, (int64_t)R->kw.n << 16 | m)) {
      PyErr_NoMemory();
      err = 1;
    } else {
      memcpy(R->kw.a + R->kw.n, kw_pieces + off, m * sizeof(int32_t));
      R->kw.n += m;
    }
  }
  free(slots);
  free(flags);
  free(kw_pieces);
  free(kw_lens);
  if (err) {
    Py_XDECREF(slow);
    return -1;  /* (what was allocated is freed by dealloc; `ready` stays 0, so encode refuses) */
  }
  R->slow = slow;
  R->piece_base = piece_base;
  R->ref_base = ref_base;
  R->refs = refs;
  R->window = window;
  R->nslots = nslots;
  R->npieces = npieces;
  R->ready = 1;
  return 0;
}

/* the table's entry for pieces a[s..e] (absolute), or -1; *key: the map key it has or would get */
static int32_t find(NameRefs *R, const int32_t *a, int32_t s, int32_t e, const int32_t *rel, uint64_t *key) {
  uint64_t h = seq_hash(rel, e - s + 1);
  for (;;) {
    const int64_t *v = map_get(&R->table, h);
    if (!v) break;
    int32_t at = R->entry_at.a[2 * *v], len = R->entry_at.a[2 * *v + 1];
    if (len == e - s + 1 && memcmp(a + at, a + s, len * sizeof(int32_t)) == 0) return (int32_t)*v;
    h = mix64(h + 0x9e3779b97f4a7c15ULL); /* a different text with this hash: probe on */
  }
  *key = h;
  return -1;
}

/* How many of the newest `count` serials are live at a leaf beginning at `offset` (names.py NameScheme.live). */
static int32_t live(const NameRefs *R, int32_t count, int32_t offset) {
  int32_t lo = count > R->refs ? count - R->refs : 0;
  if (R->window) { /* the first serial anchored at or after offset - window (anchors increase) */
    int64_t from = (int64_t)offset - R->window;
    int32_t a = lo, b = count;
    while (a < b) {
      int32_t m = a + (b - a) / 2;
      if (R->anchors.a[m] < from) a = m + 1; else b = m;
    }
    lo = a;
  }
  return count - lo;
}

#define NB 5
static PyObject *NameRefs_encode(NameRefs *R, PyObject *args) {
  Py_buffer b[NB];
  if (!PyArg_ParseTuple(args, "y*y*y*y*y*", &b[0], &b[1], &b[2], &b[3], &b[4])) return NULL;
  PyObject *result = NULL;
  if (!R->ready || R->busy) {
    PyErr_SetString(PyExc_RuntimeError,
                    R->ready ? "this NameRefs is in use (one per thread)" : "NameRefs not initialised");
    for (int k = 0; k < NB; k++) PyBuffer_Release(&b[k]);
    return NULL;
  }
  R->busy = 1;
  Py_ssize_t n = b[0].len / (Py_ssize_t)sizeof(int32_t);
  for (int k = 1; k < NB; k++)
    if (b[k].len != b[0].len) {
      PyErr_SetString(PyExc_ValueError, "actions, slots, depth, parent and offsets differ in length");
      goto done;
    }
  const int32_t *a = b[0].buf, *sl = b[1].buf, *dp = b[2].buf, *pa = b[3].buf, *off = b[4].buf;
  for (Py_ssize_t i = 0; i < n; i++)
    if (a[i] < 0 || a[i] >= R->ref_base || sl[i] < 0 || sl[i] >= R->nslots) {
      PyErr_Format(PyExc_ValueError, "row %zd: action %d / slot %d outside the structured vocabulary (%d) / slot "
                   "table (%d)", i, a[i], sl[i], R->ref_base, R->nslots);
      goto done;
    }
  /* a fresh table: small maps are cleared, one grown by a big file starts again at its initial size */
  if (R->table.cap > 1 << 16) {
    map_free(&R->table);
    if (map_init(&R->table, 1024)) { PyErr_NoMemory(); goto done; }
  } else {
    memset(R->table.keys, 0, R->table.cap * sizeof(uint64_t));
    R->table.n = 0;
    R->table.has_zero = 0;
  }
  R->entry_at.n = R->entry_serial.n = R->anchors.n = R->out.n = 0;
  int32_t count = 0, pb = R->piece_base, pe = R->piece_base + R->npieces;
  for (Py_ssize_t i = 0; i < n;) {
    int32_t x = a[i];
    int32_t lv = R->name_slot[sl[i]] ? live(R, count, off[i]) : 0;
    if (x < pb || x >= pe || !R->name_slot[sl[i]]) {
      if (vec_reserve(&R->out, 7)) goto nomem;
      int32_t *row = R->out.a + R->out.n;
      row[0] = x; row[1] = sl[i]; row[2] = dp[i]; row[3] = pa[i]; row[4] = 0; row[5] = count; row[6] = lv;
      R->out.n += 7;
      i++;
      continue;
    }
    Py_ssize_t e = i; /* the leaf's final piece */
    while (e < n && a[e] >= pb && a[e] < pe && !(R->piece_flags[a[e] - pb] & P_FINAL)) e++;
    if (e >= n || a[e] < pb || a[e] >= pe) {
      PyErr_Format(PyExc_ValueError, "the name leaf at position %zd ends at %zd without a final piece", i, e);
      goto done;
    }
    int32_t len = (int32_t)(e - i + 1), entry = -1;
    R->rel.n = 0;
    if (vec_reserve(&R->rel, len)) goto nomem;
    int flag = is_name(R, a + i, len, R->rel.a);
    if (flag < 0) goto done;
    uint64_t key = 0;
    if (flag) entry = find(R, a, (int32_t)i, (int32_t)e, R->rel.a, &key);
    int32_t serial = entry >= 0 ? R->entry_serial.a[entry] : -1;
    if (vec_reserve(&R->out, 7 * (size_t)len)) goto nomem;
    int32_t *row = R->out.a + R->out.n;
    if (serial >= 0 && serial >= count - lv) { /* a legal REF */
      int32_t id = serial % R->refs;
      row[0] = R->ref_base + id; row[1] = sl[i]; row[2] = dp[i]; row[3] = pa[i]; row[4] = id + 1;
      row[5] = count; row[6] = lv;
      R->out.n += 7;
    } else {
      for (Py_ssize_t k = i; k <= e; k++, row += 7) {
        row[0] = a[k]; row[1] = sl[k]; row[2] = dp[k]; row[3] = pa[k]; row[4] = 0; row[5] = count;
        row[6] = k == i ? lv : 0;
      }
      R->out.n += 7 * (size_t)len;
      if (flag) { /* a spelling: the next serial, anchored at the leaf's offset */
        if (entry < 0) {
          entry = (int32_t)(R->entry_serial.n);
          if (vec_push(&R->entry_at, (int32_t)i) || vec_push(&R->entry_at, len) || vec_push(&R->entry_serial, 0) ||
              map_put(&R->table, key, entry))
            goto nomem;
        }
        R->entry_serial.a[entry] = count;
        if (vec_push(&R->anchors, off[i])) goto nomem;
        R->out.a[R->out.n - 3] = count % R->refs + 1;
        count++;
      }
    }
    i = e + 1;
  }
  result = PyBytes_FromStringAndSize((const char *)R->out.a, (Py_ssize_t)(R->out.n * sizeof(int32_t)));
  goto done;
nomem:
  PyErr_NoMemory();
done:
  R->busy = 0;
  for (int k = 0; k < NB; k++) PyBuffer_Release(&b[k]);
  return result;
}

static void NameRefs_dealloc(NameRefs *R) {
  Py_XDECREF(R->slow);
  free(R->name_slot); free(R->piece_flags); free(R->kw.a); free(R->entry_at.a); free(R->out.a);
  free(R->entry_serial.a); free(R->anchors.a);
  free(R->rel.a);
  map_free(&R->keywords);
  map_free(&R->table);
  Py_TYPE(R)->tp_free((PyObject *)R);
}

static PyMethodDef NameRefs_methods[] = {
    {"encode", (PyCFunction)NameRefs_encode, METH_VARARGS,
     "encode(actions, slots, depth, parent, offsets) (int32 buffers) -> bytes of int32 rows (action, slot, depth, "
     "parent, names, name_count, name_live)"},
    {NULL, NULL, 0, NULL}};

PyTypeObject NameRefsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "structlm._native.NameRefs",
    .tp_basicsize = sizeof(NameRefs),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "NameRefs(config): the scoped variant's name references in C (structlm/syntax/names.py)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)NameRefs_init,
    .tp_dealloc = (destructor)NameRefs_dealloc,
    .tp_methods = NameRefs_methods,
};
