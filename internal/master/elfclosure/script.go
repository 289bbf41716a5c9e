package elfclosure

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// binprmBufSize is BINPRM_BUF_SIZE: all of a #! line the kernel reads.
const binprmBufSize = 256

// defaultPath is what execvp searches when PATH is unset (glibc's
// _CS_PATH).
const defaultPath = "/bin:/usr/bin"

func spaceTab(c byte) bool { return c == ' ' || c == '\t' }

// parseShebang splits a #! line as Linux's load_script (fs/binfmt_script.c,
// 5.0 and later) does, from the first bytes of the file: the interpreter
// ends at the first space, tab or NUL; what follows, trimmed, is one
// argument, however many words it has. A line cut short by the buffer is
// refused only if the interpreter itself may be cut. Nothing is cleaned
// beyond that: "#!/bin/sh\r" names "/bin/sh\r", which does not exist, as
// the kernel finds.
func parseShebang(head []byte) (interp, arg string, err error) {
	noexec := fmt.Errorf("#! line: %w", syscall.ENOEXEC)
	if len(head) < 2 || head[0] != '#' || head[1] != '!' {
		return "", "", noexec
	}
	// The kernel's buffer is zero-filled past the end of a short file.
	buf := make([]byte, binprmBufSize)
	copy(buf, head)
	last := len(buf) - 1

	// nextNonSpaceTab and nextTerminator search buf[first..last],
	// inclusive, and return -1 for none, as the kernel's helpers do.
	nextNonSpaceTab := func(first, last int) int {
		for ; first <= last; first++ {
			if !spaceTab(buf[first]) {
				return first
			}
		}
		return -1
	}
	nextTerminator := func(first, last int) int {
		for ; first <= last; first++ {
			if spaceTab(buf[first]) || buf[first] == 0 {
				return first
			}
		}
		return -1
	}

	// strnchr stops at a NUL: a newline after one is not seen.
	end := -1
	for i, c := range buf {
		if c == 0 {
			break
		}
		if c == '\n' {
			end = i
			break
		}
	}
	if end < 0 {
		end = nextNonSpaceTab(2, last)
		if end < 0 {
			return "", "", noexec // all spaces and tabs
		}
		if nextTerminator(end, last) < 0 {
			return "", "", noexec // the interpreter may be cut short
		}
		end = last
	}
	for spaceTab(buf[end-1]) {
		end--
	}
	name := nextNonSpaceTab(2, end)
	if name < 0 || name == end {
		return "", "", noexec // no interpreter
	}
	argAt := -1
	sep := nextTerminator(name, end)
	if sep >= 0 && buf[sep] != 0 {
		argAt = nextNonSpaceTab(sep, end)
	}
	buf[end] = 0
	if argAt >= 0 {
		arg = cStr(buf[argAt:])
	}
	if sep >= 0 {
		buf[sep] = 0
	}
	return cStr(buf[name:]), arg, nil
}

func cStr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// envCommand returns the program env(1) (GNU coreutils) runs when it is a
// script's interpreter and arg is the #! argument, and the PATH it looks
// for it in. The kernel hands env the argument as one word, so
// "#!/usr/bin/env python3 -u" asks for a program called "python3 -u";
// only -S splits it. ok is false when env runs no command of its own.
func envCommand(arg, path string) (cmd, cmdPath string, ok bool) {
	words := []string{arg}
	if rest, split := strings.CutPrefix(arg, "-S"); split {
		words = strings.Fields(rest)
	} else if rest, split := strings.CutPrefix(arg, "--split-string="); split {
		words = strings.Fields(rest)
	}
	cmdPath = path
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "":
			return "", "", false
		case w == "--":
			if i+1 < len(words) {
				return words[i+1], cmdPath, true
			}
			return "", "", false
		case w == "-i" || w == "-" || w == "--ignore-environment":
			cmdPath = defaultPath // PATH is gone, and execvp falls back
		case w == "-u" || w == "-C" || w == "--unset" || w == "--chdir":
			i++ // the option's argument
		case strings.HasPrefix(w, "-"):
			// -0, -v, -uNAME, --unset=NAME, --chdir=DIR and the like.
		case strings.Contains(w, "="):
			if v, isPath := strings.CutPrefix(w, "PATH="); isPath && !strings.Contains(v, "$") {
				cmdPath = v
			}
		default:
			return w, cmdPath, true
		}
	}
	return "", "", false
}

// lookPath finds file as execvp does: a name with a slash is taken as it
// is (from the working directory if relative); otherwise each element of
// path is tried, an empty one meaning the working directory. A file found
// but not executable is passed over, and reported (EACCES) only if
// nothing else is found.
func (r *resolver) lookPath(file, path string) (string, error) {
	if file == "" {
		return "", &fs.PathError{Op: "find", Path: file, Err: syscall.ENOENT}
	}
	if strings.Contains(file, "/") {
		return absolute(file, r.cwd), nil
	}
	sawEACCES := false
	for _, dir := range strings.Split(path, ":") {
		cand := file
		if dir != "" {
			cand = strings.TrimRight(dir, "/") + "/" + file
		}
		cand = absolute(cand, r.cwd)
		err := r.executable(cand)
		switch {
		case err == nil:
			return cand, nil
		case errors.Is(err, syscall.EACCES):
			sawEACCES = true
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR),
			errors.Is(err, syscall.ESTALE), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ETIMEDOUT):
		default:
			return "", err
		}
	}
	if sawEACCES {
		return "", &fs.PathError{Op: "find", Path: file, Err: syscall.EACCES}
	}
	return "", &fs.PathError{Op: "find", Path: file, Err: syscall.ENOENT}
}

// executable reports why execve of p would fail before reading it.
func (r *resolver) executable(p string) error {
	real, _, err := r.w.walk(p)
	if err != nil {
		return err
	}
	fi, err := r.w.lstat(real)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return &fs.PathError{Op: "execute", Path: p, Err: syscall.EACCES}
	}
	return nil
}
