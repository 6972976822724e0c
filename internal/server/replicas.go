package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The state of a jetway server migrate into the database: servers refuse
// a database that a move has not finished filling.
const (
	MigrationSetting    = "migration"
	MigrationInProgress = "in progress"
	MigrationDone       = "done"
)

// checkMigration refuses a database that a move is still filling.
func checkMigration(ctx context.Context, peers Peers) error {
	state, ok, err := peers.LookupSetting(ctx, MigrationSetting)
	if err != nil {
		return err
	}
	if ok && state == MigrationInProgress {
		return errors.New("a jetway server migrate into this database has not finished (or is running): run it again to finish it (it resumes), then start the servers")
	}
	return nil
}

// tokenSetting is the API token's hash in a shared database.
const tokenSetting = "api_token_sha256"

// AdoptToken makes token the one every server of a shared database takes
// (jetway server migrate: the data dir's token keeps working), unless the
// database has one already, which it returns an error about.
func AdoptToken(ctx context.Context, peers Peers, token string) error {
	stored, err := peers.Setting(ctx, tokenSetting, hashToken(token))
	if err != nil {
		return err
	}
	if stored != hashToken(token) {
		return errors.New("the database's servers use another API token already")
	}
	return nil
}

// sharedToken loads or creates the API token in tokenFile. Servers that
// share a database must share the token too: the first to start records
// its hash, and a server with another token, or none, is refused with
// what to do.
func sharedToken(ctx context.Context, peers Peers, tokenFile string) (token string, created bool, err error) {
	if peers.Shared() {
		if _, statErr := os.Stat(tokenFile); errors.Is(statErr, os.ErrNotExist) {
			if _, ok, err := peers.LookupSetting(ctx, tokenSetting); err != nil {
				return "", false, err
			} else if ok {
				return "", false, fmt.Errorf("the database is used by other jetway servers, whose API token this one lacks: copy the token file of the first server to %s (0600), then start again", tokenFile)
			}
		}
	}
	token, created, err = loadOrCreateToken(tokenFile)
	if err != nil || !peers.Shared() {
		return token, created, err
	}
	// The first server to start decides; two starting at once both made a
	// token, and one of them is refused here.
	stored, err := peers.Setting(ctx, tokenSetting, hashToken(token))
	if err != nil {
		return "", false, err
	}
	if stored != hashToken(token) {
		if created {
			os.Remove(tokenFile)
		}
		return "", false, fmt.Errorf("%s differs from the API token of the other jetway servers on this database: copy the first server's token file over it", tokenFile)
	}
	return token, created, nil
}

// localAgentName names the agent inside this server. On a shared
// database each server's must differ, and stay the same across restarts
// of that server, so that a restart fails exactly the runs it lost: the
// host name for people, and a random id made once in the data dir
// (DATA/server-id) for uniqueness — two hosts may share a short name and
// a data dir path.
func localAgentName(peers Peers, dataDir string) (string, error) {
	if !peers.Shared() {
		return LocalAgent, nil
	}
	id, err := serverID(filepath.Join(dataDir, "server-id"))
	if err != nil {
		return "", err
	}
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	host, _, _ = strings.Cut(host, ".")
	return LocalAgent + "-" + host + "-" + id, nil
}

// serverID reads the data dir's server id, making it on first use. It is
// written aside and renamed into place, so it appears whole or not at all.
func serverID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(data))
		if len(id) < 8 {
			return "", fmt.Errorf("%s is damaged: delete it and start again (the server then gets a new id)", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := newID(4)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".server-id-*")
	if err != nil {
		return "", fmt.Errorf("making the server id: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("making the server id: %w", err)
	}
	return id, nil
}

// LockDataDir holds DATA/server.lock until the file is closed: two servers
// on one data dir would share its own agent's name, each failing the
// other's runs at its start, and a data dir is not moved while a server
// writes it.
func LockDataDir(dataDir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "server.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another jetway server uses the data dir %s; give each server a data dir of its own (--data)", dataDir)
		}
		return nil, fmt.Errorf("locking the data dir: %w", err)
	}
	return f, nil
}

// LocalAgentName is the name the agent inside this server goes by.
func (s *Server) LocalAgentName() string { return s.localAgent }

// Wake-ups between servers: what wakes this server's log followers and
// waiting agents is published to the others.

const queuePayload = "queue"

// listenPeers wakes this server's followers and agents on what other
// servers publish, until ctx ends. A payload is "SENDER WHAT"; this
// server's own are skipped: it woke its own when it published them.
func (s *Server) listenPeers(ctx context.Context) {
	s.runs.Listen(ctx, s.log, func(payload string) {
		sender, what, _ := strings.Cut(payload, " ")
		switch {
		case payload == "":
			// Reconnected: anything may have been missed.
			s.hub.notifyAll()
			s.agents.broadcast()
		case sender == s.localAgent:
		case what == queuePayload:
			s.agents.broadcast()
		case strings.HasPrefix(what, "run:"):
			s.hub.notify(strings.TrimPrefix(what, "run:"))
		}
	})
}

// publishWithin bounds telling the other servers: it is done from request
// handlers, which a stalled database must not hold.
const publishWithin = 2 * time.Second

func (s *Server) publish(what string) {
	if !s.runs.Shared() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishWithin)
	defer cancel()
	if err := s.runs.Publish(ctx, s.localAgent+" "+what); err != nil {
		s.log.Warn("telling the other servers of a change", "change", what, "err", err)
	}
}

// changed wakes everyone following a run's log or state, on every server.
func (s *Server) changed(id string) {
	s.hub.notify(id)
	s.publish("run:" + id)
}

// queueChanged wakes the agents waiting for work, on every server.
func (s *Server) queueChanged() {
	s.agents.broadcast()
	s.publish(queuePayload)
}
