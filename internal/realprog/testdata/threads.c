/* threads: four pthreads; a mutex-protected counter, an atomic counter, and a
 * condition variable that hands a token round the threads in a fixed order,
 * so the output does not depend on scheduling. */
#include <pthread.h>
#include <stdio.h>

enum { NTHREADS = 4, ADDS = 20000, ROUNDS = 25 };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long locked;      /* protected by mu */
static int turn;         /* protected by mu: whose turn it is to append */
static char order[NTHREADS * ROUNDS + 1]; /* protected by mu */
static int olen;         /* protected by mu */
static long atomic_count;

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	for (int i = 0; i < ADDS; i++) {
		pthread_mutex_lock(&mu);
		locked++;
		pthread_mutex_unlock(&mu);
		__atomic_fetch_add(&atomic_count, 1, __ATOMIC_SEQ_CST);
	}
	for (int r = 0; r < ROUNDS; r++) {
		pthread_mutex_lock(&mu);
		while (turn != id)
			pthread_cond_wait(&cv, &mu);
		order[olen++] = '0' + id;
		turn = (turn + 1) % NTHREADS;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	return (void *)(long)(id * 100);
}

int main(void)
{
	pthread_t t[NTHREADS];
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	long rets = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *ret;
		if (pthread_join(t[i], &ret) != 0) {
			perror("pthread_join");
			return 1;
		}
		rets += (long)ret;
	}
	printf("locked=%ld atomic=%ld rets=%ld\n", locked, atomic_count, rets);
	printf("order=%s\n", order);
	long cas = 0, expect = 0;
	while (!__atomic_compare_exchange_n(&cas, &expect, 7, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	long old = __atomic_exchange_n(&cas, 9, __ATOMIC_SEQ_CST);
	printf("cas: old=%ld new=%ld\n", old, cas);
	return 0;
}
