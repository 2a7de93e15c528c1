/*
 * The segment lock, written from docs/format.md ("Lock word protocol") alone,
 * in C: proof that the text suffices to interoperate.
 *
 * usage: lock_protocol NAME N [hold]
 *   Maps the named array NAME (an int64 array of at least 2 elements), does
 *   N locked increments of element 0, then with "hold" takes the lock, sets
 *   element 1 to -1, prints "holding" and waits to be killed. Prints 1 if
 *   any acquisition found the previous owner dead, else 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TID_MASK 0x3fffffffULL
#define WAITERS (1ULL << 31)
#define LOCK_OFFSET 128
#define HEADER_LEN_OFFSET 16

/* Fields 3 (state) and 22 (start time) of /proc/<...>/stat. */
static int read_stat(const char *path, char *state, uint64_t *start) {
    char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 3) *state = tok[0];
        if (field == 22) {
            *start = strtoull(tok, NULL, 10);
            return 0;
        }
    }
    return -1;
}

static uint64_t my_owner_word(void) {
    uint64_t tid = (uint64_t)syscall(SYS_gettid), start = 0;
    char state;
    if (read_stat("/proc/thread-self/stat", &state, &start) != 0) start = 0;
    return ((start & 0xffffffffULL) << 32) | (tid & TID_MASK);
}

static int owner_dead(uint64_t w) {
    pid_t tid = (pid_t)(w & TID_MASK);
    uint32_t recorded = (uint32_t)(w >> 32);
    int may_signal = 1;
    if (kill(tid, 0) == -1) {
        if (errno == ESRCH) return 1;
        may_signal = 0;
    }
    char path[64], state = '?';
    uint64_t start = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", tid);
    if (read_stat(path, &state, &start) != 0) return errno == ENOENT && may_signal;
    if (state == 'Z' || state == 'X') return 1;
    return recorded != 0 && (uint32_t)start != recorded;
}

static int futex_wait_ms(uint64_t *word, uint32_t expected, long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return (int)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

/* Returns 1 if the previous owner died holding the lock, else 0. */
static int lock(uint64_t *word, uint64_t me) {
    uint64_t v = 0;
    if (__atomic_compare_exchange_n(word, &v, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 0;
    for (;;) {
        v = __atomic_load_n(word, __ATOMIC_RELAXED);
        if ((v & TID_MASK) == 0) {
            if (__atomic_compare_exchange_n(word, &v, me | WAITERS, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return 0;
            continue;
        }
        if ((v & ~WAITERS) == me) abort(); /* deadlock */
        uint64_t flagged = v | WAITERS;
        if (v != flagged &&
            !__atomic_compare_exchange_n(word, &v, flagged, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        if (futex_wait_ms(word, (uint32_t)flagged, 50) == -1 && errno == ETIMEDOUT && owner_dead(flagged)) {
            uint64_t expected = flagged;
            if (__atomic_compare_exchange_n(word, &expected, me | WAITERS, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
                return 1;
        }
    }
}

static void unlock(uint64_t *word, uint64_t me) {
    if ((__atomic_load_n(word, __ATOMIC_RELAXED) & ~WAITERS) != me) abort(); /* not the owner */
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) & WAITERS)
        syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME N [hold]\n", argv[0]);
        return 2;
    }
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/ndshare.%s", argv[1]);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return 2;
    }
    uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    uint64_t header_len;
    memcpy(&header_len, base + HEADER_LEN_OFFSET, 8);
    uint64_t *word = (uint64_t *)(base + LOCK_OFFSET);
    int64_t *data = (int64_t *)(base + header_len);
    uint64_t me = my_owner_word();
    int died = 0;
    long n = strtol(argv[2], NULL, 10);
    for (long i = 0; i < n; i++) {
        died |= lock(word, me);
        data[0] += 1; /* a read and a write: only the lock keeps them together */
        unlock(word, me);
    }
    if (argc > 3 && strcmp(argv[3], "hold") == 0) {
        died |= lock(word, me);
        data[1] = -1;
        printf("holding\n");
        fflush(stdout);
        for (;;) pause();
    }
    printf("%d\n", died);
    return 0;
}
