// Command sshclient is the ssh client of the BuildKit e2e test: the bed's
// busybox image has none. It signs with the agent at SSH_AUTH_SOCK (what
// RUN --mount=type=ssh provides), runs one command as root on ADDR and
// prints its output. Usage: sshclient ADDR COMMAND.
package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "sshclient:", err)
		os.Exit(1)
	}
}

func run(addr, command string) error {
	sock, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		return fmt.Errorf("the agent: %w", err)
	}
	defer sock.Close()
	ag := agent.NewClient(sock)
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeysCallback(ag.Signers)},
		// The test checks the agent, not the host.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec
	})
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	out, err := s.CombinedOutput(command)
	os.Stdout.Write(out)
	return err
}
