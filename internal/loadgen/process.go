package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// A Process is a hooklane command run as a child process, such as
// "hooklane all", for a load test to run against.
type Process struct {
	// Addr is where its HTTP server listens.
	Addr string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
	err  error         // how it exited, once done
}

// StartProcess starts cmd, a hooklane command such as "hooklane all",
// with LOG_FORMAT=json added to its environment (this process's if
// cmd.Env is nil), copies its log to logw, and returns once it logs the
// address its HTTP server listens on, so it may listen on port 0. It fails
// if the command exits first or ctx is done; then it is stopped.
func StartProcess(ctx context.Context, cmd *exec.Cmd, logw io.Writer) (*Process, error) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(slices.Clip(cmd.Env), "LOG_FORMAT=json")
	stopWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		lines := bufio.NewScanner(stderr)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		for lines.Scan() {
			_, _ = logw.Write(append(lines.Bytes(), '\n'))
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Msg == "http listening" {
				select {
				case addr <- entry.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(logw, stderr) // a line too long to scan
		p.err = cmd.Wait()
	}()
	select {
	case p.Addr = <-addr:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %v", cmd, p.err)
	case <-ctx.Done():
		_ = p.Stop(0)
		return nil, ctx.Err()
	}
}

// Stop asks the process to stop (SIGTERM), kills it if it has not exited
// after grace, and returns how it exited: nil after a clean stop.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process, such as SIGKILL for a crash.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the process has exited and its log is copied.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err waits until the process has exited and says how: nil after exit
// status 0.
func (p *Process) Err() error {
	<-p.done
	return p.err
}
