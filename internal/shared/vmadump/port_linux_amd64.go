package vmadump

// Ported says whether processes can be moved from and to this platform:
// Dump and Restore need its registers, FPU state and vDSO code.
const Ported = true
