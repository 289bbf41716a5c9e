package elfclosure

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// loader follows one run of ld.so for one executable: glibc 2.36's
// _dl_map_object_deps and _dl_map_object (elf/dl-deps.c, elf/dl-load.c).
type loader struct {
	r       *resolver
	abi     *abi
	main    *object
	objs    []*object   // the namespace's list: what a name is matched against
	lib     string      // $LIB
	sysDirs []searchDir // the built-in directories
	llp     []searchDir // LD_LIBRARY_PATH, decomposed
	secure  bool
	err     error // a malformed ld.so.cache: the search cannot be predicted
}

// object is a loaded ELF file (a struct link_map).
type object struct {
	names  []string // every name it was asked for (l_libname)
	path   string   // the name it was opened by (l_name)
	info   *elfInfo
	id     fileID
	origin string  // $ORIGIN
	loader *object // whose DT_NEEDED loaded it first (l_loader): the RPATH chain
	isMain bool

	rpath, runpath         []searchDir
	rpathDone, runpathDone bool
}

// searchDir is a directory of a search list, ending in "/". cpu is set
// when only some CPUs' loaders search it (it came from a $PLATFORM).
type searchDir struct{ path, cpu string }

// matches is _dl_map_object's test of whether name is already loaded:
// by a name it was asked for or opened by, or by its DT_SONAME. The
// executable has no name the loader knows, only its soname.
func (o *object) matches(name string) bool {
	if !o.isMain && (name == o.path || slices.Contains(o.names, name)) {
		return true
	}
	return o.info.soname != "" && name == o.info.soname
}

func newLoader(r *resolver, a *abi, main, rtld *object, secure bool) *loader {
	ld := &loader{r: r, abi: a, main: main, objs: []*object{main, rtld}, secure: secure}
	lib, sys := a.layout(r.w.isDir)
	ld.lib = lib
	for _, d := range sys {
		ld.sysDirs = append(ld.sysDirs, searchDir{path: d})
	}
	if llp, ok := r.getenv("LD_LIBRARY_PATH"); ok && llp != "" && !secure {
		ld.llp = ld.decompose(llp, ":;", main)
	}
	return ld
}

// run loads the preloads and then the dependencies, breadth first: the
// order decides which search finds a library asked for twice, since the
// second request matches what the first loaded.
func (ld *loader) run() error {
	queue := []*object{ld.main}
	if v, ok := ld.r.getenv("LD_PRELOAD"); ok && !ld.secure {
		for _, name := range strings.FieldsFunc(v, func(c rune) bool { return c == ' ' || c == ':' }) {
			queue = append(queue, ld.mapObject(name, ld.main, "LD_PRELOAD", false)...)
		}
	}
	for _, name := range ld.r.preloadFile() {
		queue = append(queue, ld.mapObject(name, ld.main, preloadPath, false)...)
	}
	for i := 0; i < len(queue) && ld.err == nil; i++ {
		l := queue[i]
		for _, d := range l.info.needed {
			exps := ld.expand(d.name, l)
			if len(exps) == 0 {
				if !d.optional {
					ld.r.addMissing(Missing{Name: d.name, By: l.path, Reason: "empty dynamic string token substitution"})
				}
				continue
			}
			name := exps[0].s
			if len(exps) > 1 && strings.Contains(name, "/") {
				name = d.name // a path per CPU: mapObject tries each
			}
			queue = append(queue, ld.mapObject(name, l, l.path, d.optional)...)
		}
	}
	return ld.err
}

// hit is a library file a search found.
type hit struct {
	path   string // as the loader built it: directory and name
	cpu    string // the hwcaps subdirectory or cache hwcap it needs, or ""
	p      *probe
	reason string // why it cannot be used, for a bad one
}

// outcome collects one search.
type outcome struct {
	alts       []hit // copies only some CPUs take
	found      *hit  // the copy every loader reaching it takes: the search ends
	bad        *hit  // a file the loader stops the program on: the search ends
	otherClass *hit  // a file of the other ELF class, passed over
}

func (o *outcome) done() bool { return o.found != nil || o.bad != nil }

// mapObject is _dl_map_object: it returns the objects newly loaded for
// name (none if it was loaded already or is not found).
func (ld *loader) mapObject(name string, by *object, byName string, optional bool) []*object {
	for _, o := range ld.objs {
		if o.matches(name) {
			return nil
		}
	}
	var out outcome
	if strings.Contains(name, "/") {
		// A name with a slash is a path, from the working directory if
		// relative: no search.
		for _, p := range ld.expand(name, by) {
			ld.try(p.s, p.cpu, &out)
		}
	} else {
		ld.search(name, by, &out)
	}
	return ld.settle(name, by, byName, optional, &out)
}

