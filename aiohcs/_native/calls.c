/* Native calls: blocking HCS calls made on the pool's threads, which never run Python (so
 * the loop never waits for the GIL because of them). Each reports with an AIOHCS_ITEM_CALL
 * item for its post id. */
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"

typedef struct native_call {
    aiohcs_work work; /* first: the pool hands this back */
    uint32_t kind;
    uint64_t post_id;
    HCS_OPERATION operation;
    void *handle;
    char16_t *text[3];
    uint64_t callback_id;
} native_call;

static void call_free(native_call *call) {
    for (size_t i = 0; i < 3; i++) free(call->text[i]);
    free(call);
}

/* A synchronous failure: the operation's result document becomes the item's payload and
 * the operation is closed (no callback comes for it). */
static void take_failure(HCS_OPERATION operation, aiohcs_item *item) {
    PWSTR document;
    aiohcs_take_failure(operation, &document);
    aiohcs_item_set_payload(item, (const char16_t *)document);
    if (document != NULL) LocalFree(document);
}

/* Makes the call; returns the HRESULT and stores a system it produced in *system. */
static HRESULT call_make(native_call *call, aiohcs_item *item, HCS_SYSTEM *system) {
    const WCHAR *t0 = (const WCHAR *)call->text[0], *t1 = (const WCHAR *)call->text[1],
                *t2 = (const WCHAR *)call->text[2];
    HRESULT result = 0;
    switch (call->kind) {
    case AIOHCS_CALL_CREATE_SYSTEM: {
        HCS_CREATE_OPTIONS_1 options;
        aiohcs_init_create_options(&options, call->callback_id);
        return HcsCreateComputeSystemInNamespace(t2, t0, t1, call->operation,
                                                 (const HCS_CREATE_OPTIONS *)&options, system);
    }
    case AIOHCS_CALL_CREATE_SYSTEM_PLAIN:
        result = HcsCreateComputeSystem(t0, t1, call->operation, NULL, system);
        break;
    case AIOHCS_CALL_OPEN_SYSTEM: result = aiohcs_open_system(t0, t2, system); break;
    case AIOHCS_CALL_CLOSE_SYSTEM: HcsCloseComputeSystem((HCS_SYSTEM)call->handle); return 0;
    case AIOHCS_CALL_CLOSE_PROCESS: HcsCloseProcess((HCS_PROCESS)call->handle); return 0;
    default: return (HRESULT)0x80070057; /* E_INVALIDARG */
    }
    if (result >= 0 && *system != NULL)
        item->callback_result = aiohcs_set_system_callback(*system, call->callback_id);
    return result;
}

static void call_run(aiohcs_work *work) {
    native_call *call = (native_call *)work;
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.id = call->post_id;
    item.kind = AIOHCS_ITEM_CALL;
    item.event_type = call->kind;
    HCS_SYSTEM system = NULL;
    item.result = call_make(call, &item, &system);
    if ((call->kind == AIOHCS_CALL_CREATE_SYSTEM ||
         call->kind == AIOHCS_CALL_CREATE_SYSTEM_PLAIN) &&
        item.result < 0)
        take_failure(call->operation, &item);
    if (system != NULL) {
        item.flags |= AIOHCS_ITEM_HAS_SYSTEM;
        item.std_input = system;
    }
    item.timestamp_ns = aiohcs_now_ns();
    call_free(call);
    if (item.id == 0 || !aiohcs_deliver(&item)) aiohcs_item_release(&item);
}

/* Copies text into *copy; returns 0 when out of memory (NULL copies as NULL). */
static int copy_text(char16_t **copy, const char16_t *text) {
    *copy = aiohcs_utf16_dup(text, NULL);
    return text == NULL || *copy != NULL;
}

int aiohcs_call_submit(uint32_t kind, uint64_t post_id, HCS_OPERATION operation, void *handle,
                       const char16_t *text0, const char16_t *text1, const char16_t *text2,
                       uint64_t callback_id) {
    native_call *call = calloc(1, sizeof *call);
    if (call == NULL) return 0;
    call->work.run = call_run;
    call->kind = kind;
    call->post_id = post_id;
    call->operation = operation;
    call->handle = handle;
    call->callback_id = callback_id;
    int copied = copy_text(&call->text[0], text0);
    copied &= copy_text(&call->text[1], text1);
    copied &= copy_text(&call->text[2], text2);
    if (!copied || !aiohcs_pool_submit(&call->work)) {
        call_free(call);
        return 0;
    }
    return 1;
}

size_t aiohcs_calls_pending(void) { return aiohcs_pool_pending(); }

HRESULT aiohcs_open_system(PCWSTR id, PCWSTR ns, HCS_SYSTEM *system) {
    return ns != NULL ? HcsOpenComputeSystemInNamespace(ns, id, GENERIC_ALL, system)
                      : HcsOpenComputeSystem(id, GENERIC_ALL, system);
}
