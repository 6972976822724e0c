package bundle

// Windows has no O_NOFOLLOW or O_DIRECTORY. What they guard against is
// still refused: readers that must not follow a link compare Lstat with
// the opened file (readSmallFile), os.Root never leaves the root, and
// ReadDir fails on what is not a directory.
const (
	oNoFollow  = 0
	oDirectory = 0
)
