/* What the bridge's own files share: the HCS declarations, the bridge's interface
 * (bridge.cdef), the platform layer, and the functions one file offers the others.
 *
 *   queue.c     one queue per event loop: a growable ring of items, its lock and wake-up
 *   registry.c  id -> queue, and delivery of an item to the queue of its id
 *   callbacks.c the callbacks HCS invokes, and the helpers that hand them to HCS
 *   calls.c     native calls: blocking HCS calls run on the thread pool
 *   pool.c      the thread pool
 *   utf16.c     the one UTF-16 length and copy (aiohcs/include: hcsim uses them too)
 *
 * Locks: one registry lock (id -> queue) and one lock per queue; the order is registry
 * then queue. No HCS function is called with a lock held. */
#ifndef AIOHCS_BRIDGE_INTERNAL_H
#define AIOHCS_BRIDGE_INTERNAL_H

#include "platform.h" /* first: windows.h on Windows, before the SDK header */

#include <computecore.h> /* the SDK's, or hcsim's (hcsim/include) */
#include <stddef.h>
#include <stdint.h>
#include <uchar.h>

#include "bridge.cdef"
#include "utf16.h"

/* ---- queue.c ---- */

/* Pushes item (copied) onto q and wakes its loop if the queue was empty. Returns 1 when
 * queued, 0 when the ring could not grow (the item is counted as dropped; the caller still
 * owns it). */
int aiohcs_queue_push(aiohcs_queue *q, const aiohcs_item *item);
/* Releases what the undelivered items of q own and frees q. Nobody else may hold q. */
void aiohcs_queue_destroy(aiohcs_queue *q);
/* Frees the item's payload and closes the handles it carries. */
void aiohcs_item_release(aiohcs_item *item);

/* ---- registry.c ---- */

/* Looks up the flags of id; returns 0 when it is not registered. */
int aiohcs_registry_lookup(uint64_t id, uint32_t *flags);
/* The HCS_EVENT_OPTIONS recorded for id (aiohcs_set_event_options); 0 when none or unknown. */
uint32_t aiohcs_registry_event_options(uint64_t id);
/* Pushes item onto the queue of its id. Returns 1 when delivered; otherwise the caller
 * still owns (and releases) the item. */
int aiohcs_deliver(aiohcs_item *item);

/* ---- callbacks.c ---- */

/* Copies the NUL-terminated text (may be NULL) into item's payload; sets
 * AIOHCS_ITEM_PAYLOAD_LOST when out of memory. */
void aiohcs_item_set_payload(aiohcs_item *item, const char16_t *text);

/* ---- pool.c ---- */

/* A unit of work for the pool: embed it in a larger struct; run receives it. */
typedef struct aiohcs_work {
    struct aiohcs_work *next;
    void (*run)(struct aiohcs_work *work);
} aiohcs_work;

/* Queues work for a pool thread; returns 1, or 0 when no thread could ever run it (then the
 * caller still owns it). */
int aiohcs_pool_submit(aiohcs_work *work);
/* Work queued or running. */
size_t aiohcs_pool_pending(void);

#endif
