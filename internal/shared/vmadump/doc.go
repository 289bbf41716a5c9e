// Package vmadump moves a process: it reads a stopped process of this
// machine into an Image (registers, FPU state, memory map and the memory
// that is the process's own, signal handlers and mask, the kernel's notion
// of its layout) and rebuilds an Image as a new process, with a PID and
// credentials of the caller's choosing, on another node. It is BProc's
// VMADump done from user space with ptrace, since CRIU does not run on
// these kernels.
//
// What is carried: anonymous memory (the pages that were ever touched),
// the pages of private file mappings that the process changed (relocated
// data, RELRO), and references to everything else that is mapped from a
// file, which the new process maps again from the same path (on a node,
// its view of the master's files). The vDSO is mapped where the process
// had it; the kernels must be the same build for its code to match.
// Registers include fs_base (the TLS), and the FPU state goes as the
// kernel's XSAVE area. File descriptors are not carried: the new process
// has the ones its maker gave it (its stdin, stdout and stderr). A process
// with more than one thread is refused.
//
// How a process is rebuilt: a tiny static program (the ghost stub) is
// started stopped under ptrace with the chosen PID, every one of its own
// mappings is removed but a scratch page holding a syscall instruction,
// and the tracer makes it run one system call at a time (mmap, openat,
// arch_prctl for the vDSO, prctl for the memory layout and the name,
// rt_sigaction, the credentials) before it writes the memory through
// /proc/PID/mem, sets the saved registers and lets it go.
package vmadump
