package bundle

import "errors"

// Windows has no FIFOs in its file system.
func syscallMkfifo(string) error { return errors.ErrUnsupported }
