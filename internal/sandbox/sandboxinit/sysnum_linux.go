//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package sandboxinit

// sysMountSetattr is mount_setattr's number: one number on every
// architecture but MIPS since Linux 5.12.
const sysMountSetattr = 442
