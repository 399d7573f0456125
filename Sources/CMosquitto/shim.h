#pragma once
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <mosquitto.h>

/* libmosquitto is opened on first use instead of being linked: it pulls in libssl and libcrypto,
   about 1.7 MB resident once the loader has relocated them, which the technician commands and a
   gateway that only stores its readings should not pay for. The table's types are the header's
   own (__typeof__), so a signature cannot drift from the library's. */
#define METERAGENT_MOSQUITTO_FUNCTIONS(X) \
    X(lib_init) X(strerror) X(connack_string) X(reason_string) \
    X(new) X(destroy) X(user_data_set) X(int_option) X(reconnect_delay_set) X(username_pw_set) \
    X(will_set) X(tls_set) X(tls_insecure_set) \
    X(connect_callback_set) X(disconnect_callback_set) X(publish_v5_callback_set) \
    X(message_callback_set) X(log_callback_set) \
    X(connect) X(disconnect) X(loop_start) X(loop_stop) X(subscribe) X(publish)

typedef struct {
#define METERAGENT_MOSQUITTO_FIELD(name) __typeof__(mosquitto_##name) *_Nonnull name;
    METERAGENT_MOSQUITTO_FUNCTIONS(METERAGENT_MOSQUITTO_FIELD)
#undef METERAGENT_MOSQUITTO_FIELD
} meteragent_mosquitto_api;

/* Fills `api` from libmosquitto.so.1. Returns NULL, or the loader's message (valid until the next
   dl* call on this thread). */
static inline const char *_Nullable meteragent_mosquitto_load(meteragent_mosquitto_api *_Nonnull api) {
    void *library = dlopen("libmosquitto.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return dlerror();
#define METERAGENT_MOSQUITTO_RESOLVE(name) \
    api->name = (__typeof__(mosquitto_##name) *)dlsym(library, "mosquitto_" #name); \
    if (api->name == NULL) return dlerror();
    METERAGENT_MOSQUITTO_FUNCTIONS(METERAGENT_MOSQUITTO_RESOLVE)
#undef METERAGENT_MOSQUITTO_RESOLVE
    return NULL;
}
