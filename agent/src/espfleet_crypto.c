/*
 * espfleet_crypto: key generation, CSR writing and certificate checks for the agent's
 * renewal (issue 14), ECDSA verification and key fingerprints for its cmd/keys (issue 21), over mbedTLS 2.x (Mongoose OS's; Debian's 2.28 in the host compile
 * test). Contract and return codes: espfleet_crypto.h. Files are read and written with
 * stdio, which Mongoose OS routes to its VFS, and parsed from memory, so MBEDTLS_FS_IO is
 * not needed.
 */
#include "espfleet_crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/base64.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/md.h"
#include "mbedtls/pem.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "mbedtls/x509_crt.h"
#include "mbedtls/x509_csr.h"

/* A P-256 SEC1 key is 121 DER bytes, a P-256 CSR about 250; room for long CNs and ECDSA. */
#define DER_MAX 1024
#define PEM_MAX 1536
#define CN_MAX 64

static int empty(const char *s) {
  return s == NULL || s[0] == '\0';
}

/* The device-id rule of certs/identity.ts: keeps ',', '=', '\' (RDN syntax) out of "CN=". */
static int valid_cn(const char *cn) {
  size_t n = 0;
  if (empty(cn)) return 0;
  for (const char *p = cn; *p != '\0'; p++, n++) {
    char c = *p;
    int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (n == 0 && !alnum) return 0;
    if (!alnum && c != '_' && c != '.' && c != '-') return 0;
  }
  return n <= CN_MAX;
}

/*
 * The whole file, NUL-terminated (mbedTLS's PEM parsers want the NUL counted in the
 * length). *len excludes the NUL. The caller frees with free_file.
 */
static int read_file(const char *path, unsigned char **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  size_t n;
  *out = NULL;
  *len = 0;
  if (f == NULL) return ESPFLEET_CRYPTO_E_IO;
  buf = malloc(ESPFLEET_CRYPTO_MAX_FILE + 1);
  if (buf == NULL) {
    fclose(f);
    return ESPFLEET_CRYPTO_E_IO;
  }
  n = fread(buf, 1, ESPFLEET_CRYPTO_MAX_FILE + 1, f);
  if (ferror(f) || n > ESPFLEET_CRYPTO_MAX_FILE) {
    fclose(f);
    free(buf);
    return ESPFLEET_CRYPTO_E_IO;
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return ESPFLEET_CRYPTO_OK;
}

static void free_file(unsigned char *buf, size_t len) {
  if (buf == NULL) return;
  mbedtls_platform_zeroize(buf, len); /* key files pass through here too */
  free(buf);
}

/* Writes "<path>.tmp" then renames it over path, so path holds the old or the new bytes. */
static int write_file(const char *path, const unsigned char *data, size_t len) {
  char tmp[ESPFLEET_CRYPTO_MAX_PATH + 5];
  FILE *f;
  int ok;
  if (strlen(path) > ESPFLEET_CRYPTO_MAX_PATH) return ESPFLEET_CRYPTO_E_ARG;
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  f = fopen(tmp, "wb");
  if (f == NULL) return ESPFLEET_CRYPTO_E_IO;
  ok = fwrite(data, 1, len, f) == len;
  ok = (fclose(f) == 0) && ok;
  if (!ok) {
    remove(tmp);
    return ESPFLEET_CRYPTO_E_IO;
  }
  if (rename(tmp, path) != 0) {
    /* Some VFS drivers (SPIFFS) do not rename over an existing file. */
    remove(path);
    if (rename(tmp, path) != 0) {
      remove(tmp);
      return ESPFLEET_CRYPTO_E_IO;
    }
  }
  return ESPFLEET_CRYPTO_OK;
}

/*
 * The RNG and the encode buffers live on the heap: an ffi call runs on the Mongoose OS task
 * stack (8 KiB on ESP32), and mbedTLS's own *_pem writers put 4 KiB buffers on it, so the
 * DER is written here and armoured with mbedtls_pem_write_buffer.
 */
struct work {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  unsigned char der[DER_MAX];
  unsigned char pem[PEM_MAX];
};

static struct work *work_new(int *rc) {
  static const unsigned char pers[] = "espfleet_crypto";
  struct work *w = calloc(1, sizeof(*w));
  if (w == NULL) {
    *rc = ESPFLEET_CRYPTO_E_CRYPTO;
    return NULL;
  }
  mbedtls_entropy_init(&w->entropy);
  mbedtls_ctr_drbg_init(&w->drbg);
  *rc = mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &w->entropy, pers, sizeof(pers) - 1) == 0
            ? ESPFLEET_CRYPTO_OK
            : ESPFLEET_CRYPTO_E_CRYPTO;
  return w;
}

