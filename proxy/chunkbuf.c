/*
 * chunkbuf.c - reference-counted chunk buffers (chunkbuf.h), with a small
 * pool: a capture in full mode lets go of a buffer on its writer thread for
 * every chunk, and a fresh 512 KiB allocation is a fresh mapping whose pages
 * are faulted in and zeroed again.
 */
#include "chunkbuf.h"

#include <stddef.h>

/*
 * Free buffers kept for reuse, at most (32 MiB).  A full capture of a
 * 1 GB stream at 1.3 GB/s had up to about 70 buffers in its queue and
 * batch at once; with 16 kept, each burst faulted in fresh ones again.
 */
#define CHUNK_POOL 64u

typedef struct {
    gint refs;
    /* the headroom is the end of this */
    guint8 head[MP_CHUNK_ALIGN - sizeof(gint)];
    guint8 data[MP_CHUNK_SIZE];
} ChunkBuf;

G_STATIC_ASSERT(offsetof(ChunkBuf, data) == MP_CHUNK_ALIGN);
G_STATIC_ASSERT(MP_CHUNK_HEADROOM <= MP_CHUNK_ALIGN - sizeof(gint));

static GMutex pool_lock;
static guint8 *pool[CHUNK_POOL];
static guint pool_len;

static ChunkBuf *chunk_of(const guint8 *data)
{
    return (ChunkBuf *)(gpointer)(data - offsetof(ChunkBuf, data));
}

guint8 *mp_chunk_buf_new(void)
{
    ChunkBuf *c = NULL;

    g_mutex_lock(&pool_lock);
    if (pool_len) {
        c = chunk_of(pool[--pool_len]);
    }
    g_mutex_unlock(&pool_lock);
    if (!c) {
        c = g_aligned_alloc(1, sizeof(*c), MP_CHUNK_ALIGN);
    }
    c->refs = 1;
    return c->data;
}

guint8 *mp_chunk_buf_ref(guint8 *data)
{
    g_atomic_int_inc(&chunk_of(data)->refs);
    return data;
}

void mp_chunk_buf_unref(guint8 *data)
{
    ChunkBuf *c;

    if (!data) {
        return;
    }
    c = chunk_of(data);
    if (!g_atomic_int_dec_and_test(&c->refs)) {
        return;
    }
    g_mutex_lock(&pool_lock);
    if (pool_len < CHUNK_POOL) {
        pool[pool_len++] = data;
        c = NULL;
    }
    g_mutex_unlock(&pool_lock);
    g_aligned_free(c);
}

bool mp_chunk_buf_shared(const guint8 *data)
{
    return g_atomic_int_get(&chunk_of(data)->refs) > 1;
}
