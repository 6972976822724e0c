package testbed

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// BusyboxRootfs returns a tar of a minimal root file system: the static
// busybox binary with a link for each applet, /tmp and /etc/passwd.
func BusyboxRootfs() ([]byte, error) {
	path, err := lookPath("busybox")
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	list, err := output(context.Background(), path, "--list")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Unix(0, 0)
	dirs := []string{"bin/", "etc/", "tmp/", "root/", "usr/", "usr/bin/"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: mod}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: mod}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", ModTime: mod}); err != nil {
			return nil, err
		}
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwd)), ModTime: mod}); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(tw, passwd); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ImportBaseImage imports the busybox rootfs as BaseImage into a daemon.
func ImportBaseImage(ctx context.Context, c *client.Client) error {
	rootfs, err := BusyboxRootfs()
	if err != nil {
		return err
	}
	rc, err := c.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"}, BaseImage,
		image.ImportOptions{Changes: []string{`CMD ["/bin/sh"]`, "ENV PATH=/bin:/usr/bin"}})
	if err != nil {
		return fmt.Errorf("importing %s: %w", BaseImage, err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// seedImages imports the base image into both daemons and creates the
// remote-only marker volume.
func (b *Bed) seedImages(ctx context.Context) error {
	for _, socket := range []string{b.RemoteSocket, b.LocalSocket} {
		if socket == "" {
			continue
		}
		c, err := LocalClient(socket)
		if err != nil {
			return err
		}
		err = ImportBaseImage(ctx, c)
		c.Close()
		if err != nil {
			return err
		}
	}
	c, err := LocalClient(b.RemoteSocket)
	if err != nil {
		return err
	}
	defer c.Close()
	b.RemoteMarker = "jetway-remote-marker-" + b.ID
	if _, err = c.VolumeCreate(ctx, volume.CreateOptions{Name: b.RemoteMarker, Labels: map[string]string{"jetway.testbed": b.ID}}); err != nil {
		return err
	}
	// Also an image of that name: a run's phases see images of every
	// project, but, through the Docker guard, volumes of their own only.
	return c.ImageTag(ctx, BaseImage, b.RemoteMarker)
}

// LocalClient is a Docker client for a daemon's unix socket on this machine.
func LocalClient(socket string) (*client.Client, error) {
	return client.NewClientWithOpts(client.WithHost("unix://"+socket), client.WithAPIVersionNegotiation())
}
