/* dynamic: a dynamically linked program (plain gcc: PIE, the host's
 * ld.so and libc): printf, malloc, a pthread, dlopen of libm.so.6 and a
 * call through dlsym; it ends with exit status 7. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *worker(void *arg)
{
	long *x = arg;
	*x *= 2;
	return NULL;
}

int main(int argc, char **argv)
{
	printf("dynamic: argc %d argv[1] %s\n", argc, argc > 1 ? argv[1] : "-");
	char *m = malloc(1 << 20);
	if (!m)
		return 1;
	memset(m, 'x', 1 << 20);
	printf("malloc: %c%c\n", m[0], m[(1 << 20) - 1]);
	free(m);
	pthread_t t;
	long v = 21;
	if (pthread_create(&t, NULL, worker, &v) != 0 || pthread_join(t, NULL) != 0)
		return 1;
	printf("thread: %ld\n", v);
	void *h = dlopen("libm.so.6", RTLD_NOW);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 3;
	}
	double (*sqrtp)(double) = (double (*)(double))dlsym(h, "sqrt");
	if (!sqrtp)
		return 4;
	printf("sqrt(2) = %.6f\n", sqrtp(2.0));
	fprintf(stderr, "dynamic: done\n");
	dlclose(h);
	return 7;
}
