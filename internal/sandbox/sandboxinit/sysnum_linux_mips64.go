//go:build linux && (mips64 || mips64le)

package sandboxinit

const sysMountSetattr = 5442 // n64
