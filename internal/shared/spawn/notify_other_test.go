//go:build linux && !amd64

package spawn

// No fork or vfork system calls here (clone alone): numbers no call has.
const sysFork, sysVfork = 0xffffffff, 0xffffffff
