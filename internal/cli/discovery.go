package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// serverRecord is what `jetway server` writes, for clients on its machine,
// to the runtime dir's server.json: where it listens and where its token
// is. Never the token itself: the file is readable by every user (0644),
// the token file by the server's user only.
type serverRecord struct {
	URL       string `json:"url"`
	TokenFile string `json:"token_file"`
	PID       int    `json:"pid"`
}

const serverRecordName = "server.json"

// runtimeDirs are where clients look for server.json, first match wins:
// $JETWAY_RUNTIME_DIR alone when set, else $XDG_RUNTIME_DIR/jetway (a
// server of this user) then /run/jetway (a server run as root).
func (c *CLI) runtimeDirs() []string {
	if d := c.Getenv("JETWAY_RUNTIME_DIR"); d != "" {
		return []string{d}
	}
	var dirs []string
	if x := c.Getenv("XDG_RUNTIME_DIR"); x != "" {
		dirs = append(dirs, filepath.Join(x, "jetway"))
	}
	if systemRuntimeDir != "" {
		dirs = append(dirs, systemRuntimeDir)
	}
	return dirs
}

// serverRuntimeDir is where a server writes server.json:
// $JETWAY_RUNTIME_DIR, else /run/jetway as root, else
// $XDG_RUNTIME_DIR/jetway; "" when there is no such place.
func (c *CLI) serverRuntimeDir() string {
	if d := c.Getenv("JETWAY_RUNTIME_DIR"); d != "" {
		return d
	}
	if systemRuntimeDir != "" && os.Geteuid() == 0 {
		return systemRuntimeDir
	}
	if x := c.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "jetway")
	}
	return ""
}

// findServer reads the record of a live server on this machine; ok is
// false when there is none (no file, or its server's process is gone).
func (c *CLI) findServer() (rec serverRecord, ok bool) {
	for _, dir := range c.runtimeDirs() {
		data, err := os.ReadFile(filepath.Join(dir, serverRecordName))
		if err != nil {
			continue
		}
		if err := json.Unmarshal(data, &rec); err != nil || rec.URL == "" || !processAlive(rec.PID) {
			continue
		}
		return rec, true
	}
	return serverRecord{}, false
}

// writeServerRecord records rec in dir (made 0755 if missing) and returns
// a func that removes the file, unless another server has replaced it
// since.
func writeServerRecord(dir string, rec serverRecord) (path string, remove func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("recording the server for clients: %w", err)
	}
	path = filepath.Join(dir, serverRecordName)
	data, _ := json.MarshalIndent(rec, "", "  ")
	tmp, err := os.CreateTemp(dir, ".server-*.json")
	if err != nil {
		return "", nil, fmt.Errorf("recording the server for clients: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644), os.Rename(tmp.Name(), path)); err != nil {
		os.Remove(tmp.Name())
		return "", nil, fmt.Errorf("recording the server for clients: %w", err)
	}
	return path, func() {
		var now serverRecord
		if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &now) == nil && now.PID == rec.PID {
			os.Remove(path)
		}
	}, nil
}

// readTokenFile is the token in path, or "".
func readTokenFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
