#include "ckilnsys.h"
#include <sys/sysmacros.h>
#include <time.h>

unsigned int kiln_major(dev_t dev) { return major(dev); }
unsigned int kiln_minor(dev_t dev) { return minor(dev); }
dev_t kiln_makedev(unsigned int ma, unsigned int mi) { return makedev(ma, mi); }

int kiln_set_mtime(const char *path, long long sec, long nsec) {
    struct timespec ts[2];
    ts[0].tv_sec = sec; ts[0].tv_nsec = nsec;
    ts[1].tv_sec = sec; ts[1].tv_nsec = nsec;
    return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}