static void work_free(struct work *w) {
  if (w == NULL) return;
  mbedtls_ctr_drbg_free(&w->drbg);
  mbedtls_entropy_free(&w->entropy);
  mbedtls_platform_zeroize(w, sizeof(*w)); /* der/pem may have held the key */
  free(w);
}

/* n DER bytes at the end of w->der (as mbedTLS's *_der writers leave them) → PEM in w->pem. */
static int armour(struct work *w, int n, const char *label_begin, const char *label_end) {
  size_t olen = 0;
  if (n <= 0) return ESPFLEET_CRYPTO_E_CRYPTO;
  return mbedtls_pem_write_buffer(label_begin, label_end, w->der + sizeof(w->der) - n, (size_t) n, w->pem,
                                  sizeof(w->pem), &olen) == 0
             ? ESPFLEET_CRYPTO_OK
             : ESPFLEET_CRYPTO_E_CRYPTO;
}

static int load_key(const char *path, mbedtls_pk_context *pk) {
  unsigned char *buf;
  size_t len;
  int rc = read_file(path, &buf, &len);
  if (rc != ESPFLEET_CRYPTO_OK) return rc;
  rc = mbedtls_pk_parse_key(pk, buf, len + 1, NULL, 0) == 0 ? ESPFLEET_CRYPTO_OK : ESPFLEET_CRYPTO_E_PARSE;
  free_file(buf, len);
  return rc;
}

static int read_certs(const char *path, unsigned char **buf, size_t *len) {
  return read_file(path, buf, len);
}

/* Every certificate in the buffer must parse: a file with one bad block is a bad file. */
static int parse_certs(const unsigned char *buf, size_t len, mbedtls_x509_crt *crt) {
  return mbedtls_x509_crt_parse(crt, buf, len + 1) == 0 ? ESPFLEET_CRYPTO_OK : ESPFLEET_CRYPTO_E_PARSE;
}

int espfleet_keygen(char *key_path) {
  mbedtls_pk_context pk;
  struct work *w;
  FILE *existing;
  int rc;
  if (empty(key_path) || strlen(key_path) > ESPFLEET_CRYPTO_MAX_PATH) return ESPFLEET_CRYPTO_E_ARG;
  existing = fopen(key_path, "rb");
  if (existing != NULL) {
    fclose(existing);
    return ESPFLEET_CRYPTO_E_EXISTS;
  }
  mbedtls_pk_init(&pk);
  w = work_new(&rc);
  if (rc == ESPFLEET_CRYPTO_OK &&
      (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
       mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &w->drbg) != 0)) {
    rc = ESPFLEET_CRYPTO_E_CRYPTO;
  }
  if (rc == ESPFLEET_CRYPTO_OK) {
    rc = armour(w, mbedtls_pk_write_key_der(&pk, w->der, sizeof(w->der)), "-----BEGIN EC PRIVATE KEY-----\n",
                "-----END EC PRIVATE KEY-----\n");
  }
  if (rc == ESPFLEET_CRYPTO_OK) rc = write_file(key_path, w->pem, strlen((const char *) w->pem));
  mbedtls_pk_free(&pk);
  work_free(w);
  return rc;
}

