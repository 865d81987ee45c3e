/* hostfiles: what a guest may do to host files under emu. It tries to
 * open its own executable (visible through the default read-only mount of
 * its directory) for writing and with O_TRUNC, to create and to unlink a
 * file next to it, to open a host file outside every mount, and reads its
 * own ELF magic; each result is printed as the errno name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *err(int r)
{
	if (r >= 0)
		return "ok";
	switch (errno) {
	case EROFS:
		return "EROFS";
	case ENOENT:
		return "ENOENT";
	case ETXTBSY:
		return "ETXTBSY";
	}
	return strerror(errno);
}

int main(int argc, char **argv)
{
	(void)argc;
	char path[4096];
	snprintf(path, sizeof path, "%s.new", argv[0]);
	printf("open O_WRONLY: %s\n", err(open(argv[0], O_WRONLY)));
	printf("open O_RDWR: %s\n", err(open(argv[0], O_RDWR)));
	printf("open O_TRUNC: %s\n", err(open(argv[0], O_RDONLY | O_TRUNC)));
	printf("create: %s\n", err(open(path, O_CREAT | O_WRONLY, 0644)));
	printf("unlink: %s\n", err(unlink(argv[0])));
	printf("outside the mounts: %s\n", err(open("/etc/passwd", O_RDONLY)));
	int fd = open(argv[0], O_RDONLY);
	char magic[4] = {0};
	printf("read own ELF: %s %s\n", err(fd), read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4) ? "magic ok" : "bad magic");
	return 0;
}
