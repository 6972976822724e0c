package dockerhost

import "bytes"

// NormalizeKey repairs the ways a private key gets mangled on its way through
// a parameter store or a CI variable: literal "\n" sequences instead of line
// breaks, CRLF line ends, and a missing final newline. OpenSSH refuses all
// three, so keys are normalised before they are parsed or written.
func NormalizeKey(key []byte) []byte {
	k := bytes.TrimSpace(key)
	if !bytes.Contains(k, []byte("\n")) && bytes.Contains(k, []byte(`\n`)) {
		k = bytes.ReplaceAll(k, []byte(`\n`), []byte("\n"))
	}
	k = bytes.ReplaceAll(k, []byte("\r\n"), []byte("\n"))
	k = bytes.ReplaceAll(k, []byte("\r"), []byte("\n"))
	k = bytes.TrimSpace(k)
	out := make([]byte, 0, len(k)+1)
	out = append(out, k...)
	return append(out, '\n')
}
