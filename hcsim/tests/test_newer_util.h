/* Helpers of the tests of the newest SDK's calls (test_newer_*.c): an event recorder for
 * HCS_EVENT_CALLBACKs, and small JSON checks. */
#ifndef HCSIM_TEST_NEWER_UTIL_H
#define HCSIM_TEST_NEWER_UTIL_H

#include "test_core_util.h"

#include <pthread.h>

#define TN_MAX_EVENTS 64

typedef struct tn_event {
    uint32_t type;
    HCS_OPERATION op;
    hj_value *data; /* parsed EventData, NULL when there was none */
    int had_data;
} tn_event;

typedef struct tn_rec {
    pthread_mutex_t m;
    tn_event ev[TN_MAX_EVENTS];
    int n;
    int close_op_in_cb; /* close event->Operation from the completion event */
} tn_rec;

static inline void tn_init(tn_rec *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->m, NULL);
}

static inline void tn_free(tn_rec *r) {
    for (int i = 0; i < r->n; i++) hj_free(r->ev[i].data);
    pthread_mutex_destroy(&r->m);
}

static void tn_cb(HCS_EVENT *e, void *ctx) {
    tn_rec *r = ctx;
    pthread_mutex_lock(&r->m);
    if (r->n < TN_MAX_EVENTS) {
        tn_event *t = &r->ev[r->n++];
        t->type = (uint32_t)e->Type;
        t->op = e->Operation;
        t->had_data = e->EventData != NULL;
        t->data = e->EventData ? hj_parse_utf16(e->EventData) : NULL;
    }
    int close = r->close_op_in_cb && e->Type == HcsEventOperationCallback;
    pthread_mutex_unlock(&r->m);
    if (close) HcsCloseOperation(e->Operation);
}

/* Number of recorded events of that type. */
static inline int tn_count(tn_rec *r, uint32_t type) {
    pthread_mutex_lock(&r->m);
    int c = 0;
    for (int i = 0; i < r->n; i++) c += r->ev[i].type == type;
    pthread_mutex_unlock(&r->m);
    return c;
}

/* Waits (up to 10 s) until n events of that type were recorded; 1 when they were. */
static inline int tn_wait(tn_rec *r, uint32_t type, int n) {
    for (int i = 0; i < 1000; i++) {
        if (tn_count(r, type) >= n) return 1;
        tc_sleep_ms(10);
    }
    return 0;
}

/* The index of the k-th (0-based) event of that type, or -1. */
static inline int tn_find(tn_rec *r, uint32_t type, int k) {
    pthread_mutex_lock(&r->m);
    int at = -1;
    for (int i = 0; i < r->n && at < 0; i++)
        if (r->ev[i].type == type && k-- == 0) at = i;
    pthread_mutex_unlock(&r->m);
    return at;
}

/* A string member of a parsed document ("" when absent). */
static inline const char *tn_str(const hj_value *d, const char *key) {
    const char *s = hj_str(hj_get(d, key), NULL);
    return s ? s : "";
}

#endif
