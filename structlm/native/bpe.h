/* Leaf text -> piece ids: the `tokenizers` BPE model's merge loop (Word::merge_all) re-done in C.
 *
 * A leaf's word is its bytes (each byte one initial symbol) followed by the END sentinel symbol. Merges are
 * applied lowest rank first, leftmost first among equal ranks, with the same lazy invalidation of queue entries
 * as tokenizers, so the pieces are identical (tests compare them with the library on real leaves). */
#ifndef STRUCTLM_BPE_H
#define STRUCTLM_BPE_H

#include "hashmap.h"

typedef struct { uint64_t key; int64_t val; } PairEntry; /* key: (a << 32 | b) + 1, 0 = empty */

typedef struct { /* exact (a, b) -> rank << 32 | new id; multiplicative hashing, linear probing */
  PairEntry *t;
  int bits;
} PairMap;

static int pairs_init(PairMap *m, size_t n) {
  m->bits = 10;
  while (((size_t)1 << m->bits) < 4 * n) m->bits++;
  m->t = calloc((size_t)1 << m->bits, sizeof(PairEntry));
  return m->t ? 0 : -1;
}

static inline size_t pair_slot(const PairMap *m, uint64_t key) {
  return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> (64 - m->bits));
}

static void pairs_put(PairMap *m, int32_t a, int32_t b, int64_t v) {  /* sized by pairs_init: never full */
  uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
  size_t mask = ((size_t)1 << m->bits) - 1, i = pair_slot(m, key);
  while (m->t[i].key && m->t[i].key != key) i = (i + 1) & mask;
  m->t[i].key = key;
  m->t[i].val = v;
}

static inline const int64_t *pairs_get(const PairMap *m, int32_t a, int32_t b) {
  uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
  size_t mask = ((size_t)1 << m->bits) - 1, i = pair_slot(m, key);
  while (m->t[i].key) {
    if (m->t[i].key == key) return &m->t[i].val;
    i = (i + 1) & mask;
  }
  return NULL;
}

typedef struct {
  int32_t byte_ids[256];
  int32_t end_id;
  int unique_new_ids_merges; /* no two merges make the same piece: the scan below equals the queue */
  int unique_new_ids;        /* ... and the scan is switched on (it is, unless a test turns it off) */
  PairMap merges;
  int32_t *rank_new_id; /* merge rank -> the piece it makes */
  int64_t *byte_pairs;  /* [256 * 256]: merge of two single-byte symbols, rank << 32 | new id, or -1 */
  /* scratch, grown as needed */
  int32_t *c, *prev, *next, *len;
  uint64_t *heap; /* queue entries rank << 32 | position: a min-heap pops the lowest rank, then the leftmost */
  size_t cap, heap_cap;
} Bpe;

struct Merge { int32_t rank, pos, new_id; };

static int heap_push(Bpe *b, size_t *n, uint64_t x) {
  if (grow((void **)&b->heap, &b->heap_cap, *n + 1, sizeof(uint64_t), 64)) return -1;
  uint64_t *h = b->heap;
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h[p] <= x) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
  return 0;
}

static void heap_sift_down(uint64_t *h, size_t n, size_t i) {
  uint64_t x = h[i];
  size_t l;
  while ((l = 2 * i + 1) < n) {
    size_t m = l + (l + 1 < n && h[l + 1] < h[l]);
    if (x <= h[m]) break;
    h[i] = h[m];
    i = m;
  }
  h[i] = x;
}

static uint64_t heap_pop(Bpe *b, size_t *n) {
  uint64_t top = b->heap[0];
  if (--(*n)) {
    b->heap[0] = b->heap[*n];
    heap_sift_down(b->heap, *n, 0);
  }
  return top;
}

static inline uint64_t entry(const struct Merge *m) { return ((uint64_t)(uint32_t)m->rank << 32) | (uint32_t)m->pos; }

static int bpe_reserve(Bpe *b, size_t n) {
  if (n <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < n) cap *= 2;
  int32_t **arrays[4] = {&b->c, &b->prev, &b->next, &b->len};
  for (int k = 0; k < 4; k++) {
    int32_t *a = realloc(*arrays[k], cap * sizeof(int32_t));
    if (!a) return -1;
    *arrays[k] = a;
  }
  b->cap = cap;
  return 0;
}

static inline int bpe_lookup_bytes(const Bpe *b, uint8_t x, uint8_t y, struct Merge *m, int32_t pos) {
  int64_t v = b->byte_pairs[x << 8 | y];
  m->pos = pos;
  if (v < 0) { m->new_id = -1; return 0; }
  m->rank = (int32_t)(v >> 32);
  m->new_id = (int32_t)(v & 0xffffffff);
  return 1;
}

