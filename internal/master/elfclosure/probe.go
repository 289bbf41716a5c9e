package elfclosure

import (
	"debug/elf"
	"fmt"
	"io"
	"strings"
)

// probe is a library file tried: what every search reaching the same
// path sees.
type probe struct {
	err     error // of the walk or the open: no such file, permission denied
	readErr error
	passed  []File
	file    File
	head    []byte // the first bytes, for open_verify
	info    *elfInfo
	infoErr error
	id      fileID
}

func (r *resolver) probe(abs string) *probe {
	if p, ok := r.probes[abs]; ok {
		return p
	}
	p := &probe{}
	r.probes[abs] = p
	o, passed, err := r.openPath(abs)
	if err != nil {
		p.err = err
		return p
	}
	defer o.f.Close()
	p.passed, p.file, p.id = passed, *regular(o), idOf(o.real, o.fi)
	head := make([]byte, 64)
	n, err := o.f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		p.readErr = err
		return p
	}
	p.head = head[:n]
	if strings.HasPrefix(string(p.head), elf.ELFMAG) {
		p.info, p.infoErr = readELF(o.f, o.fi.Size())
		if p.infoErr != nil {
			p.infoErr = fmt.Errorf("read ELF %s: %w", abs, p.infoErr)
		}
	}
	return p
}

// ldcache reads /etc/ld.so.cache once, when a search first reaches it, as
// the loader does. A cache the caller cannot read is no cache, for the
// loader too; it is then not shipped. One that is read is shipped: the
// node's loader must find in it what the master's did.
func (r *resolver) ldcache() (*LDCache, error) {
	if r.cacheSet {
		return r.cache, r.cacheErr
	}
	r.cacheSet = true
	o, passed, err := r.openPath(ldCachePath)
	if err != nil {
		return nil, nil
	}
	defer o.f.Close()
	data, err := io.ReadAll(io.LimitReader(o.f, maxCacheSize+1))
	if err == nil && len(data) > maxCacheSize {
		err = fmt.Errorf("larger than %d bytes", maxCacheSize)
	}
	if err == nil {
		r.cache, err = ParseLDCache(data)
	}
	if err != nil {
		r.cacheErr = fmt.Errorf("read %s: %w", ldCachePath, err)
		return nil, r.cacheErr
	}
	r.record(passed, regular(o))
	return r.cache, nil
}

const maxCacheSize = 64 << 20

const preloadPath = "/etc/ld.so.preload"

// preloadFile returns the names of /etc/ld.so.preload, which the loader
// reads for every program: separated by white space or colons, with #
// comments. The file is shipped, since the node's loader reads it too.
func (r *resolver) preloadFile() []string {
	o, passed, err := r.openPath(preloadPath)
	if err != nil {
		return nil
	}
	defer o.f.Close()
	data, err := io.ReadAll(io.LimitReader(o.f, 1<<20))
	if err != nil {
		return nil
	}
	r.record(passed, regular(o))
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		names = append(names, strings.FieldsFunc(line, func(c rune) bool {
			return c == ' ' || c == '\t' || c == ':'
		})...)
	}
	return names
}
