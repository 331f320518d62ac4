// Internal: opening the segment's files without trusting what is at their paths.
//
// The segment lives in a world-writable directory (/dev/shm), so what is at a
// path may be anything another user or a clumsy operator put there: a FIFO (an
// open() that never returns), a device, a symbolic link to a file the agent
// must not write, a second name (hard link) of a file that another writer
// uses. These helpers look before they open (lstat: a FIFO is never opened, a
// device never touched), open without following or blocking (O_NOFOLLOW |
// O_NONBLOCK) and check that what they opened is what they looked at (fstat).
//
// Thread safety: stateless.
#pragma once

#include <sys/stat.h>

#include <string>

#include "timesync/types.hpp"

namespace timesync::files {

// What is at `path`, without following a final symbolic link: kOk for a
// regular file with one name; kNoSegment (nothing there), kSymlink,
// kNotRegular, kHardLink, kPermission or kIo otherwise. *st is lstat's answer
// whenever lstat succeeded.
Error inspect(const std::string& path, struct stat* st);

// inspect(), then open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) and
// fstat: the result must be the inode inspected (nothing swapped in between).
// On kOk *fd is open and *st describes it.
Error open_regular(const std::string& path, int flags, int* fd, struct stat* st);

bool same_file(const struct stat& a, const struct stat& b);
Error from_errno(int err);

// For messages: "a FIFO", "a directory", "a symbolic link to /etc/passwd",
// "a regular file with 2 names", ... and the owner's uid.
std::string describe(const std::string& path, const struct stat& st);

// "pid 1234 (timesync-agent)": the process holding a flock on fd's file, as
// the kernel says (/proc/locks, then /proc/PID/comm); "" if it cannot tell.
std::string flock_holder(int fd);

}  // namespace timesync::files
