//go:build unix

package bundle

import "syscall"

// Open flags that refuse a link in the last element of a name, and a
// non-directory where a directory is read.
const (
	oNoFollow  = syscall.O_NOFOLLOW
	oDirectory = syscall.O_DIRECTORY
)
