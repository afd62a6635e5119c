#define _GNU_SOURCE
#include "ckilnsys.h"
#include <errno.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mount.h>
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

static int fsconfig_string(int fd, const char *key, const char *value) {
    return (int)syscall(SYS_fsconfig, fd, FSCONFIG_SET_STRING, key, value, 0);
}

static void fs_error(int fd, char *errbuf, int errlen) {
    if (!errbuf || errlen <= 0) return;
    errbuf[0] = 0;
    ssize_t n = read(fd, errbuf, (size_t)errlen - 1);  /* the fs context's log: "e overlay: ..." */
    if (n > 0) errbuf[n] = 0;
}

int kiln_overlay_mount(const char *target, const char *const *lowers, int nlowers, const char *upper,
                       const char *work, char *errbuf, int errlen) {
#if defined(SYS_fsopen) && defined(SYS_fsconfig) && defined(SYS_fsmount) && defined(SYS_move_mount)
    int fd = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
    if (fd < 0) return -1;
    int rc = 0, saved = 0;
    for (int i = 0; i < nlowers && rc == 0; i++) rc = fsconfig_string(fd, "lowerdir+", lowers[i]);
    if (rc == 0 && upper) rc = fsconfig_string(fd, "upperdir", upper);
    if (rc == 0 && work) rc = fsconfig_string(fd, "workdir", work);
    if (rc == 0) rc = fsconfig_string(fd, "redirect_dir", "off");
    if (rc == 0 && upper) rc = fsconfig_string(fd, "metacopy", "off");
    if (rc == 0) rc = (int)syscall(SYS_fsconfig, fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    if (rc != 0) {
        saved = errno;
        fs_error(fd, errbuf, errlen);
        close(fd);
        errno = saved;
        return -1;
    }
    int mfd = (int)syscall(SYS_fsmount, fd, FSMOUNT_CLOEXEC, upper ? 0 : MOUNT_ATTR_RDONLY);
    saved = errno;
    close(fd);
    if (mfd < 0) { errno = saved; return -1; }
    rc = (int)syscall(SYS_move_mount, mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    saved = errno;
    close(mfd);
    errno = saved;
    return rc;
#else
    errno = ENOSYS;
    return -1;
#endif
}

int kiln_overlay_mount_legacy(const char *target, const char *options, int readonly) {
    return mount("overlay", target, "overlay", readonly ? MS_RDONLY : 0, options);
}
