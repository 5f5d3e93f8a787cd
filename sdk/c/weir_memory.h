/* Allocation for the SDK's own files: out of memory ends the delivery (a
 * trap), as it would in any other language; there is nothing to recover. */
#ifndef WEIR_MEMORY_H
#define WEIR_MEMORY_H

#include <stdlib.h>
#include <string.h>

/* `size` zeroed bytes. */
static inline void *allocate(size_t size) {
    void *memory = calloc(1, size ? size : 1);
    if (!memory) abort();
    return memory;
}

static inline void *grow(void *memory, size_t size) {
    void *grown = realloc(memory, size ? size : 1);
    if (!grown) abort();
    return grown;
}

/* `len` bytes of `text`, NUL-terminated. */
static inline char *copy_n(const char *text, size_t len) {
    char *copied = allocate(len + 1);
    memcpy(copied, text, len);
    return copied;
}

static inline char *copy(const char *text) { return text ? copy_n(text, strlen(text)) : NULL; }

#endif
