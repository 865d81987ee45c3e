/* floats: printf of float, double and long double; strtod; a little libm;
 * long double (x87 80-bit) arithmetic. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static volatile double vd[] = {0.0, -0.0, 1.0, -1.5, 3.141592653589793, 1e-300, 5e-324,
			       1.7976931348623157e308, 123456789.125, 0.1, 2.0 / 3.0};

int main(void)
{
	float f = 1.1f;
	double d = 2.718281828459045;
	long double ld = 1.0L / 3.0L;
	int n = sizeof vd / sizeof vd[0];

	printf("float: %f %e %g %a\n", f, f, f, f);
	printf("double: %f %.17e %g %a\n", d, d, d, d);
	printf("long double: %Lf %.20Le %Lg %La\n", ld, ld, ld, ld);
	for (int i = 0; i < n; i++)
		printf("vd[%d]: %.6f %.10e %.17g %a\n", i, vd[i], vd[i], vd[i], vd[i]);
	printf("specials: %f %f %f %e %g\n", (double)INFINITY, -(double)INFINITY, (double)NAN,
	       (double)INFINITY, -(double)NAN);
	printf("widths: [%10.3f] [%-10.2e] [%+g] [%010.4f]\n", d, d, d, -d);

	const char *in[] = {"0", "1e10", "-2.5e-3", "0x1.8p1", "3.14159265358979323846",
			    "1e-320", "inf", "nan", "123abc", "  42.5"};
	for (unsigned i = 0; i < sizeof in / sizeof in[0]; i++) {
		char *end;
		double v = strtod(in[i], &end);
		printf("strtod(\"%s\") = %.17g rest=\"%s\"\n", in[i], v, end);
	}
	printf("strtold(\"1.1\") = %.21Lg\n", strtold("1.1", NULL));

	volatile double x = 2.0, y = 0.5;
	printf("sqrt(2) = %.17g\n", sqrt(x));
	printf("exp(0.5) = %.17g\n", exp(y));
	printf("log(2) = %.17g\n", log(x));
	printf("sin(0.5) = %.17g\n", sin(y));
	printf("cos(0.5) = %.17g\n", cos(y));
	printf("pow(2, 0.5) = %.17g\n", pow(x, y));
	printf("fmod(10.5, 3) = %.17g\n", fmod(10.5 * x / 2.0, 3.0));
	printf("floor/ceil/round/trunc(-2.5) = %g %g %g %g\n", floor(-2.5 * y * 2), ceil(-2.5 * y * 2),
	       round(-2.5 * y * 2), trunc(-2.5 * y * 2));
	printf("sqrtf(2) = %.9g\n", sqrtf((float)x));
	printf("lrint(2.5) = %ld, llround(-3.5) = %lld\n", lrint(2.5 * y * 2), llround(-3.5 * y * 2));

	/* long double arithmetic */
	volatile long double a = 1.0L, b = 3.0L;
	long double s = 0;
	for (int i = 1; i <= 20; i++)
		s += a / (i * b);
	printf("ld sum = %.21Lg\n", s);
	printf("ld mul = %.21Lg\n", (a + 1e-19L) * (b - 1e-19L));
	printf("ld sqrt(2) = %.21Lg\n", sqrtl(2.0L * a));
	printf("ld eps = %Lg, max = %Lg, min = %Lg\n", LDBL_EPSILON, LDBL_MAX, LDBL_MIN);
	printf("ld->d = %.17g, d->ld = %.21Lg\n", (double)(a / b), (long double)(1.0 / 3.0));
	printf("ld cmp: %d %d %d\n", a < b, a == b, a > b);
	long long ll = (long long)(b * 1e15L);
	printf("ld->ll = %lld, ll->ld = %.21Lg\n", ll, (long double)ll / 7);

	/* float arithmetic and conversions */
	float acc = 0;
	for (int i = 0; i < 1000; i++)
		acc += 0.001f * (float)i;
	printf("float acc = %.9g, (int)%d, (unsigned)%u\n", acc, (int)acc, (unsigned)(acc * 10));
	double da = 0;
	for (int i = 1; i <= 1000; i++)
		da += 1.0 / ((double)i * i);
	printf("basel = %.17g\n", da);
	return 0;
}
