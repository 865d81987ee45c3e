/* abort: a message on stderr, then abort(): killed by SIGABRT (status 134). */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	fprintf(stderr, "about to abort\n");
	abort();
}
