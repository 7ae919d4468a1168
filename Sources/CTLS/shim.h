// The system's OpenSSL (Debian's libssl-dev) for reading and checking certificates and keys: what Swift
// cannot import (stack macros, a passphrase callback, GENERAL_NAME unions) in small inline functions.
#ifndef RABBIT_WIZARD_CTLS_SHIM_H
#define RABBIT_WIZARD_CTLS_SHIM_H

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

static inline STACK_OF(X509) *rw_x509_stack(void) { return sk_X509_new_null(); }
static inline int rw_x509_stack_push(STACK_OF(X509) *s, X509 *x) { return sk_X509_push(s, x); }
// Frees the stack only: its certificates belong to the caller.
static inline void rw_x509_stack_free(STACK_OF(X509) *s) { sk_X509_free(s); }

// Never OpenSSL's default callback, which would ask on the terminal: the passphrase given, or none.
static int rw_passphrase(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    if (u == NULL) return -1;
    size_t n = strlen((const char *)u);
    if (n > (size_t)size) return -1;
    memcpy(buf, u, n);
    return (int)n;
}

static inline EVP_PKEY *rw_read_key(BIO *bio, const char *passphrase) {
    return PEM_read_bio_PrivateKey(bio, NULL, rw_passphrase, (void *)passphrase);
}

static inline X509 *rw_read_x509(BIO *bio) { return PEM_read_bio_X509(bio, NULL, rw_passphrase, NULL); }

// The subject as RFC 2253 writes it ("CN=node-a,O=Example") into buf (NUL-terminated, cut at len).
static inline void rw_subject(X509 *x, char *buf, size_t len) {
    if (len == 0) return;
    buf[0] = 0;
    BIO *out = BIO_new(BIO_s_mem());
    if (out == NULL) return;
    if (X509_NAME_print_ex(out, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(out, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = 0;
    }
    BIO_free(out);
}

// Whether leaf chains to one of trusted (through untrusted intermediates) for a TLS server, times not
// looked at (the caller says which certificate expired); *error is OpenSSL's X509_V_ERR code.
static inline int rw_verify_server(X509 *leaf, STACK_OF(X509) *untrusted, STACK_OF(X509) *trusted, int *error) {
    *error = X509_V_ERR_UNSPECIFIED;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;
    if (store != NULL && ctx != NULL) {
        for (int i = 0; i < sk_X509_num(trusted); i++) X509_STORE_add_cert(store, sk_X509_value(trusted, i));
        if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1) {
            X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
            X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_NO_CHECK_TIME);
            ok = X509_verify_cert(ctx) == 1;
            *error = X509_STORE_CTX_get_error(ctx);
        }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok;
}

// Seconds since the epoch (UTC) of an ASN.1 time; 0 and *ok = 0 when it cannot be read.
static inline long long rw_asn1_epoch(const ASN1_TIME *t, int *ok) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    *ok = ASN1_TIME_to_tm(t, &tm);
    return *ok ? (long long)timegm(&tm) : 0;
}

// The subjectAltName's DNS names and IP addresses, one per line ("DNS:name" or "IP:address"), written into
// buf (NUL-terminated, cut at len); the number of entries.
static inline int rw_alt_names(X509 *x, char *buf, size_t len) {
    if (len == 0) return 0;
    buf[0] = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return 0;
    int count = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
        char entry[300];
        entry[0] = 0;
        if (n->type == GEN_DNS) {
            const ASN1_IA5STRING *s = n->d.dNSName;
            snprintf(entry, sizeof entry, "DNS:%.*s\n", s->length > 255 ? 255 : s->length, (const char *)s->data);
        } else if (n->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = n->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = "";
            if (s->length == 4) inet_ntop(AF_INET, s->data, text, sizeof text);
            else if (s->length == 16) inet_ntop(AF_INET6, s->data, text, sizeof text);
            if (text[0]) snprintf(entry, sizeof entry, "IP:%s\n", text);
        }
        if (entry[0] && strlen(buf) + strlen(entry) < len) {
            strcat(buf, entry);
            count++;
        }
    }
    GENERAL_NAMES_free(names);
    return count;
}

#endif
