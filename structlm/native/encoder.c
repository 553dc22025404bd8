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

#include "encoder.h"
#include "native.h"
#include "walk.h"

/* ---- parse and flatten (as structlm/syntax/tree.py's _flatten) ------------------------------------------------ */
static int add_node(Encoder *E, TSNode node, int32_t sym, int32_t field) {
  if (grow((void **)&E->nodes, &E->ncap, E->nn + 1, sizeof(FNode), 4096)) {
    PyErr_NoMemory();
    return ERR;
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
/* Between files (no arena offsets are live), caches past their limit start afresh; misses refill them. */
static int bound_caches(Encoder *E) {
  Map *maps[] = {&E->plans, &E->allowed, &E->slots, &E->layouts, &E->piece_cache};
  size_t n = sizeof(maps) / sizeof(*maps), big = E->arena.n > 8 * E->cache_limit || E->piece_arena.n > 8 * E->cache_limit;
  for (size_t i = 0; i < n; i++) big |= maps[i]->n > E->cache_limit;
  if (!big) return OK;
  for (size_t i = 0; i < n; i++) {
    map_free(maps[i]);
    if (map_init(maps[i], 1024)) { PyErr_NoMemory(); return ERR; }
  }
  E->arena.n = E->piece_arena.n = 0;
  E->cache_resets++;
  return OK;
}

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
  if (bound_caches(E)) {
    PyBuffer_Release(&buf);
    return NULL;
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
    PyErr_Format(PyExc_ValueError, "language ABI %u is not supported by the tree-sitter " STRUCTLM_TS_VERSION
                 " core compiled in (%d..%d): pin grammar wheels of a matching ABI", ts_language_abi_version(lang),
                 TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
                 TREE_SITTER_LANGUAGE_VERSION);
    return -1;
  }
  E->resolver = Py_NewRef(resolver);
  E->cache_limit = 1 << 20;
  int err = 0;
  int32_t n_named = 0, n_comment = 0, n_closed_kinds = 0, n_bytes = 0, n_merges = 0, n_closed = 0, n_lits = 0;
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
    err = !E->sym_named || !E->sym_comment || !E->kind_has_closed;
    for (int32_t i = 0; !err && i < E->nsym; i++) {
      E->sym_named[i] = named[i] != 0;
      E->sym_comment[i] = comment[i] != 0;
    }
    for (int32_t i = 0; !err && i < E->nkinds; i++) E->kind_has_closed[i] = has_closed[i] != 0;
    memcpy(E->bpe.byte_ids, byte_ids, sizeof(E->bpe.byte_ids));
    err = err || map_init(&E->closed, 1024) || map_init(&E->literals, 1024) || map_init(&E->plans, 4096) ||
          map_init(&E->allowed, 4096) || map_init(&E->slots, 4096) || map_init(&E->layouts, 1024) ||
          map_init(&E->piece_cache, 1 << 16) || pairs_init(&E->bpe.merges, (size_t)n_merges / 3);
    Map made = {0};
    E->bpe.rank_new_id = malloc((size_t)(n_merges / 3 + 1) * sizeof(int32_t));
    err = err || !E->bpe.rank_new_id || map_init(&made, 1024);
    E->bpe.unique_new_ids = 1;
    for (int32_t i = 0; !err && i < n_merges; i += 3) {
      pairs_put(&E->bpe.merges, merges[i], merges[i + 1], ((int64_t)(i / 3) << 32) | merges[i + 2]);
      E->bpe.rank_new_id[i / 3] = merges[i + 2];
      if (map_get(&made, mix64((uint32_t)merges[i + 2]))) E->bpe.unique_new_ids = 0;
      err = map_put(&made, mix64((uint32_t)merges[i + 2]), 1);
    }
    E->bpe.unique_new_ids_merges = E->bpe.unique_new_ids;
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

static PyObject *Encoder_set_cache_limit(Encoder *E, PyObject *arg) {  /* tests: exercise the restart */
  Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
  if (n == -1 && PyErr_Occurred()) return NULL;
  if (n < 1) return PyErr_Format(PyExc_ValueError, "cache limit must be positive");
  E->cache_limit = (size_t)n;
  return PyLong_FromSize_t(E->cache_resets);
}

static PyMethodDef Encoder_methods[] = {
    {"set_cache_limit", (PyCFunction)Encoder_set_cache_limit, METH_O,
     "set_cache_limit(entries) -> resets so far: caches start afresh between files once one holds more "
     "(default 2**20)"},
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
  if (PyType_Ready(&EncoderType) < 0 || PyType_Ready(&DecoderType) < 0 || PyType_Ready(&NameRefsType) < 0) return NULL;
  PyObject *m = PyModule_Create(&module);
  /* which tree-sitter core this was compiled from (setup.py passes the pinned version) */
  if (m && (PyModule_AddObjectRef(m, "Encoder", (PyObject *)&EncoderType) < 0 ||
            PyModule_AddObjectRef(m, "Decoder", (PyObject *)&DecoderType) < 0 ||
            PyModule_AddObjectRef(m, "NameRefs", (PyObject *)&NameRefsType) < 0 ||
            PyModule_AddStringConstant(m, "TREE_SITTER_CORE_VERSION", STRUCTLM_TS_VERSION) < 0 ||
            PyModule_AddIntConstant(m, "LANGUAGE_VERSION", TREE_SITTER_LANGUAGE_VERSION) < 0 ||
            PyModule_AddIntConstant(m, "MIN_COMPATIBLE_LANGUAGE_VERSION",
                                    TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION) < 0)) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
