#define _GNU_SOURCE
#include "CShmemaphoreShims.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * The fault guard: what libshmemaphore does with SIGBUS.
 *
 * Another process can shrink (ftruncate) a shared segment, or leave a hole in
 * it that a full /dev/shm cannot back, while this process has it mapped; an
 * access to such a page raises SIGBUS.  The library registers every mapping
 * of shared memory it makes as a region.  While the library itself accesses
 * a region it marks the region guarded; a SIGBUS whose address lies inside a
 * guarded region is repaired: the rest of the region is replaced by private
 * zero pages (mmap MAP_FIXED), the region is marked faulted, and the
 * faulting instruction runs again, now on memory that cannot fault.  The
 * library checks the faulted mark after every access and reports an error;
 * it never hands out data from a faulted region, and unmaps it.
 *
 * No sigsetjmp, no per-access system call: guarding costs two stores and one
 * load, inlined (CShmemaphoreShims.h).  Every other SIGBUS (a caller reading a zero-copy view, a bug
 * elsewhere in the program) goes to the handler that was installed before
 * ours, or to the default action.
 */

/* Four mappings per channel (two semaphores, two segments): room for about
 * a thousand channels per process; more get ENOMEM at open.  Every field is
 * accessed with __atomic builtins: the handler may run on any thread. */
struct shmemaphore_fault_region shmemaphore_fault_regions[SHMEMAPHORE_FAULT_REGION_SLOTS];
#define regions shmemaphore_fault_regions
enum { REGION_SLOTS = SHMEMAPHORE_FAULT_REGION_SLOTS };

static struct sigaction previous_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

static void chain_to_previous(int signal_number, siginfo_t *info, void *context) {
    if (previous_action.sa_flags & SA_SIGINFO) {
        if (previous_action.sa_sigaction) {
            previous_action.sa_sigaction(signal_number, info, context);
            return;
        }
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(signal_number);
        return;
    }
    /* Default (or ignored, which a synchronous fault cannot honour): restore
     * the default action; returning re-runs the access, which then
     * terminates the process with SIGBUS as it would have without us. */
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(SIGBUS, &fallback, NULL);
}

static void on_sigbus(int signal_number, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int slot = 0; slot < REGION_SLOTS; slot++) {
        struct shmemaphore_fault_region *region = &regions[slot];
        uintptr_t start = __atomic_load_n(&region->start, __ATOMIC_ACQUIRE);
        if (start == 0 || address < start)
            continue;
        size_t length = __atomic_load_n(&region->length, __ATOMIC_RELAXED);
        if (address - start >= length)
            continue;
        if (!__atomic_load_n(&region->guarded, __ATOMIC_RELAXED))
            break; /* our mapping, but not our access: not ours to hide */
        int saved_errno = errno;
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t from = address & ~(page - 1);
        void *replaced = mmap((void *)from, start + length - from, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        errno = saved_errno;
        if (replaced == MAP_FAILED)
            break;
        __atomic_store_n(&region->faulted, 1, __ATOMIC_RELEASE);
        return;
    }
    chain_to_previous(signal_number, info, context);
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    /* SA_NODEFER: a fault in another thread's guarded copy while this handler
     * runs must reach the handler too, not kill the process. */
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous_action) == -1)
        install_error = errno;
}

int shmemaphore_shim_fault_region_register(void *start, size_t length) {
    pthread_once(&install_once, install);
    if (install_error) {
        errno = install_error;
        return -1;
    }
    if (start == NULL || length == 0) {
        errno = EINVAL;
        return -1;
    }
    for (int slot = 0; slot < REGION_SLOTS; slot++) {
        struct shmemaphore_fault_region *region = &regions[slot];
        uintptr_t expected = 0;
        /* Claim the slot with a placeholder (no address is 1), fill it, then
         * publish the start. */
        if (!__atomic_compare_exchange_n(&region->start, &expected, (uintptr_t)1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        __atomic_store_n(&region->guarded, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&region->faulted, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&region->length, length, __ATOMIC_RELAXED);
        __atomic_store_n(&region->start, (uintptr_t)start, __ATOMIC_RELEASE);
        return slot;
    }
    errno = ENOMEM;
    return -1;
}

void shmemaphore_shim_fault_region_unregister(int slot) {
    if (slot < 0 || slot >= REGION_SLOTS)
        return;
    __atomic_store_n(&regions[slot].guarded, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&regions[slot].start, 0, __ATOMIC_RELEASE);
}