// search tries the loader's sources in its order. DT_RPATH counts only
// when the asking object has no DT_RUNPATH, and then it is the RPATH of
// the asking object, of the one that loaded it, and so on up to the
// executable; DT_RUNPATH is the asking object's own only.
func (ld *loader) search(name string, by *object, out *outcome) {
	if !by.info.hasRunpath {
		didMain := false
		for l := by; l != nil && !out.done(); l = l.loader {
			if !l.info.hasRPath {
				continue
			}
			ld.searchDirs(name, ld.rpathOf(l), out)
			didMain = didMain || l == ld.main
		}
		if !out.done() && !didMain && ld.main.info.hasRPath {
			ld.searchDirs(name, ld.rpathOf(ld.main), out)
		}
	}
	if !out.done() && ld.llp != nil {
		ld.searchDirs(name, ld.llp, out)
	}
	if !out.done() && by.info.hasRunpath {
		ld.searchDirs(name, ld.runpathOf(by), out)
	}
	// DF_1_NODEFLIB keeps the asking object away from the cache's
	// entries in the built-in directories and from those directories.
	noDefLib := by.info.noDefLib
	if !out.done() {
		ld.searchCache(name, noDefLib, out)
	}
	if !out.done() && !noDefLib {
		ld.searchDirs(name, ld.sysDirs, out)
	}
}

// searchDirs is open_path: in each directory the hwcaps subdirectories,
// then the directory itself.
func (ld *loader) searchDirs(name string, dirs []searchDir, out *outcome) {
	for _, dir := range dirs {
		for _, sub := range ld.abi.subdirs {
			ld.try(dir.path+sub+name, dir.cpu+sub, out)
		}
		err := ld.try(dir.path+name, dir.cpu, out)
		if out.done() {
			return
		}
		// open_path gives up on the rest of a list at an error other
		// than "no such file" or "permission denied".
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return
		}
	}
}

const ldCachePath = "/etc/ld.so.cache"

func (ld *loader) searchCache(name string, noDefLib bool, out *outcome) {
	c, err := ld.r.ldcache()
	if err != nil {
		ld.err = err
		return
	}
	if c == nil {
		return
	}
	for _, e := range c.Lookup(name, ld.abi.cacheID) {
		if noDefLib && slices.ContainsFunc(ld.sysDirs, func(d searchDir) bool { return strings.HasPrefix(e.Path, d.path) }) {
			continue
		}
		cpu := ""
		switch {
		case e.HWCapDir != "":
			cpu = "glibc-hwcaps/" + e.HWCapDir + "/"
		case e.HWCap != 0:
			cpu = fmt.Sprintf("hwcap %#x", e.HWCap)
		}
		// If the loader cannot use the entry it takes, it goes on to the
		// built-in directories, not to another entry.
		ld.try(e.Path, cpu, out)
	}
}

// try is open_verify on one path. A copy that only some CPUs would take
// and that the loader could not use is passed over: a node whose CPU
// takes it gets the next copy instead of the master's error.
func (ld *loader) try(path, cpu string, out *outcome) error {
	p := ld.r.probe(absolute(path, ld.r.cwd))
	if p.err != nil {
		return p.err
	}
	h := hit{path: path, cpu: cpu, p: p}
	v, reason := checkHeader(p.head, ld.abi)
	switch {
	case p.readErr != nil:
		v, reason = unusable, "cannot read file data: "+describe(p.readErr)
	case v == usable && p.infoErr != nil:
		v, reason = unusable, p.infoErr.Error()
	}
	switch v {
	case otherClass:
		h.reason = reason
		if out.otherClass == nil {
			out.otherClass = &h
		}
	case usable:
		if cpu != "" {
			out.alts = append(out.alts, h)
		} else {
			out.found = &h
		}
	case unusable:
		if cpu == "" {
			h.reason = reason
			out.bad = &h
		}
	}
	return nil
}

// settle loads what a search found, or says why nothing was.
func (ld *loader) settle(name string, by *object, byName string, optional bool, out *outcome) []*object {
	var added []*object
	for _, h := range out.alts {
		if o := ld.add(name, h, by, byName); o != nil {
			added = append(added, o)
		}
	}
	switch {
	case out.found != nil:
		if o := ld.add(name, *out.found, by, byName); o != nil {
			added = append(added, o)
		}
	case out.bad != nil:
		ld.fail(name, byName, *out.bad)
	case len(out.alts) > 0 || optional:
	case out.otherClass != nil:
		// Shipped too, so that the node's loader finds it and gives the
		// same message, which names the library, not the file.
		h := out.otherClass
		ld.r.record(h.p.passed, &h.p.file)
		ld.r.addMissing(Missing{Name: name, By: byName, Reason: h.reason})
	default:
		ld.r.addMissing(Missing{Name: name, By: byName, Reason: "cannot open shared object file: No such file or directory"})
	}
	return added
}

