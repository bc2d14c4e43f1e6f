package guestagent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
)

// Exec runs req through the router listening on the unix socket sock: stdin (may be
// nil) is streamed to the command, its output to stdout and stderr. It returns the
// command's exit code; an error means the command could not run or the channel broke
// (the code is then 255). Cancelling ctx kills the command.
func Exec(ctx context.Context, sock string, req Request, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if err := req.Validate(); err != nil {
		return 255, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return 255, fmt.Errorf("%w: %v", ErrChannel, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := conn.Write(jsonFrame(1, TOpen, req)); err != nil {
		return 255, fmt.Errorf("%w: %v", ErrChannel, err)
	}
	if stdin != nil {
		go func() {
			buf := make([]byte, MaxPayload)
			for {
				n, err := stdin.Read(buf)
				if n > 0 {
					if _, werr := conn.Write(AppendFrame(nil, 1, TStdin, buf[:n])); werr != nil {
						return
					}
				}
				if err != nil {
					conn.Write(AppendFrame(nil, 1, TEOF, nil))
					return
				}
			}
		}()
	} else {
		conn.Write(AppendFrame(nil, 1, TEOF, nil))
	}
	for {
		f, err := ReadFrame(conn)
		if err != nil {
			if ctx.Err() != nil {
				return 255, ctx.Err()
			}
			return 255, fmt.Errorf("%w: %v", ErrChannel, err)
		}
		switch f.Type {
		case TStdout:
			stdout.Write(f.Payload)
		case TStderr:
			stderr.Write(f.Payload)
		case TExit:
			var e Exit
			if err := json.Unmarshal(f.Payload, &e); err != nil {
				return 255, fmt.Errorf("%w: bad exit frame: %v", ErrChannel, err)
			}
			if e.Error != "" {
				return e.Code, fmt.Errorf("%w: %s", ErrChannel, e.Error)
			}
			return e.Code, nil
		}
	}
}
