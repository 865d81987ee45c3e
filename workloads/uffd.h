/*
 * uffd.h - the userfaultfd UAPI subset used by uffd_wp.c, transcribed
 * from include/uapi/linux/userfaultfd.h (v5.10). Own definitions so
 * that no system header is needed in a freestanding build; the
 * _Static_asserts below check the ioctl numbers against _IOWR and the
 * struct sizes against the kernel's.
 */
#ifndef UFFD_H
#define UFFD_H

#include "rt.h"

/* include/uapi/asm-generic/ioctl.h */
#define IOC_NRSHIFT 0
#define IOC_TYPESHIFT 8
#define IOC_SIZESHIFT 16
#define IOC_DIRSHIFT 30
#define IOC_WRITE 1U
#define IOC_READ 2U
#define IOC(dir, type, nr, size) \
	(((dir) << IOC_DIRSHIFT) | ((type) << IOC_TYPESHIFT) | ((nr) << IOC_NRSHIFT) | ((size) << IOC_SIZESHIFT))
#define IOWR(type, nr, size) IOC(IOC_READ | IOC_WRITE, (type), (nr), (size))
#define IOR(type, nr, size) IOC(IOC_READ, (type), (nr), (size))

#define UFFD_API 0xAAUL
#define UFFDIO 0xAAU

#define _UFFDIO_REGISTER 0x00
#define _UFFDIO_UNREGISTER 0x01
#define _UFFDIO_WAKE 0x02
#define _UFFDIO_COPY 0x03
#define _UFFDIO_ZEROPAGE 0x04
#define _UFFDIO_WRITEPROTECT 0x06
#define _UFFDIO_API 0x3F

struct uffdio_api {
	u64 api;
	u64 features;
	u64 ioctls; /* out */
};

struct uffdio_range {
	u64 start;
	u64 len;
};

#define UFFDIO_REGISTER_MODE_MISSING (1UL << 0)
#define UFFDIO_REGISTER_MODE_WP (1UL << 1)
struct uffdio_register {
	struct uffdio_range range;
	u64 mode;
	u64 ioctls; /* out */
};

#define UFFDIO_COPY_MODE_DONTWAKE (1UL << 0)
#define UFFDIO_COPY_MODE_WP (1UL << 1)
struct uffdio_copy {
	u64 dst;
	u64 src;
	u64 len;
	u64 mode;
	s64 copy; /* out */
};

#define UFFDIO_ZEROPAGE_MODE_DONTWAKE (1UL << 0)
struct uffdio_zeropage {
	struct uffdio_range range;
	u64 mode;
	s64 zeropage; /* out */
};

#define UFFDIO_WRITEPROTECT_MODE_WP (1UL << 0)
#define UFFDIO_WRITEPROTECT_MODE_DONTWAKE (1UL << 1)
struct uffdio_writeprotect {
	struct uffdio_range range;
	u64 mode;
};

#define UFFD_EVENT_PAGEFAULT 0x12
#define UFFD_PAGEFAULT_FLAG_WRITE (1UL << 0)
#define UFFD_PAGEFAULT_FLAG_WP (1UL << 1)

/* struct uffd_msg is __packed in the UAPI; this layout has no padding. */
struct uffd_msg {
	u8 event;     /* offset 0 */
	u8 reserved1;
	unsigned short reserved2;
	u32 reserved3;
	u64 flags;    /* offset 8: arg.pagefault.flags */
	u64 address;  /* offset 16: arg.pagefault.address */
	u32 ptid;     /* offset 24: arg.pagefault.feat.ptid */
	u32 reserved4;
};

#define UFFDIO_API 0xc018aa3fUL
#define UFFDIO_REGISTER 0xc020aa00UL
#define UFFDIO_UNREGISTER 0x8010aa01UL
#define UFFDIO_WAKE 0x8010aa02UL
#define UFFDIO_COPY 0xc028aa03UL
#define UFFDIO_ZEROPAGE 0xc020aa04UL
#define UFFDIO_WRITEPROTECT 0xc018aa06UL

_Static_assert(sizeof(struct uffdio_api) == 24, "uffdio_api size");
_Static_assert(sizeof(struct uffdio_range) == 16, "uffdio_range size");
_Static_assert(sizeof(struct uffdio_register) == 32, "uffdio_register size");
_Static_assert(sizeof(struct uffdio_copy) == 40, "uffdio_copy size");
_Static_assert(sizeof(struct uffdio_zeropage) == 32, "uffdio_zeropage size");
_Static_assert(sizeof(struct uffdio_writeprotect) == 24, "uffdio_writeprotect size");
_Static_assert(sizeof(struct uffd_msg) == 32, "uffd_msg size");
_Static_assert(__builtin_offsetof(struct uffd_msg, flags) == 8, "uffd_msg flags offset");
_Static_assert(__builtin_offsetof(struct uffd_msg, address) == 16, "uffd_msg address offset");
_Static_assert(UFFDIO_API == IOWR(UFFDIO, _UFFDIO_API, sizeof(struct uffdio_api)), "UFFDIO_API");
_Static_assert(UFFDIO_REGISTER == IOWR(UFFDIO, _UFFDIO_REGISTER, sizeof(struct uffdio_register)), "UFFDIO_REGISTER");
_Static_assert(UFFDIO_UNREGISTER == IOR(UFFDIO, _UFFDIO_UNREGISTER, sizeof(struct uffdio_range)), "UFFDIO_UNREGISTER");
_Static_assert(UFFDIO_WAKE == IOR(UFFDIO, _UFFDIO_WAKE, sizeof(struct uffdio_range)), "UFFDIO_WAKE");
_Static_assert(UFFDIO_COPY == IOWR(UFFDIO, _UFFDIO_COPY, sizeof(struct uffdio_copy)), "UFFDIO_COPY");
_Static_assert(UFFDIO_ZEROPAGE == IOWR(UFFDIO, _UFFDIO_ZEROPAGE, sizeof(struct uffdio_zeropage)), "UFFDIO_ZEROPAGE");
_Static_assert(UFFDIO_WRITEPROTECT == IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, sizeof(struct uffdio_writeprotect)), "UFFDIO_WRITEPROTECT");

#endif
