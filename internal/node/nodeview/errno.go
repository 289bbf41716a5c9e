package nodeview

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
)

// SFTP version 3 has status codes only for "no such file" and "permission
// denied"; every other failure on the master arrives as SSH_FX_FAILURE with
// the master's error text ("lstat /a/b: not a directory"). These are the
// errnos programs act on (Python's import machinery tells ENOTDIR from
// EACCES, the loader ELOOP from ENOENT), recognised by their text.
var textErrnos = []syscall.Errno{
	syscall.ENOTDIR, syscall.ELOOP, syscall.EISDIR, syscall.ENAMETOOLONG,
	syscall.EROFS, syscall.EINVAL, syscall.ENXIO, syscall.ENODEV,
}

// errno is what a FUSE request answers for err, an error from the sftp
// session or from the local cache.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e // a local one: ENOSPC writing the cache, ...
	}
	var st *sftp.StatusError
	if errors.As(err, &st) {
		if st.FxCode() == sftp.ErrSSHFxOpUnsupported {
			return syscall.ENOTSUP
		}
		msg := st.Error()
		for _, e := range textErrnos {
			if strings.Contains(msg, e.Error()) {
				return e
			}
		}
	}
	return syscall.EIO
}

// quiet reports whether err is an answer about the file (it is not there,
// the user may not read it) rather than a failure worth a log line.
func quiet(e syscall.Errno) bool {
	switch e {
	case 0, syscall.ENOENT, syscall.EACCES, syscall.ENOTDIR, syscall.ELOOP,
		syscall.EISDIR, syscall.ENAMETOOLONG, syscall.EINTR, syscall.ESTALE:
		return true
	}
	return false
}
