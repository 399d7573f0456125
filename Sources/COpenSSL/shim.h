#pragma once
#include <dlfcn.h>
#include <stddef.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

/* libcrypto is opened on first use instead of being linked: a daemon with its MQTT uplink has it
   in memory anyway (libmosquitto, itself opened at run time, loads it), and the technician commands
   that neither sign nor check a signature should not pay for loading and relocating a 4.7 MB
   library (x86_64). The table's types are the header's own (__typeof__), so a signature cannot drift
   from the library's. EVP_PKEY_Q_keygen is variadic (Swift cannot call it): keys are made through
   an EVP_PKEY_CTX instead. */
#define METERAGENT_CRYPTO_FUNCTIONS(X) \
    X(EVP_PKEY_new_raw_public_key) \
    X(EVP_PKEY_get_raw_public_key) X(EVP_PKEY_get_id) X(EVP_PKEY_free) \
    X(EVP_PKEY_CTX_new_id) X(EVP_PKEY_CTX_free) X(EVP_PKEY_keygen_init) X(EVP_PKEY_keygen) \
    X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) \
    X(EVP_DigestVerifyInit) X(EVP_DigestVerify) X(EVP_DigestSignInit) X(EVP_DigestSign) \
    X(BIO_new) X(BIO_s_mem) X(BIO_new_mem_buf) X(BIO_read) X(BIO_free) \
    X(PEM_read_bio_PrivateKey) X(PEM_read_bio_PUBKEY) X(PEM_write_bio_PKCS8PrivateKey) \
    X(ERR_get_error) X(ERR_error_string_n) X(ERR_clear_error) \
    X(HMAC) X(EVP_sha256)

typedef struct {
#define METERAGENT_CRYPTO_FIELD(name) __typeof__(name) *_Nonnull name;
    METERAGENT_CRYPTO_FUNCTIONS(METERAGENT_CRYPTO_FIELD)
#undef METERAGENT_CRYPTO_FIELD
} meteragent_crypto_api;

/* Fills `api` from libcrypto.so.3 (OpenSSL 3: Debian 12's libssl3, Debian 13's libssl3t64).
   Returns NULL, or the loader's message (valid until the next dl* call on this thread). */
static inline const char *_Nullable meteragent_crypto_load(meteragent_crypto_api *_Nonnull api) {
    void *library = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return dlerror();
#define METERAGENT_CRYPTO_RESOLVE(name) \
    api->name = (__typeof__(name) *)dlsym(library, #name); \
    if (api->name == NULL) return dlerror();
    METERAGENT_CRYPTO_FUNCTIONS(METERAGENT_CRYPTO_RESOLVE)
#undef METERAGENT_CRYPTO_RESOLVE
    return NULL;
}
