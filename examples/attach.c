/*
 * Attach an ndshare array from C, with nothing but docs/format.md.
 *
 *     cc -std=c11 -O2 -o attach examples/attach.c
 *     ./attach NAME
 *
 * Opens /dev/shm/ndshare.NAME read-only, applies every check of
 * "Reading a segment: the checks", maps it, and prints the header and, for
 * the common numeric dtypes, the sum of all elements (walking the strides).
 * Exit status: 0 done, 2 cannot open, 3 not a valid segment, 64 usage.
 *
 * Little-endian machines only (the header is little-endian; a big-endian
 * reader would byte-swap every field).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define OFF_MAGIC 0
#define OFF_VERSION_MAJOR 8
#define OFF_VERSION_MINOR 10
#define OFF_STATE 12
#define OFF_HEADER_LEN 16
#define OFF_DATA_LEN 24
#define OFF_FLAGS 32
#define OFF_NDIM 40
#define OFF_DTYPE_LEN 44
#define OFF_ITEMSIZE 48
#define OFF_CREATOR_PID 64
#define OFF_KIND 84
#define OFF_SHAPE 1280

#define STATE_READY 0x52454459u
#define FLAG_NAMED 1u
#define MAX_NDIM 64
#define MAX_DTYPE_LEN 65536
#define HEADER_ALIGN 4096

static uint64_t rd(const unsigned char *b, size_t at, size_t size) {
    uint64_t v = 0;
    for (size_t i = size; i-- > 0;) v = (v << 8) | b[at + i];
    return v;
}

static int invalid(const char *why) {
    fprintf(stderr, "attach: not a valid ndshare segment: %s\n", why);
    return 3;
}

/* Whether `s[0..len)` is UTF-8 without control characters (U+0000-U+001F,
 * U+007F-U+009F), as docs/format.md requires of the dtype descriptor. */
static int printable_utf8(const unsigned char *s, uint64_t len) {
    for (uint64_t i = 0; i < len;) {
        unsigned c = s[i], n, cp;
        if (c < 0x80) n = 0, cp = c;
        else if (c >= 0xc2 && c <= 0xdf) n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef) n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4) n = 3, cp = c & 0x07;
        else return 0;
        if (len - i <= n) return 0;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 0;
        i += n + 1;
    }
    return 1;
}

/* pread until `len` bytes or end of file; returns the count read. */
static size_t read_at_most(int fd, unsigned char *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    return done;
}

static size_t header_len_for(uint64_t ndim, uint64_t dtype_len) {
    size_t need = OFF_SHAPE + 16 * ndim + dtype_len;
    return (need + HEADER_ALIGN - 1) / HEADER_ALIGN * HEADER_ALIGN;
}

