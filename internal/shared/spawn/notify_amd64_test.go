package spawn

import "golang.org/x/sys/unix"

const sysFork, sysVfork = unix.SYS_FORK, unix.SYS_VFORK
