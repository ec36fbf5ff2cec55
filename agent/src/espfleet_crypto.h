/*
 * espfleet_crypto: what the mJS agent cannot do itself (issue 14, renewal with the key kept
 * on the board): make a P-256 key into a file, write a PKCS#10 CSR with it, read a
 * certificate's notAfter, and check that a certificate belongs to a key and chains to the
 * fleet CA. Written against mbedTLS 2.x as Mongoose OS ships it.
 *
 * The surface is mJS ffi-friendly (spec mongoose-os.md §5.3: int/double/char * only, at
 * most 6 arguments), every argument is a path on the board's filesystem, and no function
 * ever hands key bytes back: the private key goes from the RNG into key_path and is only
 * read back from there.
 *
 *   let keygen = ffi('int espfleet_keygen(char *)');
 *   let csr = ffi('int espfleet_csr(char *, char *, char *)');
 *   let notAfter = ffi('double espfleet_cert_not_after(char *)');
 *   let matches = ffi('int espfleet_cert_matches(char *, char *, char *)');
 *   let verify = ffi('int espfleet_p256_verify(char *, char *, char *)');
 *   let keyFp = ffi('char *espfleet_key_fp(char *)');
 *
 * The last two (issue 21, signing-key rotation: the agent's cmd/keys) take public data only:
 * a Base64 SPKI as update.key<i> holds it, the signed text, a Base64 DER signature.
 *
 * The same names and return codes are served in the virtual board by
 * hil-tests/mongoose-os/agent-crypto.ts; agent/test/crypto-contract.ts holds the cases
 * both are tested against.
 */
#ifndef ESPFLEET_CRYPTO_H
#define ESPFLEET_CRYPTO_H

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes (ints; espfleet_cert_not_after returns them as doubles). */
#define ESPFLEET_CRYPTO_OK 0
/* A NULL, empty or too long (> ESPFLEET_CRYPTO_MAX_PATH bytes) path to write, or a CN that is not a device id (1-64 of A-Z a-z 0-9 _ - .,
 * starting with a letter or digit: no ',', '=', '\\' that would add RDNs to the subject). */
#define ESPFLEET_CRYPTO_E_ARG (-1)
/* A file cannot be read (missing, too large) or written. */
#define ESPFLEET_CRYPTO_E_IO (-2)
/* A key or certificate file does not parse (garbage, truncated, wrong PEM type). */
#define ESPFLEET_CRYPTO_E_PARSE (-3)
/* The RNG, key generation or signing failed. */
#define ESPFLEET_CRYPTO_E_CRYPTO (-4)
/* espfleet_cert_matches: the certificate's public key is not the key in key_path. */
#define ESPFLEET_CRYPTO_E_KEY_MISMATCH (-5)
/* espfleet_cert_matches: the certificate does not chain to a certificate in ca_path
 * (through the certificates after the first in cert_path, if any). */
#define ESPFLEET_CRYPTO_E_NOT_TRUSTED (-6)
/* espfleet_csr: the key in key_path is not EC P-256. */
#define ESPFLEET_CRYPTO_E_KEY_TYPE (-7)
/* espfleet_keygen: key_path exists already; a key is never overwritten (remove it first). */
#define ESPFLEET_CRYPTO_E_EXISTS (-8)
/* espfleet_p256_verify: the signature does not verify (or is not a DER ECDSA signature). */
#define ESPFLEET_CRYPTO_E_BAD_SIG (-9)

/* Largest file read (certificate chains, keys). */
#define ESPFLEET_CRYPTO_MAX_FILE 8192
/* Longest path written (key_path of keygen, out_path of csr). */
#define ESPFLEET_CRYPTO_MAX_PATH 256
/* Longest Base64 key or signature taken by espfleet_p256_verify / espfleet_key_fp (a P-256 SPKI is 124). */
#define ESPFLEET_CRYPTO_MAX_B64 256

/*
 * A new EC P-256 key, written to key_path as PEM ("EC PRIVATE KEY", SEC1) through
 * "<key_path>.tmp" and a rename, so a power cut leaves no half key at key_path.
 * Returns OK, E_ARG, E_EXISTS, E_CRYPTO or E_IO.
 */
int espfleet_keygen(char *key_path);

/*
 * A PKCS#10 CSR (PEM "CERTIFICATE REQUEST"), subject CN=<cn>, signed ecdsa-with-SHA256 by
 * the key in key_path, written to out_path. The CSR holds only the public key.
 * Returns OK, E_ARG, E_IO, E_PARSE, E_KEY_TYPE or E_CRYPTO.
 */
int espfleet_csr(char *key_path, char *cn, char *out_path);

/*
 * The notAfter of the first certificate in cert_path as Unix time (seconds, UTC; a double
 * so dates past 2038 survive), or a negative return code (E_ARG, E_IO, E_PARSE).
 */
double espfleet_cert_not_after(char *cert_path);

/*
 * OK when the first certificate in cert_path holds the public key of the private key in
 * key_path and chains to a certificate in ca_path (PEM, one or more). Checked in this
 * order: arguments (E_ARG), reading the three files (E_IO), parsing them (E_PARSE), the key
 * (E_KEY_MISMATCH), the chain (E_NOT_TRUSTED). Validity dates are NOT checked (a board
 * may not have its clock yet; the agent compares espfleet_cert_not_after with the time).
 */
int espfleet_cert_matches(char *cert_path, char *key_path, char *ca_path);

/*
 * OK when sig_b64 (Base64 of a DER ECDSA signature) verifies over SHA-256 of msg (its
 * strlen bytes) with the EC P-256 public key spki_b64 (Base64 of a DER SubjectPublicKeyInfo,
 * the form of update.key<i>). Base64 is strict: only A-Z a-z 0-9 + /, a length that is a
 * multiple of 4, at most two '=' at the end, at most ESPFLEET_CRYPTO_MAX_B64 characters.
 * Checked in this order: arguments (E_ARG: NULL or empty key or signature, NULL msg), the key
 * (E_PARSE: not Base64 or not an SPKI; E_KEY_TYPE: not EC P-256), the signature (E_PARSE: not
 * Base64; E_BAD_SIG: does not verify).
 */
int espfleet_p256_verify(char *spki_b64, char *msg, char *sig_b64);

/*
 * The key's fingerprint: 64 lowercase hex digits of SHA-256 over the DER that spki_b64
 * decodes to (what `espfleet` records per key slot), or "" when spki_b64 is NULL, empty or
 * not an EC P-256 SPKI by the rules of espfleet_p256_verify. The result is a static buffer,
 * valid until the next call (mJS copies it into a string at once).
 */
char *espfleet_key_fp(char *spki_b64);

#ifdef __cplusplus
}
#endif

#endif /* ESPFLEET_CRYPTO_H */