/* Sums every element of a numeric array by walking shape and strides. */
static double sum_elements(const unsigned char *data, const char *dtype, uint64_t ndim,
                           const uint64_t *shape, const int64_t *strides) {
    uint64_t index[MAX_NDIM] = {0};
    double total = 0;
    for (uint64_t k = 0; k < ndim; k++)
        if (shape[k] == 0) return 0;
    for (;;) {
        int64_t off = 0;
        for (uint64_t k = 0; k < ndim; k++) off += (int64_t)index[k] * strides[k];
        const unsigned char *p = data + off;
        if (!strcmp(dtype, "<f4")) { float v; memcpy(&v, p, 4); total += v; }
        else if (!strcmp(dtype, "<f8")) { double v; memcpy(&v, p, 8); total += v; }
        else if (!strcmp(dtype, "<i4")) { int32_t v; memcpy(&v, p, 4); total += v; }
        else if (!strcmp(dtype, "<i8")) { int64_t v; memcpy(&v, p, 8); total += (double)v; }
        else if (!strcmp(dtype, "|u1")) total += *p;
        /* Next index, last axis fastest. */
        uint64_t k = ndim;
        while (k > 0 && ++index[k - 1] == shape[k - 1]) index[--k] = 0;
        if (k == 0) return total;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: attach NAME\n");
        return 64;
    }
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/ndshare.%s", argv[1]);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "attach: %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size == 0) return invalid("the segment is empty");
    uint64_t file_size = (uint64_t)st.st_size;

    /* 1. Read the first page, then the whole header if it announces more. */
    size_t want = file_size < HEADER_ALIGN ? (size_t)file_size : HEADER_ALIGN;
    unsigned char *h = malloc(want);
    size_t got = read_at_most(fd, h, want);
    if (got >= OFF_SHAPE) {
        uint64_t nd = rd(h, OFF_NDIM, 4), dl = rd(h, OFF_DTYPE_LEN, 4);
        size_t more = header_len_for(nd < MAX_NDIM ? nd : MAX_NDIM, dl < MAX_DTYPE_LEN ? dl : MAX_DTYPE_LEN);
        if (more > got && file_size > got) {
            want = file_size < more ? (size_t)file_size : more;
            h = realloc(h, want);
            got = read_at_most(fd, h, want);
        }
    }
    /* 2. - 5. */
    if (got < OFF_SHAPE) return invalid("too short for a header");
    if (memcmp(h + OFF_MAGIC, "NDSHARE\0", 8) != 0) return invalid("bad magic");
    unsigned major = (unsigned)rd(h, OFF_VERSION_MAJOR, 2), minor = (unsigned)rd(h, OFF_VERSION_MINOR, 2);
    if (major != 1) {
        fprintf(stderr, "attach: unsupported format version %u.%u (this reader knows 1.x)\n", major, minor);
        return 3;
    }
    if (rd(h, OFF_STATE, 4) != STATE_READY) return invalid("the header was never completed");
    /* Since 1.2: what the segment holds; this reader reads arrays (kind 0) only. */
    if (minor >= 2 && rd(h, OFF_KIND, 4) != 0) {
        fprintf(stderr, "attach: the segment holds a ring (kind %u), not an array\n", (unsigned)rd(h, OFF_KIND, 4));
        return 3;
    }
    /* 6. - 9. */
    uint64_t header_len = rd(h, OFF_HEADER_LEN, 8), data_len = rd(h, OFF_DATA_LEN, 8);
    uint64_t ndim = rd(h, OFF_NDIM, 4), dtype_len = rd(h, OFF_DTYPE_LEN, 4), itemsize = rd(h, OFF_ITEMSIZE, 8);
    if (ndim > MAX_NDIM) return invalid("too many dimensions");
    if (dtype_len < 1 || dtype_len > MAX_DTYPE_LEN) return invalid("bad dtype length");
    if (header_len % HEADER_ALIGN != 0 || header_len < OFF_SHAPE + 16 * ndim + dtype_len)
        return invalid("bad header length");
    if (header_len + data_len < header_len || header_len + data_len != file_size)
        return invalid("header and data lengths do not add up to the file size");
    if (got < OFF_SHAPE + 16 * ndim + dtype_len) return invalid("header extends past the bytes read");
    /* 10. */
    char *dtype = calloc(1, dtype_len + 1);
    memcpy(dtype, h + OFF_SHAPE + 16 * ndim, dtype_len);
    if (!printable_utf8((const unsigned char *)dtype, dtype_len))
        return invalid("dtype descriptor is not printable UTF-8");
    /* 11. - 12. */
    uint64_t shape[MAX_NDIM];
    int64_t strides[MAX_NDIM];
    unsigned __int128 count = 1;
    int empty = 0;
    __int128 lo = 0, hi = (__int128)itemsize;
    for (uint64_t k = 0; k < ndim; k++) {
        shape[k] = rd(h, OFF_SHAPE + 8 * k, 8);
        strides[k] = (int64_t)rd(h, OFF_SHAPE + 8 * ndim + 8 * k, 8);
        count *= shape[k];
        if (count > UINT64_MAX) return invalid("element count overflows");
        if (shape[k] == 0) empty = 1;
    }
    if (!empty) {
        for (uint64_t k = 0; k < ndim; k++) {
            __int128 reach = (__int128)strides[k] * (__int128)(shape[k] - 1);
            if (reach < 0) lo += reach; else hi += reach;
        }
        if (lo < 0 || hi > (__int128)data_len) return invalid("elements reach outside the data");
    }
    int named = (rd(h, OFF_FLAGS, 8) & FLAG_NAMED) != 0;
    if (!named) return invalid("a named file holds a segment not marked as named");

    /* Map it all; the data starts at header_len, page-aligned. */
    unsigned char *base = mmap(NULL, (size_t)file_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        fprintf(stderr, "attach: mmap: %s\n", strerror(errno));
        return 2;
    }
    uint32_t state = atomic_load_explicit((_Atomic uint32_t *)(base + OFF_STATE), memory_order_acquire);
    printf("version %u.%u state %s\n", major, minor, state == STATE_READY ? "ready" : "changed");
    printf("dtype %s\nitemsize %llu\nndim %llu\nshape", dtype, (unsigned long long)itemsize, (unsigned long long)ndim);
    for (uint64_t k = 0; k < ndim; k++) printf(" %llu", (unsigned long long)shape[k]);
    printf("\nstrides");
    for (uint64_t k = 0; k < ndim; k++) printf(" %lld", (long long)strides[k]);
    printf("\ndata_len %llu\ndata_aligned %d\ncreator_pid %llu\n", (unsigned long long)data_len,
           (int)((uintptr_t)(base + header_len) % 4096 == 0), (unsigned long long)rd(h, OFF_CREATOR_PID, 4));
    if (!strcmp(dtype, "<f4") || !strcmp(dtype, "<f8") || !strcmp(dtype, "<i4") || !strcmp(dtype, "<i8") ||
        !strcmp(dtype, "|u1"))
        printf("sum %.17g\n", sum_elements(base + header_len, dtype, ndim, shape, strides));
    munmap(base, (size_t)file_size);
    free(dtype);
    free(h);
    close(fd);
    return 0;
}
