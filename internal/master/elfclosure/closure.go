// Package elfclosure finds every file a program needs to start on a node
// whose root is empty: the program, the #! interpreters of a script, the
// ELF interpreter (ld.so), and the libraries ld.so will load, with every
// symlink and directory on the way to each. A node that recreates them at
// the same paths runs the program with the master's own ld.so, which then
// finds everything where it looks.
//
// Which libraries, and from where, is decided as glibc 2.36's ld.so and
// Linux's execve decide it: DT_RPATH of the loading chain, LD_LIBRARY_PATH,
// DT_RUNPATH of the direct loader, /etc/ld.so.cache and the built-in
// directories, with $ORIGIN, $LIB and $PLATFORM, wrong-class libraries
// skipped, DT_NEEDED names matched against what is already loaded, breadth
// first. ldd is the oracle the tests compare against.
//
// /etc/ld.so.conf is not read: the loader never reads it, only the cache
// ldconfig builds from it, which is shipped. The loader finds an
// executable's $ORIGIN through /proc/self/exe, so a node needs /proc
// mounted for RPATHs like $ORIGIN/../lib to work there.
package elfclosure

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Options say what environment the program will run in and how to read
// the master's files.
type Options struct {
	// Env is the program's environment. Its PATH finds a program named
	// without a slash and the command of "#!/usr/bin/env python3" (no
	// PATH means execvp's "/bin:/usr/bin"); LD_LIBRARY_PATH and
	// LD_PRELOAD steer the loader as they will on the node.
	Env []string
	// Dir is the directory the program starts in: relative paths (the
	// program, a #! interpreter, RPATH entries, LD_LIBRARY_PATH) are
	// taken from it. Empty means this process's working directory, or
	// "/" when Root is set.
	Dir string
	// Root, if set, is where the file system to read is mounted: every
	// path (and absolute symlink) is taken inside it, and the results
	// name paths without it. For tests and images.
	Root string
	// FS reads the files; nil means OS. The master passes one that acts
	// with the caller's credentials.
	FS FS
}

// Closure is what a node needs to run one program.
type Closure struct {
	// Program is the file executed, made absolute (or found in PATH).
	Program string
	// Interpreters run Program, in exec order: the #! chain ending in an
	// ELF file, then for "#!/usr/bin/env cmd" the cmd env runs. Empty for
	// an ELF program.
	Interpreters []string
	// Objects are the ELF files the kernel and ld.so load, in their
	// order: each executable, its ELF interpreter, then its libraries
	// breadth first. What ldd lists.
	Objects []Object
	// Files are every entry a node must recreate, directories and links
	// included, sorted by path so that a directory comes before what is
	// in it.
	Files []File
	// Missing are the libraries ld.so will not be able to load: the
	// program fails on the node as it would on the master, with the
	// loader's own message.
	Missing []Missing
}

// Object is one ELF file loaded.
type Object struct {
	Name string // as asked for: a DT_NEEDED or LD_PRELOAD entry; the path of an executable or ELF interpreter
	Path string // the name the loader opens it by, as ldd prints it
	// CPU is set for a copy in a hwcaps subdirectory or a hwcaps cache
	// entry ("glibc-hwcaps/x86-64-v3/"): a loader takes it only on CPUs
	// that have the capability, and the next copy otherwise, so the
	// closure has both.
	CPU string
}

// Kind is what a File is.
type Kind uint8

// The kinds of File.
const (
	Regular Kind = iota
	Dir
	Symlink
)

