/* avx: what CPUID tells a program (through libgcc's
 * __builtin_cpu_supports), then an AVX instruction regardless. emu's CPU
 * has no AVX: the program must see that and, executing VPXOR anyway, die
 * of SIGILL (status 132), as on a CPU without AVX. */
#include <stdio.h>

int main(void)
{
	__builtin_cpu_init();
	printf("sse2 %d sse3 %d ssse3 %d sse4.1 %d sse4.2 %d popcnt %d\n",
	       !!__builtin_cpu_supports("sse2"), !!__builtin_cpu_supports("sse3"),
	       !!__builtin_cpu_supports("ssse3"), !!__builtin_cpu_supports("sse4.1"),
	       !!__builtin_cpu_supports("sse4.2"), !!__builtin_cpu_supports("popcnt"));
	printf("avx %d avx2 %d fma %d bmi %d bmi2 %d avx512f %d\n",
	       !!__builtin_cpu_supports("avx"), !!__builtin_cpu_supports("avx2"),
	       !!__builtin_cpu_supports("fma"), !!__builtin_cpu_supports("bmi"),
	       !!__builtin_cpu_supports("bmi2"), !!__builtin_cpu_supports("avx512f"));
	fflush(stdout);
	__asm__ volatile("vpxor %%xmm1, %%xmm1, %%xmm1" ::: "xmm1");
	printf("AVX ran\n");
	return 0;
}
