/* What encoder.c, decoder.c and names.c share: reading the tables Python hands over, the other files' types. */
#ifndef STRUCTLM_NATIVE_H
#define STRUCTLM_NATIVE_H

#include <Python.h>
#include <stdint.h>

extern PyTypeObject DecoderType;
extern PyTypeObject NameRefsType;

static inline int32_t cfg_int(PyObject *cfg, const char *name, int *err) {
  PyObject *v = PyDict_GetItemString(cfg, name);
  if (!v) {
    if (!*err) PyErr_Format(PyExc_KeyError, "native encoder config lacks %s", name);
    *err = 1;
    return 0;
  }
  long x = PyLong_AsLong(v);
  if (x == -1 && PyErr_Occurred()) *err = 1;
  return (int32_t)x;
}

static inline int32_t *cfg_ints(PyObject *cfg, const char *name, int32_t *n, int *err) {
  PyObject *v = PyDict_GetItemString(cfg, name), *seq;
  if (*err) return NULL;
  if (!v || !(seq = PySequence_Fast(v, name))) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "native encoder config lacks %s", name);
    *err = 1;
    return NULL;
  }
  Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
  int32_t *a = malloc((len + 1) * sizeof(int32_t));
  for (Py_ssize_t i = 0; a && i < len; i++) {
    long x = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
    if (x == -1 && PyErr_Occurred()) { *err = 1; break; }
    a[i] = (int32_t)x;
  }
  Py_DECREF(seq);
  if (!a) { PyErr_NoMemory(); *err = 1; }
  *n = (int32_t)len;
  return a;
}

static inline PyObject *cfg_obj(PyObject *cfg, const char *name, int *err) {
  PyObject *v = PyDict_GetItemString(cfg, name);
  if (!v) {
    if (!*err) PyErr_Format(PyExc_KeyError, "native encoder config lacks %s", name);
    *err = 1;
    return NULL;
  }
  return Py_NewRef(v);
}

#endif