int espfleet_csr(char *key_path, char *cn, char *out_path) {
  mbedtls_pk_context pk;
  mbedtls_x509write_csr req;
  struct work *w;
  char subject[3 + CN_MAX + 1];
  int rc;
  if (empty(key_path) || empty(out_path) || strlen(out_path) > ESPFLEET_CRYPTO_MAX_PATH || !valid_cn(cn)) {
    return ESPFLEET_CRYPTO_E_ARG;
  }
  mbedtls_pk_init(&pk);
  rc = load_key(key_path, &pk);
  if (rc != ESPFLEET_CRYPTO_OK) {
    mbedtls_pk_free(&pk);
    return rc;
  }
  if (mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY || mbedtls_pk_ec(pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
    mbedtls_pk_free(&pk);
    return ESPFLEET_CRYPTO_E_KEY_TYPE;
  }
  snprintf(subject, sizeof(subject), "CN=%s", cn);
  mbedtls_x509write_csr_init(&req);
  mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&req, &pk);
  w = work_new(&rc);
  if (rc == ESPFLEET_CRYPTO_OK && mbedtls_x509write_csr_set_subject_name(&req, subject) != 0) rc = ESPFLEET_CRYPTO_E_CRYPTO;
  if (rc == ESPFLEET_CRYPTO_OK) {
    rc = armour(w, mbedtls_x509write_csr_der(&req, w->der, sizeof(w->der), mbedtls_ctr_drbg_random, &w->drbg),
                "-----BEGIN CERTIFICATE REQUEST-----\n", "-----END CERTIFICATE REQUEST-----\n");
  }
  if (rc == ESPFLEET_CRYPTO_OK) rc = write_file(out_path, w->pem, strlen((const char *) w->pem));
  mbedtls_x509write_csr_free(&req);
  mbedtls_pk_free(&pk);
  work_free(w);
  return rc;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's days_from_civil). */
static long days_from_civil(long y, long m, long d) {
  long era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

double espfleet_cert_not_after(char *cert_path) {
  mbedtls_x509_crt crt;
  unsigned char *buf;
  size_t len;
  const mbedtls_x509_time *t;
  double out;
  int rc;
  if (empty(cert_path)) return ESPFLEET_CRYPTO_E_ARG;
  rc = read_certs(cert_path, &buf, &len);
  if (rc != ESPFLEET_CRYPTO_OK) return rc;
  mbedtls_x509_crt_init(&crt);
  rc = parse_certs(buf, len, &crt);
  free_file(buf, len);
  if (rc != ESPFLEET_CRYPTO_OK) {
    mbedtls_x509_crt_free(&crt);
    return rc;
  }
  t = &crt.valid_to;
  out = (double) days_from_civil(t->year, t->mon, t->day) * 86400.0 + t->hour * 3600.0 + t->min * 60.0 + t->sec;
  mbedtls_x509_crt_free(&crt);
  return out;
}

int espfleet_cert_matches(char *cert_path, char *key_path, char *ca_path) {
  mbedtls_x509_crt crt, ca;
  mbedtls_pk_context pk;
  unsigned char *cert_buf = NULL, *key_buf = NULL, *ca_buf = NULL;
  size_t cert_len = 0, key_len = 0, ca_len = 0;
  uint32_t flags = 0;
  int rc;
  if (empty(cert_path) || empty(key_path) || empty(ca_path)) return ESPFLEET_CRYPTO_E_ARG;
  mbedtls_x509_crt_init(&crt);
  mbedtls_x509_crt_init(&ca);
  mbedtls_pk_init(&pk);
  rc = read_certs(cert_path, &cert_buf, &cert_len);
  if (rc == ESPFLEET_CRYPTO_OK) rc = read_file(key_path, &key_buf, &key_len);
  if (rc == ESPFLEET_CRYPTO_OK) rc = read_certs(ca_path, &ca_buf, &ca_len);
  if (rc == ESPFLEET_CRYPTO_OK) rc = parse_certs(cert_buf, cert_len, &crt);
  if (rc == ESPFLEET_CRYPTO_OK && mbedtls_pk_parse_key(&pk, key_buf, key_len + 1, NULL, 0) != 0) rc = ESPFLEET_CRYPTO_E_PARSE;
  if (rc == ESPFLEET_CRYPTO_OK) rc = parse_certs(ca_buf, ca_len, &ca);
  if (rc == ESPFLEET_CRYPTO_OK && mbedtls_pk_check_pair(&crt.pk, &pk) != 0) rc = ESPFLEET_CRYPTO_E_KEY_MISMATCH;
  if (rc == ESPFLEET_CRYPTO_OK) {
    /* crt.next.. are the intermediates. Validity dates are the agent's business (see .h). */
    int v = mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL);
    flags &= ~((uint32_t) (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE));
    if ((v != 0 && v != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) || flags != 0) rc = ESPFLEET_CRYPTO_E_NOT_TRUSTED;
  }
  free_file(cert_buf, cert_len);
  free_file(key_buf, key_len);
  free_file(ca_buf, ca_len);
  mbedtls_pk_free(&pk);
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&ca);
  return rc;
}

