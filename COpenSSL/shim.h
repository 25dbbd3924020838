// Umbrella header for the COpenSSL system library (Debian's libssl-dev, OpenSSL 3).
// Only RotorCrypto imports this module. The static inline functions below wrap the
// macros RotorCrypto needs, because Swift cannot import function-like macros and the
// GCM control constants are aliases of other macros.
#ifndef ROTOR_COPENSSL_SHIM_H
#define ROTOR_COPENSSL_SHIM_H

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/// Copies the GCM authentication tag out of a finished encryption context.
static inline int COpenSSL_EVP_CIPHER_CTX_get_gcm_tag(EVP_CIPHER_CTX *ctx, unsigned char *tag, int tag_len) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, tag_len, tag);
}

/// Sets the expected GCM tag before EVP_DecryptFinal_ex. OpenSSL copies the tag and never
/// writes through the pointer, so the const cast is safe and lets Swift pass a read-only buffer.
static inline int COpenSSL_EVP_CIPHER_CTX_set_gcm_tag(EVP_CIPHER_CTX *ctx, const unsigned char *tag, int tag_len) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, tag_len, (void *)tag);
}

/// Sets the GCM nonce length; 12 bytes is OpenSSL's default, set explicitly so the
/// contract does not rest on a default.
static inline int COpenSSL_EVP_CIPHER_CTX_set_gcm_ivlen(EVP_CIPHER_CTX *ctx, int iv_len) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, iv_len, NULL);
}

/// EVP_PKEY_EC is an alias of NID_X9_62_id_ecPublicKey.
static inline int COpenSSL_EVP_PKEY_EC(void) {
    return EVP_PKEY_EC;
}

/// The NID of the P-256 curve (prime256v1 / secp256r1).
static inline int COpenSSL_NID_P256(void) {
    return NID_X9_62_prime256v1;
}

#endif
