package build

// oNoFollow is 0 on Windows, which has no O_NOFOLLOW: what the build
// context opens is still checked to be a regular file once opened, and
// os.Root never leaves the root.
const oNoFollow = 0
