/*
 * Host test driver for agent/src/espfleet_crypto.c (agent/test/crypto-helper.test.ts):
 * reads one call per line from stdin, "op<TAB>arg<TAB>arg…" (op: keygen, csr, not_after,
 * matches, verify, fp; an argument may be empty), runs it in the current directory and prints
 * the return value, one line per call ("fp:<hex>" for fp). verify's and fp's arguments come as
 * hex (they may hold line breaks). Prints nothing else, so a test can tell that no key bytes come out.
 */
#include <stdio.h>
#include <string.h>

#include "../src/espfleet_crypto.h"

#define MAX_ARGS 3

/* Hex to bytes in place, NUL-terminated; returns 0 on odd length or a non-hex digit. */
static int unhex(char *s) {
  size_t n = strlen(s), i;
  if (n % 2 != 0) return 0;
  for (i = 0; i < n; i += 2) {
    unsigned v;
    if (sscanf(s + i, "%2x", &v) != 1) return 0;
    s[i / 2] = (char) v;
  }
  s[n / 2] = '\0';
  return 1;
}

int main(void) {
  char line[4096];
  while (fgets(line, sizeof(line), stdin) != NULL) {
    char *args[MAX_ARGS] = {"", "", ""};
    char *op = line;
    char *p;
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') continue;
    for (p = strchr(line, '\t'); p != NULL && n < MAX_ARGS; p = strchr(p, '\t')) {
      *p++ = '\0';
      args[n++] = p;
    }
    if (strcmp(op, "keygen") == 0) {
      printf("%d\n", espfleet_keygen(args[0]));
    } else if (strcmp(op, "csr") == 0) {
      printf("%d\n", espfleet_csr(args[0], args[1], args[2]));
    } else if (strcmp(op, "not_after") == 0) {
      printf("%.0f\n", espfleet_cert_not_after(args[0]));
    } else if (strcmp(op, "matches") == 0) {
      printf("%d\n", espfleet_cert_matches(args[0], args[1], args[2]));
    } else if (strcmp(op, "verify") == 0 && unhex(args[0]) && unhex(args[1]) && unhex(args[2])) {
      printf("%d\n", espfleet_p256_verify(args[0], args[1], args[2]));
    } else if (strcmp(op, "fp") == 0 && unhex(args[0])) {
      printf("fp:%s\n", espfleet_key_fp(args[0]));
    } else {
      printf("unknown op %s\n", op);
      return 2;
    }
    fflush(stdout);
  }
  return 0;
}
