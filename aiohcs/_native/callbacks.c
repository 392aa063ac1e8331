/* The callbacks HCS invokes on threads it owns, and the helpers that hand them to HCS.
 *
 * They never run Python: each one copies what it needs (the operation's result and
 * document, which it frees; the event's EventData or the HCN notification's
 * NotificationData, valid only during the call), closes a
 * completed operation, and delivers one item to the queue of the event loop that registered
 * the context id. */
#include <string.h>

#include "bridge_internal.h"

void aiohcs_item_set_payload(aiohcs_item *item, const char16_t *text) {
    if (text == NULL) return;
    item->payload = aiohcs_utf16_dup(text, &item->payload_length);
    if (item->payload == NULL) item->flags |= AIOHCS_ITEM_PAYLOAD_LOST;
}

/* The completion of operation for id: fetch its result, close it, deliver one item. With
 * notified (an operation made with notifications), an operation still registered with
 * AIOHCS_REGISTER_PROGRESS is not closed here but handed over in the item
 * (AIOHCS_ITEM_HAS_OPERATION): the loop closes it once no HcsGetOperationProperties call
 * uses it any more (whoever ends up with an undelivered item closes it). */
static void complete(HCS_OPERATION operation, uint64_t id, int notified) {
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.timestamp_ns = aiohcs_now_ns();
    item.id = id;
    item.kind = AIOHCS_ITEM_COMPLETION;

    uint32_t flags = 0;
    int want_process_info;
    int hand_over = 0;
    if (aiohcs_registry_lookup(item.id, &flags)) {
        want_process_info = (flags & AIOHCS_REGISTER_PROCESS_INFO) != 0;
        hand_over = notified && (flags & AIOHCS_REGISTER_PROGRESS) != 0;
    } else {
        /* Nobody waits (any more); still fetch pipe handles so they can be closed. */
        HCS_OPERATION_TYPE type = HcsGetOperationType(operation);
        want_process_info =
            type == HcsOperationTypeCreateProcess || type == HcsOperationTypeGetProcessInfo;
    }

    PWSTR document = NULL;
    if (want_process_info) {
        HCS_PROCESS_INFORMATION info;
        memset(&info, 0, sizeof info);
        item.result = HcsGetOperationResultAndProcessInfo(operation, &info, &document);
        if (item.result >= 0) {
            item.flags |= AIOHCS_ITEM_HAS_PROCESS_INFO;
            item.process_id = info.ProcessId;
            item.std_input = info.StdInput;
            item.std_output = info.StdOutput;
            item.std_error = info.StdError;
        }
    } else {
        item.result = HcsGetOperationResult(operation, &document);
    }
    aiohcs_item_set_payload(&item, (const char16_t *)document);
    if (document != NULL) LocalFree(document);
    /* Every operation created with this callback is closed here, exactly once, whether or
     * not anybody still waits for it (or, handed over, by whoever takes the item). */
    if (hand_over) {
        item.flags |= AIOHCS_ITEM_HAS_OPERATION;
        item.std_input = operation;
    } else {
        HcsCloseOperation(operation);
    }

    if (!aiohcs_deliver(&item)) aiohcs_item_release(&item);
}

void CALLBACK aiohcs_operation_completion(HCS_OPERATION operation, void *context) {
    complete(operation, (uint64_t)(uintptr_t)context, 0);
}

void CALLBACK aiohcs_event_callback(HCS_EVENT *event, void *context) {
    if (event == NULL) return;
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.timestamp_ns = aiohcs_now_ns();
    item.id = (uint64_t)(uintptr_t)context;
    item.kind = AIOHCS_ITEM_EVENT;
    item.event_type = (uint32_t)event->Type;
    item.operation = (uint64_t)(uintptr_t)event->Operation;
    uint32_t flags;
    if (!aiohcs_registry_lookup(item.id, &flags)) return;
    aiohcs_item_set_payload(&item, (const char16_t *)event->EventData);
    if (!aiohcs_deliver(&item)) aiohcs_item_release(&item);
}

void CALLBACK aiohcs_hcn_notification_callback(DWORD notification_type, void *context,
                                               HRESULT status, PCWSTR data) {
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.timestamp_ns = aiohcs_now_ns();
    item.id = (uint64_t)(uintptr_t)context;
    item.kind = AIOHCS_ITEM_EVENT;
    item.event_type = (uint32_t)notification_type;
    item.result = (int32_t)status;
    uint32_t flags;
    if (!aiohcs_registry_lookup(item.id, &flags)) return;
    /* NotificationData is valid only during this call (and is NULL for some types). */
    aiohcs_item_set_payload(&item, (const char16_t *)data);
    if (!aiohcs_deliver(&item)) aiohcs_item_release(&item);
}

void CALLBACK aiohcs_operation_event_callback(HCS_EVENT *event, void *context) {
    if (event == NULL) return;
    /* The completion comes as an event too: handled as a plain completion (its operation
     * closed here, once); anything else (progress) as an event item for the same id. */
    if (event->Type == HcsEventOperationCallback && event->Operation != NULL)
        complete(event->Operation, (uint64_t)(uintptr_t)context, 1);
    else
        aiohcs_event_callback(event, context);
}

HCS_OPERATION aiohcs_create_operation(uint64_t id) {
    return HcsCreateOperation((const void *)(uintptr_t)id, aiohcs_operation_completion);
}

HCS_OPERATION aiohcs_register_operation(aiohcs_queue *queue, uint32_t flags, uint64_t *id) {
    uint64_t ident = aiohcs_register(queue, flags);
    if (ident == 0) return NULL;
    HCS_OPERATION operation = aiohcs_create_operation(ident);
    if (operation == NULL) {
        aiohcs_unregister(ident);
        return NULL;
    }
    *id = ident;
    return operation;
}

void aiohcs_take_failure(HCS_OPERATION operation, PWSTR *document) {
    *document = NULL;
    HcsGetOperationResult(operation, document);
    HcsCloseOperation(operation);
}

void aiohcs_init_create_options(HCS_CREATE_OPTIONS_1 *options, uint64_t id) {
    memset(options, 0, sizeof *options);
    options->Version = HcsCreateOptions_1;
    options->CallbackOptions = (HCS_EVENT_OPTIONS)aiohcs_registry_event_options(id);
    options->CallbackContext = (void *)(uintptr_t)id;
    options->Callback = aiohcs_event_callback;
}

HRESULT aiohcs_set_system_callback(HCS_SYSTEM system, uint64_t id) {
    return HcsSetComputeSystemCallback(system, (HCS_EVENT_OPTIONS)aiohcs_registry_event_options(id),
                                       (const void *)(uintptr_t)id, aiohcs_event_callback);
}

HRESULT aiohcs_set_process_callback(HCS_PROCESS process, uint64_t id) {
    return HcsSetProcessCallback(process, HcsEventOptionNone, (void *)(uintptr_t)id,
                                 aiohcs_event_callback);
}
