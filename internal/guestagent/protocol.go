// Package guestagent is the channel between zoslab and the init of a VM node: a
// virtio-serial port (name PortName) carrying frames of many concurrent streams, each
// one command run in the guest (its stdin, stdout, stderr and exit code) or one
// request of the init's supervisor status.
//
//	frame = stream (uint32, big endian) | type (uint8) | length (uint32) | payload
//
// The host side (Router, in the VM's holder process) multiplexes any number of local
// clients (Client, e.g. `zoslab exec`) onto the one serial link; the guest side (Server,
// run by the init) executes. When the guest agent starts it sends a Hello; the router
// then fails every stream still open (the guest rebooted under them).
//
// Frames are read and written by one goroutine per direction; every type here is safe
// for concurrent use as documented on it.
package guestagent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// PortName is the virtio-serial port name (qemu: virtserialport,name=PortName).
const PortName = "org.zosnet.agent"

// Frame types.
const (
	TOpen   byte = 1 // client → guest: Request (JSON)
	TStdin  byte = 2 // client → guest: data for the command's stdin
	TEOF    byte = 3 // client → guest: stdin closed
	TStdout byte = 4 // guest → client
	TStderr byte = 5 // guest → client
	TExit   byte = 6 // guest → client: Exit (JSON); the stream is over
	THello  byte = 7 // guest → host: the agent (re)started; Hello (JSON)
	TKill   byte = 8 // client → guest: kill the command (the client went away)
)

// MaxPayload bounds one frame's payload; longer data is split.
const MaxPayload = 32 << 10

// Request opens a stream.
type Request struct {
	// Op is "exec" (run Argv) or "status" (the supervisor's services as JSON on stdout).
	Op   string   `json:"op"`
	Argv []string `json:"argv,omitempty"`
	// Env is added to the command's environment (KEY=VALUE).
	Env []string `json:"env,omitempty"`
	// Dir is the working directory (default /).
	Dir string `json:"dir,omitempty"`
}

// Validate checks a request from the other side.
func (r Request) Validate() error {
	switch r.Op {
	case "exec":
		if len(r.Argv) == 0 || r.Argv[0] == "" {
			return errors.New("exec: empty argv")
		}
	case "status":
	default:
		return fmt.Errorf("unknown op %q (want exec or status)", r.Op)
	}
	return nil
}

// Exit ends a stream: the command's exit code (128+signal when killed), or 255 with
// Error when it could not run or the channel broke.
type Exit struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// Hello is the guest agent's greeting.
type Hello struct {
	Version int    `json:"version"`
	Node    string `json:"node,omitempty"`
}

// Frame is one decoded frame.
type Frame struct {
	Stream  uint32
	Type    byte
	Payload []byte
}

const headerLen = 9

// ReadFrame reads one frame. A payload longer than MaxPayload is an error (the stream
// is out of sync).
func ReadFrame(r io.Reader) (Frame, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Stream: binary.BigEndian.Uint32(h[0:4]), Type: h[4]}
	n := binary.BigEndian.Uint32(h[5:9])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("guest agent: frame of %d bytes (max %d): channel out of sync", n, MaxPayload)
	}
	if f.Type == 0 || f.Type > TKill {
		return Frame{}, fmt.Errorf("guest agent: unknown frame type %d: channel out of sync", f.Type)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// AppendFrame appends the encoding of one frame (payload ≤ MaxPayload) to b.
func AppendFrame(b []byte, stream uint32, typ byte, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, stream)
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// jsonFrame encodes v as a frame's payload.
func jsonFrame(stream uint32, typ byte, v any) []byte {
	p, _ := json.Marshal(v)
	return AppendFrame(nil, stream, typ, p)
}

// dataFrames splits data into frames of at most MaxPayload.
func dataFrames(stream uint32, typ byte, data []byte) []byte {
	var b []byte
	for len(data) > 0 {
		n := min(len(data), MaxPayload)
		b = AppendFrame(b, stream, typ, data[:n])
		data = data[n:]
	}
	return b
}
