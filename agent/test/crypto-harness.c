/*
 * Host test driver for agent/src/espfleet_crypto.c (agent/test/crypto-helper.test.ts):
 * reads one call per line from stdin, "op<TAB>arg<TAB>arg…" (op: keygen, csr, not_after,
 * matches; an argument may be empty), runs it in the current directory and prints the
 * return value, one line per call. Prints nothing else, so a test can tell that no key
 * bytes come out.
 */
#include <stdio.h>
#include <string.h>

#include "../src/espfleet_crypto.h"

#define MAX_ARGS 3

int main(void) {
  char line[2048];
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
    } else {
      printf("unknown op %s\n", op);
      return 2;
    }
    fflush(stdout);
  }
  return 0;
}
