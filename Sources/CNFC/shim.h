#pragma once
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <nfc/nfc.h>

/* libnfc is opened on first use instead of being linked: only gateways whose site config has a
   PN532 (or another libnfc) reader need it, and it pulls in libusb. The table's types are the
   header's own (__typeof__), so a signature cannot drift from the library's. */
#define METERAGENT_NFC_FUNCTIONS(X) \
    X(init) X(exit) X(open) X(close) X(abort_command) X(idle) X(version) \
    X(initiator_init) X(initiator_select_passive_target) X(initiator_deselect_target) \
    X(initiator_target_is_present) X(device_set_property_bool) X(device_get_information_about) \
    X(device_get_name) X(device_get_last_error) X(strerror) X(free)

typedef struct {
#define METERAGENT_NFC_FIELD(name) __typeof__(nfc_##name) *_Nonnull name;
    METERAGENT_NFC_FUNCTIONS(METERAGENT_NFC_FIELD)
#undef METERAGENT_NFC_FIELD
} meteragent_nfc_api;

/* Fills `api` from libnfc.so.6. Returns NULL, or the loader's message (valid until the next dl*
   call on this thread). */
static inline const char *_Nullable meteragent_nfc_load(meteragent_nfc_api *_Nonnull api) {
    void *library = dlopen("libnfc.so.6", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return dlerror();
#define METERAGENT_NFC_RESOLVE(name) \
    api->name = (__typeof__(nfc_##name) *)dlsym(library, "nfc_" #name); \
    if (api->name == NULL) return dlerror();
    METERAGENT_NFC_FUNCTIONS(METERAGENT_NFC_RESOLVE)
#undef METERAGENT_NFC_RESOLVE
    return NULL;
}

/* The C enums arrive in Swift as structs; these keep the few values the driver needs in one place. */
static inline nfc_modulation meteragent_nfc_iso14443a_106(void) {
    nfc_modulation modulation = { .nmt = NMT_ISO14443A, .nbr = NBR_106 };
    return modulation;
}
static inline nfc_property meteragent_nfc_infinite_select(void) { return NP_INFINITE_SELECT; }

/* The UID of an ISO 14443-A target, copied out of the target union (a 10-byte C array arrives in
   Swift as a tuple). Returns its length (0 for a target of another modulation). */
static inline size_t meteragent_nfc_target_uid(const nfc_target *_Nonnull target, uint8_t out[_Nonnull 10]) {
    if (target->nm.nmt != NMT_ISO14443A) return 0;
    size_t length = target->nti.nai.szUidLen;
    if (length > 10) length = 10;
    memcpy(out, target->nti.nai.abtUid, length);
    return length;
}
