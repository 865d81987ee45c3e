// vmalock: four threads, each mapping its own region per round, storing to
// every page, discarding half with MADV_DONTNEED, reading back, making it
// read-only with mprotect and unmapping it: the per-VMA lock paths of
// -kernel 6.18 (faults and MADV_DONTNEED under the VMA lock, the writers'
// vma_start_write) against a native run.
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/mman.h>
#include <string.h>
#define T 4
#define N 64
static uint64_t sums[T];
static void *work(void *a) {
  long id = (long)a; uint64_t s = 0;
  for (int r = 0; r < 8; r++) {
    unsigned char *p = mmap(0, N*4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return (void*)1;
    for (int i = 0; i < N; i++) { p[i*4096] = (unsigned char)(id*31 + r*7 + i); }
    for (int i = 0; i < N; i += 2) madvise(p + i*4096, 4096, MADV_DONTNEED);
    for (int i = 0; i < N; i++) s = s*1315423911u + p[i*4096];
    mprotect(p, N*4096, PROT_READ);
    for (int i = 0; i < N; i++) s += p[i*4096];
    munmap(p, N*4096);
  }
  sums[id] = s; return 0;
}
int main(void) {
  pthread_t t[T];
  for (long i = 0; i < T; i++) pthread_create(&t[i], 0, work, (void*)i);
  for (int i = 0; i < T; i++) pthread_join(t[i], 0);
  for (int i = 0; i < T; i++) printf("%d %llu\n", i, (unsigned long long)sums[i]);
  return 0;
}