func (k Kind) String() string {
	switch k {
	case Regular:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// File is one entry of the file system, at a path whose directories are
// all real (no link in them): created in Files' order, they rebuild every
// path the kernel and the loader walk.
type File struct {
	Path   string
	Kind   Kind
	Target string // a link's target, as stored: relative targets stay relative
	Size   int64  // of a regular file
	Mode   fs.FileMode
}

// Missing is a library the loader will not load, or a command env(1)
// will not find.
type Missing struct {
	Name string // as asked for
	By   string // the object that asked for it; LD_PRELOAD or /etc/ld.so.preload for a preload; /usr/bin/env
	// Path is the file the loader found and cannot use ("invalid ELF
	// header"); it is in Files, so that the node's loader says the same.
	// Empty when nothing was found.
	Path   string
	Reason string // the loader's words: "cannot open shared object file: No such file or directory"
}

func (m Missing) String() string {
	if m.Path != "" {
		return m.Path + ": " + m.Reason
	}
	return m.Name + ": " + m.Reason
}

// maxScripts is how many #! scripts one execve goes through: Linux's
// exec_binprm lets a handler rewrite the binary at depths 0 to 5, so a
// sixth script fails with ELOOP (measured on 6.x: five nested scripts
// run, six do not).
const maxScripts = 5

// maxExecs bounds the programs one closure follows through env(1), which
// a script can make loop forever.
const maxExecs = 16

// Resolve computes the closure of the program at path. A path without a
// slash is looked for in the PATH of opts.Env, as execvp does. Errors are
// those of execve: a missing program or #! interpreter, one the caller may
// not read or execute, a file that is neither ELF nor a script
// (syscall.ENOEXEC), too deep a #! chain (syscall.ELOOP), or a malformed
// ELF file or ld.so.cache; libraries the loader will not find are not
// errors but Missing.
func Resolve(path string, opts Options) (*Closure, error) {
	r, err := newResolver(opts)
	if err != nil {
		return nil, err
	}
	prog, err := r.lookPath(path, r.path())
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", path, err)
	}
	r.c.Program = prog
	if err := r.run(prog, 0); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", path, err)
	}
	r.c.Files = make([]File, 0, len(r.files))
	for _, f := range r.files {
		r.c.Files = append(r.c.Files, f)
	}
	slices.SortFunc(r.c.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return &r.c, nil
}

// resolver holds one Resolve's state: what was read, and the results.
type resolver struct {
	opts  Options
	w     *walker
	cwd   string
	c     Closure
	files map[string]File

	objects  map[string]bool  // Objects by Path, so two executables share them
	missing  map[Missing]bool // Missing, once each
	ran      map[string]bool  // executables done, by real path
	envRan   map[string]bool  // commands env ran, by path
	execs    int
	probes   map[string]*probe // library files tried, by absolute path
	cache    *LDCache
	cacheErr error
	cacheSet bool
}

func newResolver(opts Options) (*resolver, error) {
	if opts.FS == nil {
		opts.FS = OS{}
	}
	cwd := opts.Dir
	if cwd == "" {
		cwd = "/"
		if opts.Root == "" {
			wd, err := os.Getwd()
			if err != nil {
				return nil, fmt.Errorf("resolve: working directory: %w", err)
			}
			cwd = wd
		}
	}
	if !strings.HasPrefix(cwd, "/") {
		return nil, fmt.Errorf("resolve: working directory %q is not absolute", cwd)
	}
	return &resolver{
		opts: opts, w: newWalker(opts.FS, opts.Root), cwd: cwd,
		files: map[string]File{}, objects: map[string]bool{}, missing: map[Missing]bool{},
		ran: map[string]bool{}, envRan: map[string]bool{}, probes: map[string]*probe{},
	}, nil
}

// getenv is glibc's: the first NAME= entry wins.
func (r *resolver) getenv(name string) (string, bool) {
	for _, kv := range r.opts.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// path is the PATH execvp uses: the environment's, or its default.
func (r *resolver) path() string {
	if p, ok := r.getenv("PATH"); ok {
		return p
	}
	return defaultPath
}

func (r *resolver) record(passed []File, final *File) {
	for _, f := range passed {
		r.files[f.Path] = f
	}
	if final != nil {
		r.files[final.Path] = *final
	}
}

func (r *resolver) addObject(o Object) {
	if !r.objects[o.Path] {
		r.objects[o.Path] = true
		r.c.Objects = append(r.c.Objects, o)
	}
}

func (r *resolver) addMissing(m Missing) {
	if !r.missing[m] {
		r.missing[m] = true
		r.c.Missing = append(r.c.Missing, m)
	}
}

// opened is a file found by a walk and opened.
type opened struct {
	path string // as asked for
	real string // with no link in it
	f    *os.File
	fi   fs.FileInfo
}

// openPath walks to path and opens it, recording nothing yet.
func (r *resolver) openPath(path string) (*opened, []File, error) {
	abs := absolute(path, r.cwd)
	real, passed, err := r.w.walk(abs)
	if err != nil {
		return nil, nil, err
	}
	f, err := r.w.open(real)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return &opened{path: abs, real: real, f: f, fi: fi}, passed, nil
}

func regular(o *opened) *File {
	return &File{Path: o.real, Kind: Regular, Size: o.fi.Size(), Mode: o.fi.Mode()}
}

// run follows one execve of path: a script leads to its interpreter, an
// ELF file to its loader's closure. depth counts the scripts already
// passed in this execve.
func (r *resolver) run(path string, depth int) error {
	o, passed, err := r.openPath(path)
	if err != nil {
		return err
	}
	defer o.f.Close()
	// execve wants a regular file with execute permission. Who may
	// execute it is the kernel's decision on the node; a file nobody may
	// execute fails here as it would there.
	if !o.fi.Mode().IsRegular() || o.fi.Mode().Perm()&0o111 == 0 {
		return &fs.PathError{Op: "execute", Path: path, Err: syscall.EACCES}
	}
	head := make([]byte, binprmBufSize)
	n, err := o.f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:n]
	r.record(passed, regular(o))
	switch {
	case strings.HasPrefix(string(head), elf.ELFMAG):
		return r.loadELF(o)
	case strings.HasPrefix(string(head), "#!"):
		return r.runScript(path, head, depth)
	}
	return &fs.PathError{Op: "execute", Path: path, Err: syscall.ENOEXEC}
}

func (r *resolver) runScript(path string, head []byte, depth int) error {
	if depth >= maxScripts {
		return &fs.PathError{Op: "execute", Path: path, Err: syscall.ELOOP}
	}
	interp, arg, err := parseShebang(head)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	abs := absolute(interp, r.cwd)
	r.c.Interpreters = append(r.c.Interpreters, abs)
	if err := r.run(interp, depth+1); err != nil {
		if depth > 0 {
			return err // said once, by the script executed
		}
		return fmt.Errorf("bad interpreter %s: %w", abs, err)
	}
	if pathBase(interp) != "env" {
		return nil
	}
	cmd, envPath, ok := envCommand(arg, r.path())
	if !ok {
		return nil
	}
	return r.runEnvCommand(abs, cmd, envPath)
}

// runEnvCommand follows what env(1) does with its command: execvp, which
// searches PATH and hands a file that is neither ELF nor script to
// /bin/sh. Failing there is env's failure on the node, at run time, so
// it is Missing, not an error.
func (r *resolver) runEnvCommand(env, cmd, path string) error {
	prog, err := r.lookPath(cmd, path)
	if err != nil {
		r.addMissing(Missing{Name: cmd, By: env, Reason: describe(err)})
		return nil
	}
	if r.envRan[prog] {
		return nil
	}
	if r.execs++; r.execs > maxExecs {
		return fmt.Errorf("%s runs %s: more than %d programs through env", env, cmd, maxExecs)
	}
	r.envRan[prog] = true
	r.c.Interpreters = append(r.c.Interpreters, prog)
	err = r.run(prog, 0)
	if errors.Is(err, syscall.ENOEXEC) {
		r.c.Interpreters = append(r.c.Interpreters, "/bin/sh")
		err = r.run("/bin/sh", 0)
	}
	if err != nil {
		r.addMissing(Missing{Name: cmd, By: env, Reason: err.Error()})
	}
	return nil
}

// loadELF follows the kernel (the executable, its PT_INTERP) and then
// ld.so (the libraries).
func (r *resolver) loadELF(o *opened) error {
	info, err := readELF(o.f, o.fi.Size())
	if err != nil {
		return fmt.Errorf("read ELF %s: %w", o.path, err)
	}
	if info.typ != elf.ET_EXEC && info.typ != elf.ET_DYN {
		return &fs.PathError{Op: "execute", Path: o.path, Err: syscall.ENOEXEC}
	}
	if r.ran[o.real] {
		return nil
	}
	r.ran[o.real] = true
	r.addObject(Object{Name: o.path, Path: o.path})
	if info.interp == "" {
		// Static: the kernel starts it directly and nothing reads its
		// DT_NEEDED, if it has any.
		return nil
	}
	a := abiOf(info.class, info.data, info.machine, info.flags)
	rtld, err := r.loadInterp(info.interp, a)
	if err != nil {
		return fmt.Errorf("%s: ELF interpreter %s: %w", o.path, info.interp, err)
	}
	main := &object{path: o.path, info: info, id: idOf(o.real, o.fi), origin: dirName(o.real), isMain: true}
	// A set-user-ID or set-group-ID program runs in the loader's secure
	// mode, which ignores LD_LIBRARY_PATH and LD_PRELOAD.
	secure := o.fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0
	return newLoader(r, a, main, rtld, secure).run()
}

// loadInterp opens the ELF interpreter. The kernel loads it, so a wrong
// one is an error of execve, not a missing library.
func (r *resolver) loadInterp(path string, a *abi) (*object, error) {
	o, passed, err := r.openPath(path)
	if err != nil {
		return nil, err
	}
	defer o.f.Close()
	info, err := readELF(o.f, o.fi.Size())
	if err != nil {
		return nil, fmt.Errorf("read ELF: %w", err)
	}
	if info.class != a.class || info.machine != a.machine || info.data != a.data {
		return nil, fmt.Errorf("%v %v does not match the program's %v %v: %w", info.class, info.machine, a.class, a.machine, syscall.ELIBBAD)
	}
	r.record(passed, regular(o))
	r.addObject(Object{Name: path, Path: path})
	return &object{names: []string{path}, path: path, info: info, id: idOf(o.real, o.fi), origin: dirName(o.real)}, nil
}

// fileID is what the loader recognises an object by when it is reached
// by another name (_dl_file_id_match_p).
type fileID struct {
	dev, ino uint64
	path     string // when the FS gives no inode numbers
}

func idOf(real string, fi fs.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: st.Ino}
	}
	return fileID{path: real}
}

func pathBase(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
