#define _GNU_SOURCE
#include "ckilnsys.h"
#include <errno.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
_Static_assert(KILN_O_PATH == O_PATH, "O_PATH");

unsigned int kiln_major(dev_t dev) { return major(dev); }
unsigned int kiln_minor(dev_t dev) { return minor(dev); }
dev_t kiln_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }

int kiln_set_mtime(const char *path, long long sec, long nsec) {
    struct timespec ts[2];
    ts[0].tv_sec = sec; ts[0].tv_nsec = nsec;
    ts[1].tv_sec = sec; ts[1].tv_nsec = nsec;
    return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

int kiln_openat_in_root(int root_fd, const char *path, int flags, int no_xdev) {
#ifdef SYS_openat2
    struct open_how how = {0};
    how.flags = (unsigned long long)flags;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    if (no_xdev) how.resolve |= RESOLVE_NO_XDEV;
    return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
#else
    errno = ENOSYS;
    return -1;
#endif
}
