// Package binarytest runs a command's test binary as the command itself, in
// a child process with only the environment a test gives it, as a
// container would: TestMain hands over to main in the child.
package binarytest

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runMain tells the child to be the command.
const runMain = "BINARYTEST_RUN_MAIN"

// Main is the test binary's TestMain: main in the child, the tests otherwise.
func Main(m *testing.M, main func()) {
	if os.Getenv(runMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Command is the command with args and exactly env (plus PATH).
func Command(ctx context.Context, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = []string{runMain + "=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// Process is a started command whose output lines (stdout and stderr) are
// kept, for waiting on one and for leak scans.
type Process struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed, and replaced, when a line arrives
	ended chan struct{} // closed when the output ends
	exit  error
}

// Start starts cmd, reading its output until it exits; the test's cleanup
// stops it if the test has not.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, more: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		p.exit = cmd.Wait()
		w.Close()
	}()
	go func() {
		defer close(p.ended)
		lines := bufio.NewScanner(r)
		for lines.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, lines.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.Signal(syscall.SIGTERM) })
	return p
}

// WaitFor returns the submatches of the first output line that matches re,
// or fails the test, with the output, when the command ends or timeout
// passes first.
func (p *Process) WaitFor(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for seen := 0; ; {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if m := re.FindStringSubmatch(p.lines[seen]); m != nil {
				p.mu.Unlock()
				return m
			}
		}
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.ended:
			p.mu.Lock()
			unseen := seen < len(p.lines) // the last lines came with the end
			p.mu.Unlock()
			if !unseen {
				t.Fatalf("the command ended before printing %q:\n%s", re, p.Output())
			}
		case <-deadline:
			t.Fatalf("no line matching %q within %s:\n%s", re, timeout, p.Output())
		}
	}
}

// Signal sends sig and waits for the command to end, returning how it
// exited.
func (p *Process) Signal(sig os.Signal) error {
	p.cmd.Process.Signal(sig)
	<-p.ended
	return p.exit
}

// Output is every line printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n") + "\n"
}

// Refuses runs the command to its end and checks that it exits non-zero
// with want in its output.
func Refuses(t testing.TB, ctx context.Context, env map[string]string, args []string, want string) {
	t.Helper()
	out, err := Command(ctx, env, args...).CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() == 0 {
		t.Errorf("%v: err = %v, want a non-zero exit", args, err)
	}
	if !strings.Contains(string(out), want) {
		t.Errorf("%v: output %q lacks %q", args, out, want)
	}
}