static inline int bpe_lookup(const Bpe *b, int32_t x, int32_t y, struct Merge *m, int32_t pos) {
  const int64_t *v = pairs_get(&b->merges, x, y);
  if (!v) { m->new_id = -1; return 0; }
  m->rank = (int32_t)(*v >> 32);
  m->new_id = (int32_t)(*v & 0xffffffff);
  m->pos = pos;
  return 1;
}

#define BPE_SHORT 64

/* Short words: the lowest-rank, leftmost pair found by a scan (no queue). With unique new ids the queue's valid
 * entries are exactly the current pairs, so both pick the same merge at every step. */
static int bpe_encode_short(Bpe *b, const uint8_t *text, size_t n, Vec32 *out) {
  int32_t c[BPE_SHORT], rank[BPE_SHORT], nid[BPE_SHORT];
  size_t k = n + 1;
  struct Merge m;
  for (size_t i = 0; i < k; i++) c[i] = i < n ? b->byte_ids[text[i]] : b->end_id;
  for (size_t i = 0; i + 1 < k; i++) {
    int found = i + 1 < n ? bpe_lookup_bytes(b, text[i], text[i + 1], &m, 0) : bpe_lookup(b, c[i], c[i + 1], &m, 0);
    rank[i] = found ? m.rank : INT32_MAX;
    nid[i] = m.new_id;
  }
  while (k > 1) {
    size_t j = 0;
    for (size_t i = 1; i + 1 < k; i++)
      if (rank[i] < rank[j]) j = i;
    if (rank[j] == INT32_MAX) break;
    c[j] = nid[j];
    k--;
    for (size_t i = j + 1; i < k; i++) {
      c[i] = c[i + 1];
      rank[i] = rank[i + 1];
      nid[i] = nid[i + 1];
    }
    if (j > 0) {
      rank[j - 1] = bpe_lookup(b, c[j - 1], c[j], &m, 0) ? m.rank : INT32_MAX;
      nid[j - 1] = m.new_id;
    }
    if (j + 1 < k) {
      rank[j] = bpe_lookup(b, c[j], c[j + 1], &m, 0) ? m.rank : INT32_MAX;
      nid[j] = m.new_id;
    }
  }
  if (vec_reserve(out, k)) return -1;
  memcpy(out->a + out->n, c, k * sizeof(int32_t));
  out->n += k;
  return 0;
}

/* Appends the pieces of text[0:n] + END to out. */
static int bpe_encode(Bpe *b, const uint8_t *text, size_t n, Vec32 *out) {
  if (n + 1 <= BPE_SHORT && b->unique_new_ids) return bpe_encode_short(b, text, n, out);
  size_t k = n + 1, hn = 0;
  if (bpe_reserve(b, k)) return -1;
  for (size_t i = 0; i < k; i++) {
    b->c[i] = i < n ? b->byte_ids[text[i]] : b->end_id;
    b->prev[i] = (int32_t)i - 1;
    b->next[i] = i + 1 < k ? (int32_t)i + 1 : -1;
    b->len[i] = 1;
  }
  struct Merge m;
  if (grow((void **)&b->heap, &b->heap_cap, k, sizeof(uint64_t), 64)) return -1;
  for (size_t i = 0; i + 1 < k; i++)
    if (i + 1 < n ? bpe_lookup_bytes(b, text[i], text[i + 1], &m, (int32_t)i)
                  : bpe_lookup(b, b->c[i], b->c[i + 1], &m, (int32_t)i))
      b->heap[hn++] = entry(&m);
  for (size_t i = hn / 2; i-- > 0;) heap_sift_down(b->heap, hn, i);
  while (hn) {
    uint64_t e = heap_pop(b, &hn);
    struct Merge top = {(int32_t)(e >> 32), (int32_t)(e & 0xffffffff), 0};
    top.new_id = b->rank_new_id[top.rank];
    int32_t p = top.pos;
    if (b->len[p] == 0 || b->next[p] == -1) continue;
    int32_t q = b->next[p];
    struct Merge cur;
    if (!bpe_lookup(b, b->c[p], b->c[q], &cur, p) || cur.new_id != top.new_id) continue;  /* expired entry */
    b->c[p] = top.new_id;
    b->len[p] += b->len[q];
    b->next[p] = b->next[q];
    b->len[q] = 0;
    if (b->next[q] >= 0) b->prev[b->next[q]] = p;
    if (b->prev[p] >= 0 && bpe_lookup(b, b->c[b->prev[p]], b->c[p], &m, b->prev[p]) && heap_push(b, &hn, entry(&m)))
      return -1;
    if (b->next[p] >= 0 && bpe_lookup(b, b->c[p], b->c[b->next[p]], &m, p) && heap_push(b, &hn, entry(&m)))
      return -1;
  }
  if (vec_reserve(out, k)) return -1;
  for (int32_t i = 0; i >= 0; i = b->next[i]) out->a[out->n++] = b->c[i];
  return 0;
}

#endif
