#include "textflag.h"

// func rawVforkSyscall(trap, a1, a2 uintptr) (r1 uintptr, err syscall.Errno)
//
// syscall.rawVforkSyscall for a clone3 with CLONE_VM|CLONE_VFORK: child
// and parent come back on the same stack, the child first. The child's
// calls overwrite the stack slot that held our return address, so it is
// kept in R12, which SYSCALL preserves and the child inherits, and pushed
// back by each of them.
TEXT ·rawVforkSyscall(SB),NOSPLIT|NOFRAME,$0-40
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	$0, DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVQ	$0, R9
	MOVQ	trap+0(FP), AX
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, r1+24(FP)
	NEGQ	AX
	MOVQ	AX, err+32(FP)
	RET
ok:
	MOVQ	AX, r1+24(FP)
	MOVQ	$0, err+32(FP)
	RET
