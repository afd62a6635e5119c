#ifndef CKILNSYS_H
#define CKILNSYS_H
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <fcntl.h>

/* major/minor/makedev are macros in <sys/sysmacros.h>; Swift needs functions. */
unsigned int kiln_major(dev_t dev);
unsigned int kiln_minor(dev_t dev);
dev_t kiln_makedev(unsigned int major, unsigned int minor);
/* utimensat with AT_SYMLINK_NOFOLLOW: sets atime and mtime to (sec, nsec). */
int kiln_set_mtime(const char *path, long long sec, long nsec);
#endif
