package elfclosure

import "debug/elf"

// abi is what the loader of one program (the ld.so its PT_INTERP names,
// which is built for exactly the program's ABI) accepts and where it
// looks. The values are glibc 2.36's, for Debian's multiarch layout and
// for upstream's.
type abi struct {
	class   elf.Class
	data    elf.Data
	machine elf.Machine

	cacheID CacheFlags // _DL_CACHE_DEFAULT_ID: the cache entries the loader takes; 0 for all
	triplet string     // Debian's multiarch directory, /lib/<triplet>
	libDir  string     // upstream's slibdir, /<libDir>, when there is no multiarch

	// platforms are the values $PLATFORM can take, none when it has no
	// value. glibc 2.36 on x86-64 replaces the kernel's AT_PLATFORM
	// "x86_64" by "haswell" or "xeon_phi" on Intel CPUs that have their
	// features (sysdeps/x86/cpu-features.c), so which one a loader
	// expands depends on the node's CPU: the closure takes each.
	platforms []string

	// subdirs are the directories below each search directory that the
	// loader tries before the directory itself, best first: the
	// glibc-hwcaps levels, then the legacy hwcaps of glibc < 2.37. Which of
	// them a loader tries depends on the CPU, and a node's CPU need not be
	// the master's, so the closure takes every one that holds the library.
	subdirs []string
}

var x86Subdirs = []string{
	"glibc-hwcaps/x86-64-v4/", "glibc-hwcaps/x86-64-v3/", "glibc-hwcaps/x86-64-v2/",
	"tls/x86_64/x86_64/", "tls/x86_64/", "tls/", "x86_64/x86_64/", "x86_64/",
}

// abiOf returns the loader ABI of an executable from its ELF header.
func abiOf(class elf.Class, data elf.Data, machine elf.Machine, flags uint32) *abi {
	a := &abi{class: class, data: data, machine: machine, libDir: "lib", subdirs: []string{"tls/"}}
	is64 := class == elf.ELFCLASS64
	if is64 {
		a.libDir = "lib64"
	}
	switch machine {
	case elf.EM_X86_64:
		a.platforms, a.subdirs = []string{"x86_64", "haswell", "xeon_phi"}, x86Subdirs
		if is64 {
			a.cacheID, a.triplet = 0x0303, "x86_64-linux-gnu"
		} else {
			a.cacheID, a.triplet, a.libDir = 0x0803, "x86_64-linux-gnux32", "libx32"
		}
	case elf.EM_386:
		// A 32-bit process on a 64-bit kernel gets AT_PLATFORM "i686".
		a.cacheID, a.platforms, a.triplet = FlagELFLibc6, []string{"i686"}, "i386-linux-gnu"
		a.subdirs = []string{"tls/i686/", "tls/", "i686/"}
	case elf.EM_AARCH64:
		a.cacheID, a.platforms, a.triplet = 0x0a03, []string{"aarch64"}, "aarch64-linux-gnu"
		a.subdirs = []string{"tls/aarch64/", "tls/", "aarch64/"}
	case elf.EM_ARM:
		const floatHard = 0x400 // EF_ARM_ABI_FLOAT_HARD
		a.cacheID, a.triplet = 0x0b03, "arm-linux-gnueabi"
		if flags&floatHard != 0 {
			a.cacheID, a.triplet = 0x0903, "arm-linux-gnueabihf"
		}
	case elf.EM_PPC64:
		a.cacheID, a.triplet = 0x0503, "powerpc64-linux-gnu"
		if data == elf.ELFDATA2LSB {
			a.triplet = "powerpc64le-linux-gnu"
		}
		a.subdirs = []string{"glibc-hwcaps/power10/", "glibc-hwcaps/power9/", "tls/"}
	case elf.EM_S390:
		a.cacheID, a.triplet = FlagELFLibc6, "s390-linux-gnu"
		if is64 {
			a.cacheID, a.triplet = 0x0403, "s390x-linux-gnu"
			a.subdirs = []string{"glibc-hwcaps/z16/", "glibc-hwcaps/z15/", "glibc-hwcaps/z14/", "glibc-hwcaps/z13/", "tls/"}
		}
	case elf.EM_RISCV:
		const floatDouble = 0x4 // EF_RISCV_FLOAT_ABI_DOUBLE
		a.cacheID, a.triplet, a.libDir = 0x0f03, "riscv64-linux-gnu", "lib64/lp64"
		if flags&0x6 == floatDouble {
			a.cacheID, a.libDir = 0x1003, "lib64/lp64d"
		}
	case elf.EM_LOONGARCH:
		a.cacheID, a.triplet = 0x1103, "loongarch64-linux-gnu"
		if flags&0x7 == 0x3 { // EF_LARCH_ABI_DOUBLE_FLOAT
			a.cacheID = 0x1203
		}
	}
	return a
}

// layout returns $LIB and the loader's built-in directories. Both are
// compiled into ld.so and differ between distributions: Debian's
// multiarch ld.so searches /lib/<triplet> and /usr/lib/<triplet> before
// /lib and /usr/lib, and expands $LIB to lib/<triplet>; upstream's
// searches /lib64 and /usr/lib64 (on 64-bit ABIs). The multiarch
// directory existing is what tells them apart.
func (a *abi) layout(isDir func(string) bool) (lib string, dirs []string) {
	if a.triplet != "" && (isDir("/lib/"+a.triplet) || isDir("/usr/lib/"+a.triplet)) {
		return "lib/" + a.triplet, []string{"/lib/" + a.triplet + "/", "/usr/lib/" + a.triplet + "/", "/lib/", "/usr/lib/"}
	}
	return a.libDir, []string{"/" + a.libDir + "/", "/usr/" + a.libDir + "/"}
}

// ehdrSize is sizeof(ElfW(Ehdr)) for the class.
func (a *abi) ehdrSize() int {
	if a.class == elf.ELFCLASS64 {
		return 64
	}
	return 52
}

// phentSize is sizeof(ElfW(Phdr)) for the class.
func (a *abi) phentSize() int {
	if a.class == elf.ELFCLASS64 {
		return 56
	}
	return 32
}