func (ld *loader) fail(name, byName string, h hit) {
	ld.r.record(h.p.passed, &h.p.file)
	ld.r.addMissing(Missing{Name: name, By: byName, Path: h.path, Reason: h.reason})
}

// add is _dl_map_object_from_fd: a file already loaded under another
// name is that object again; otherwise a new one.
func (ld *loader) add(name string, h hit, by *object, byName string) *object {
	p := h.p
	ld.r.record(p.passed, &p.file)
	for _, o := range ld.objs {
		if o.id == p.id {
			o.names = append(o.names, name)
			return nil
		}
	}
	switch {
	case p.info.typ != elf.ET_DYN:
		h.reason = "cannot dynamically load executable"
	case p.info.pie:
		h.reason = "cannot dynamically load position-independent executable"
	}
	if h.reason != "" {
		ld.fail(name, byName, h)
		return nil
	}
	o := &object{names: []string{name}, path: h.path, info: p.info, id: p.id,
		origin: dirName(absolute(h.path, ld.r.cwd)), loader: by}
	ld.objs = append(ld.objs, o)
	ld.r.addObject(Object{Name: name, Path: h.path, CPU: h.cpu})
	return o
}

func (ld *loader) rpathOf(o *object) []searchDir {
	if !o.rpathDone {
		o.rpath, o.rpathDone = ld.decompose(o.info.rpath, ":", o), true
	}
	return o.rpath
}

func (ld *loader) runpathOf(o *object) []searchDir {
	if !o.runpathDone {
		o.runpath, o.runpathDone = ld.decompose(o.info.runpath, ":", o), true
	}
	return o.runpath
}

// decompose is fillin_rpath: the list's directories with tokens expanded,
// trailing slashes made one, repeats dropped, and elements whose token
// cannot be expanded dropped. An empty element is the working directory.
func (ld *loader) decompose(list, seps string, o *object) []searchDir {
	dirs := []searchDir{}
	add := func(d searchDir) {
		if !slices.ContainsFunc(dirs, func(e searchDir) bool { return e.path == d.path }) {
			dirs = append(dirs, d)
		}
	}
	for _, el := range splitAny(list, seps) {
		if el == "" {
			add(searchDir{})
			continue
		}
		for _, x := range ld.expand(el, o) {
			if x.s != "" {
				add(searchDir{path: strings.TrimRight(x.s, "/") + "/", cpu: x.cpu})
			}
		}
	}
	return dirs
}

// splitAny splits like repeated strsep: every separator splits, so
// empty elements are kept.
func splitAny(s, seps string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(seps, s[i]) >= 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// expansion is one value of a string with dynamic string tokens. cpu is
// set when it took a $PLATFORM that only some CPUs' loaders have.
type expansion struct{ s, cpu string }

// expand is _dl_dst_substitute for each value $PLATFORM can take: one
// expansion when the string does not depend on it, none when a token has
// no value here (the loader then drops the element).
func (ld *loader) expand(s string, o *object) []expansion {
	platforms := ld.abi.platforms
	if len(platforms) == 0 {
		platforms = []string{""}
	}
	var out []expansion
	for _, p := range platforms {
		if x, ok := ld.expandWith(s, o, p); ok && !slices.ContainsFunc(out, func(e expansion) bool { return e.s == x }) {
			out = append(out, expansion{s: x, cpu: "platform " + p + "/"})
		}
	}
	if len(out) == 1 {
		out[0].cpu = ""
	}
	return out
}

// expandWith replaces $ORIGIN, $PLATFORM (by platform) and $LIB, or the
// same in braces; any other $ is kept. ok is false when a token has no
// value.
func (ld *loader) expandWith(s string, o *object, platform string) (string, bool) {
	if !strings.Contains(s, "$") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		rest := s[i+1:]
		var repl string
		n := 0
		if n = dstLen(rest, "ORIGIN"); n > 0 {
			repl = o.origin
		} else if n = dstLen(rest, "PLATFORM"); n > 0 {
			repl = platform
		} else if n = dstLen(rest, "LIB"); n > 0 {
			repl = ld.lib
		} else {
			b.WriteByte('$')
			i++
			continue
		}
		if repl == "" {
			return "", false
		}
		b.WriteString(repl)
		i += 1 + n
	}
	return b.String(), true
}

// dstLen is is_dst: the length of the token named ref at the start of s
// ("ORIGIN" or "{ORIGIN}"), or 0 if there is none there. "$ORIGINAL" is
// not $ORIGIN.
func dstLen(s, ref string) int {
	curly := strings.HasPrefix(s, "{")
	if curly {
		s = s[1:]
	}
	if !strings.HasPrefix(s, ref) {
		return 0
	}
	after := s[len(ref):]
	if curly {
		if !strings.HasPrefix(after, "}") {
			return 0
		}
		return len(ref) + 2
	}
	if after != "" {
		c := after[0]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			return 0
		}
	}
	return len(ref)
}
