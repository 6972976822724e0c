package store_test

import (
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/store"
)

// The store is the implementation of the storage interfaces its users
// declare (on both engines: the tests of this package run on each).
var (
	_ server.Store        = (*store.Store)(nil)
	_ runproto.EventStore = (*store.Store)(nil)
)
