/* The id registry: integer ids (the contexts handed to HCS) -> the queue of the event loop
 * that registered them, in a chained hash under one lock.
 *
 * Contexts are integer ids, never pointers: an id that is not (or no longer) registered is
 * ignored, so a late callback cannot touch freed memory. An id registered ONESHOT (and/or
 * POSTED) is forgotten as soon as its completion (and/or its aiohcs_post item) is queued:
 * an operation completes once, and the loop then need not unregister it.
 *
 * The registry lock is held while an item is pushed and the wake byte written, so
 * aiohcs_queue_free (which takes it) is a barrier: afterwards no callback uses the queue or
 * its socket. */
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"

typedef struct entry {
    uint64_t id;
    aiohcs_queue *queue;
    uint32_t flags;
    uint32_t awaiting;      /* ONESHOT/POSTED items still to come; 0: until unregistered */
    uint32_t event_options; /* handles: the HCS_EVENT_OPTIONS their callback asks for */
    struct entry *next;
} entry;

static aiohcs_mutex registry_lock = AIOHCS_MUTEX_INITIALIZER;
static aiohcs_once fork_once = AIOHCS_ONCE_INITIALIZER;
static entry **buckets;
static size_t bucket_count; /* power of two, or 0 */
static size_t entry_count;
static uint64_t next_id = 1;

/* A callback thread may have held the lock when another thread forked: the child's copy is
 * made anew (the parent's entries stay; nothing in the child delivers to them). */
static void after_fork_in_child(void) { aiohcs_mutex_init(&registry_lock); }

static void watch_fork(void) { aiohcs_on_fork_child(after_fork_in_child); }

static void lock_registry(void) {
    aiohcs_once_run(&fork_once, watch_fork);
    aiohcs_mutex_lock(&registry_lock);
}

static size_t bucket_of(uint64_t id, size_t n) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (n - 1);
}

/* Called with registry_lock held: the link that points at id's entry, or NULL. */
static entry **find_link(uint64_t id) {
    if (bucket_count == 0) return NULL;
    for (entry **link = &buckets[bucket_of(id, bucket_count)]; *link != NULL; link = &(*link)->next)
        if ((*link)->id == id) return link;
    return NULL;
}

/* Called with registry_lock held; growing is best effort. */
static void maybe_grow(void) {
    if (bucket_count != 0 && entry_count < bucket_count * 2) return;
    size_t n = bucket_count ? bucket_count * 4 : 256;
    entry **fresh = calloc(n, sizeof *fresh);
    if (fresh == NULL) return;
    for (size_t b = 0; b < bucket_count; b++) {
        entry *e = buckets[b];
        while (e != NULL) {
            entry *next = e->next;
            size_t i = bucket_of(e->id, n);
            e->next = fresh[i];
            fresh[i] = e;
            e = next;
        }
    }
    free(buckets);
    buckets = fresh;
    bucket_count = n;
}

uint64_t aiohcs_register(aiohcs_queue *queue, uint32_t flags) {
    entry *e = malloc(sizeof *e);
    if (e == NULL) return 0;
    lock_registry();
    maybe_grow();
    if (bucket_count == 0) {
        aiohcs_mutex_unlock(&registry_lock);
        free(e);
        return 0;
    }
    e->id = next_id++;
    e->queue = queue;
    e->flags = flags;
    e->awaiting = flags & (AIOHCS_REGISTER_ONESHOT | AIOHCS_REGISTER_POSTED);
    e->event_options = 0;
    size_t i = bucket_of(e->id, bucket_count);
    e->next = buckets[i];
    buckets[i] = e;
    entry_count++;
    uint64_t id = e->id;
    aiohcs_mutex_unlock(&registry_lock);
    return id;
}

int aiohcs_unregister(uint64_t id) {
    entry *found = NULL;
    lock_registry();
    entry **link = find_link(id);
    if (link != NULL) {
        found = *link;
        *link = found->next;
        entry_count--;
    }
    aiohcs_mutex_unlock(&registry_lock);
    free(found);
    return found != NULL;
}

size_t aiohcs_registered_count(void) {
    lock_registry();
    size_t n = entry_count;
    aiohcs_mutex_unlock(&registry_lock);
    return n;
}

void aiohcs_queue_free(aiohcs_queue *q) {
    if (q == NULL) return;
    entry *dead = NULL;
    lock_registry();
    for (size_t b = 0; b < bucket_count; b++) {
        entry **link = &buckets[b];
        while (*link != NULL) {
            entry *e = *link;
            if (e->queue == q) {
                *link = e->next;
                e->next = dead;
                dead = e;
                entry_count--;
            } else {
                link = &e->next;
            }
        }
    }
    aiohcs_mutex_unlock(&registry_lock);
    while (dead != NULL) {
        entry *next = dead->next;
        free(dead);
        dead = next;
    }
    /* No callback can reach q any more: nobody else holds it. */
    aiohcs_queue_destroy(q);
}

int aiohcs_registry_lookup(uint64_t id, uint32_t *flags) {
    lock_registry();
    entry **link = find_link(id);
    if (link != NULL) *flags = (*link)->flags;
    aiohcs_mutex_unlock(&registry_lock);
    return link != NULL;
}

int aiohcs_set_event_options(uint64_t id, uint32_t options) {
    lock_registry();
    entry **link = find_link(id);
    if (link != NULL) (*link)->event_options = options;
    aiohcs_mutex_unlock(&registry_lock);
    return link != NULL;
}

uint32_t aiohcs_registry_event_options(uint64_t id) {
    uint32_t options = 0;
    lock_registry();
    entry **link = find_link(id);
    if (link != NULL) options = (*link)->event_options;
    aiohcs_mutex_unlock(&registry_lock);
    return options;
}

int aiohcs_deliver(aiohcs_item *item) {
    int delivered = 0;
    entry *done = NULL;
    lock_registry();
    entry **link = find_link(item->id);
    if (link != NULL) {
        entry *e = *link;
        delivered = aiohcs_queue_push(e->queue, item);
        uint32_t last = item->kind == AIOHCS_ITEM_COMPLETION ? AIOHCS_REGISTER_ONESHOT
                        : item->kind == AIOHCS_ITEM_CALL     ? AIOHCS_REGISTER_POSTED
                                                             : 0;
        if (delivered && (e->awaiting & last)) {
            e->awaiting &= ~last;
            if (e->awaiting == 0) {
                /* Everything this id was registered for is queued: nothing more comes. */
                *link = e->next;
                entry_count--;
                done = e;
            }
        }
    }
    aiohcs_mutex_unlock(&registry_lock);
    free(done);
    return delivered;
}

int aiohcs_post(uint64_t id, int32_t result) {
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.timestamp_ns = aiohcs_now_ns();
    item.id = id;
    item.kind = AIOHCS_ITEM_CALL;
    item.result = result;
    return aiohcs_deliver(&item);
}
