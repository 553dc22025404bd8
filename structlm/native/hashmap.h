/* 64-bit hashing and an open-addressing map uint64 -> int64 for the native encoder.
 *
 * Keys are 64-bit hashes of composite keys (a production, a slot key, a gap); the encoder treats a hash match as
 * key equality. With ~1e5 distinct keys per grammar and 64-bit hashes, a collision is about a 1e-9 event. */
#ifndef STRUCTLM_HASHMAP_H
#define STRUCTLM_HASHMAP_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t mix64(uint64_t x) { /* splitmix64's finaliser: a bijection */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

static inline uint64_t combine(uint64_t h, uint64_t v) {
  return mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL ^ (n * 0x9e3779b97f4a7c15ULL);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = mix64(h ^ w);
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  return mix64(h ^ w ^ ((uint64_t)n << 59));
}

typedef struct {
  uint64_t *keys; /* 0 marks an empty slot; key 0 itself lives in zero_val */
  int64_t *vals;
  size_t cap, n;
  int has_zero;
  int64_t zero_val;
} Map;

static int map_init(Map *m, size_t cap) {
  memset(m, 0, sizeof(*m));
  m->cap = cap;
  m->keys = calloc(cap, sizeof(uint64_t));
  m->vals = calloc(cap, sizeof(int64_t));
  return m->keys && m->vals ? 0 : -1;
}

static void map_free(Map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof(*m));
}

static inline const int64_t *map_get(const Map *m, uint64_t k) {
  if (k == 0) return m->has_zero ? &m->zero_val : NULL;
  size_t mask = m->cap - 1, i = (size_t)k & mask;
  while (m->keys[i]) {
    if (m->keys[i] == k) return &m->vals[i];
    i = (i + 1) & mask;
  }
  return NULL;
}

static int map_put(Map *m, uint64_t k, int64_t v);

static int map_grow(Map *m) {
  Map bigger;
  if (map_init(&bigger, m->cap * 2)) return -1;
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i]) map_put(&bigger, m->keys[i], m->vals[i]);
  bigger.has_zero = m->has_zero;
  bigger.zero_val = m->zero_val;
  map_free(m);
  *m = bigger;
  return 0;
}

static int map_put(Map *m, uint64_t k, int64_t v) {
  if (k == 0) {
    m->has_zero = 1;
    m->zero_val = v;
    return 0;
  }
  if (2 * (m->n + 1) > m->cap && map_grow(m)) return -1;
  size_t mask = m->cap - 1, i = (size_t)k & mask;
  while (m->keys[i] && m->keys[i] != k) i = (i + 1) & mask;
  if (!m->keys[i]) m->n++;
  m->keys[i] = k;
  m->vals[i] = v;
  return 0;
}

/* Make room for `need` elements of `size` bytes in *buf (capacity *cap, doubling from `initial`). */
static inline int grow(void **buf, size_t *cap, size_t need, size_t size, size_t initial) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : initial;
  while (c < need) c *= 2;
  void *a = realloc(*buf, c * size);
  if (!a) return -1;
  *buf = a;
  *cap = c;
  return 0;
}

typedef struct {
  int32_t *a;
  size_t n, cap;
} Vec32;

static int vec_reserve(Vec32 *v, size_t extra) {
  return grow((void **)&v->a, &v->cap, v->n + extra, sizeof(int32_t), 256);
}

static inline int vec_push(Vec32 *v, int32_t x) {
  if (v->n == v->cap && vec_reserve(v, 1)) return -1;
  v->a[v->n++] = x;
  return 0;
}

#endif
