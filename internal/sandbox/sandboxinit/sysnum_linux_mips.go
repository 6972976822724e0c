//go:build linux && (mips || mipsle)

package sandboxinit

const sysMountSetattr = 4442 // o32
