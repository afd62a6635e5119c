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
/* O_PATH (Linux; glibc hides it without _GNU_SOURCE). */
#define KILN_O_PATH 0x200000
/* openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (| RESOLVE_NO_XDEV when no_xdev):
   `path` is resolved as if `root_fd` were "/". Returns the fd, or -1 with errno (ENOSYS when
   the kernel lacks openat2). */
int kiln_openat_in_root(int root_fd, const char *path, int flags, int no_xdev);
/* An overlay mount at `target` with the new mount API (fsopen/fsconfig "lowerdir+"/fsmount,
   Linux 6.8+): `lowers` top first, `upper`/`work` NULL for a read-only view. Redirects and
   metacopy are off, so an upper directory always holds whole copies (a layer diff can be read
   from it alone). Returns 0, or -1 with errno; ENOSYS/EINVAL from "lowerdir+" mean the kernel
   lacks it (use kiln_overlay_mount_legacy). On failure `errbuf` may hold the kernel's message. */
int kiln_overlay_mount(const char *target, const char *const *lowers, int nlowers, const char *upper,
                       const char *work, char *errbuf, int errlen);
/* The same with mount(2) and one option string (limited to a page). */
int kiln_overlay_mount_legacy(const char *target, const char *options, int readonly);
#endif
