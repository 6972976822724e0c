//go:build unix

package build

import "syscall"

// oNoFollow refuses a link in the last element of a name.
const oNoFollow = syscall.O_NOFOLLOW