/* --- cmd/keys (issue 21): public data only, nothing here touches a file. --- */

static int b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Strict Base64 (see espfleet_crypto.h) into out (room for ESPFLEET_CRYPTO_MAX_B64 bytes):
 * mbedtls_base64_decode alone would also take spaces and line breaks, which the double
 * (node:crypto) would read differently.
 */
static int b64_decode(const char *in, unsigned char *out, size_t *len) {
  size_t n = strlen(in), pad = 0, i;
  if (n == 0 || n > ESPFLEET_CRYPTO_MAX_B64 || n % 4 != 0) return ESPFLEET_CRYPTO_E_PARSE;
  while (pad < 2 && in[n - 1 - pad] == '=') pad++;
  for (i = 0; i < n - pad; i++) {
    if (!b64_char(in[i])) return ESPFLEET_CRYPTO_E_PARSE;
  }
  return mbedtls_base64_decode(out, ESPFLEET_CRYPTO_MAX_B64, len, (const unsigned char *) in, n) == 0 ? ESPFLEET_CRYPTO_OK
                                                                                                      : ESPFLEET_CRYPTO_E_PARSE;
}

/* The P-256 public key of spki_b64 into pk (initialised by the caller); its DER into der. */
static int load_spki(const char *spki_b64, mbedtls_pk_context *pk, unsigned char *der, size_t *len) {
  int rc = b64_decode(spki_b64, der, len);
  if (rc != ESPFLEET_CRYPTO_OK) return rc;
  if (mbedtls_pk_parse_public_key(pk, der, *len) != 0) return ESPFLEET_CRYPTO_E_PARSE;
  if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY || mbedtls_pk_ec(*pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
    return ESPFLEET_CRYPTO_E_KEY_TYPE;
  }
  return ESPFLEET_CRYPTO_OK;
}

int espfleet_p256_verify(char *spki_b64, char *msg, char *sig_b64) {
  mbedtls_pk_context pk;
  unsigned char *buf;
  unsigned char hash[32];
  size_t key_len = 0, sig_len = 0;
  int rc;
  if (empty(spki_b64) || empty(sig_b64) || msg == NULL) return ESPFLEET_CRYPTO_E_ARG;
  /* Two decode buffers on the heap, as everything else here (8 KiB task stack). */
  buf = malloc(2 * ESPFLEET_CRYPTO_MAX_B64);
  if (buf == NULL) return ESPFLEET_CRYPTO_E_CRYPTO;
  mbedtls_pk_init(&pk);
  rc = load_spki(spki_b64, &pk, buf, &key_len);
  if (rc == ESPFLEET_CRYPTO_OK) rc = b64_decode(sig_b64, buf + ESPFLEET_CRYPTO_MAX_B64, &sig_len);
  if (rc == ESPFLEET_CRYPTO_OK && mbedtls_sha256_ret((const unsigned char *) msg, strlen(msg), hash, 0) != 0) {
    rc = ESPFLEET_CRYPTO_E_CRYPTO;
  }
  if (rc == ESPFLEET_CRYPTO_OK &&
      mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), buf + ESPFLEET_CRYPTO_MAX_B64, sig_len) != 0) {
    rc = ESPFLEET_CRYPTO_E_BAD_SIG;
  }
  mbedtls_pk_free(&pk);
  free(buf);
  return rc;
}

char *espfleet_key_fp(char *spki_b64) {
  static char hex[65];
  static const char digits[] = "0123456789abcdef";
  mbedtls_pk_context pk;
  unsigned char *der;
  unsigned char hash[32];
  size_t len = 0;
  int i, rc;
  hex[0] = '\0';
  if (empty(spki_b64)) return hex;
  der = malloc(ESPFLEET_CRYPTO_MAX_B64);
  if (der == NULL) return hex;
  mbedtls_pk_init(&pk);
  rc = load_spki(spki_b64, &pk, der, &len);
  if (rc == ESPFLEET_CRYPTO_OK && mbedtls_sha256_ret(der, len, hash, 0) == 0) {
    for (i = 0; i < 32; i++) {
      hex[2 * i] = digits[hash[i] >> 4];
      hex[2 * i + 1] = digits[hash[i] & 15];
    }
    hex[64] = '\0';
  }
  mbedtls_pk_free(&pk);
  free(der);
  return hex;
}
