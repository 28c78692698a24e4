// Package command is what every binary's main does around its Run: -version,
// a context that ends on SIGINT or SIGTERM, and one line on stderr with exit
// status 1 when Run fails.
package command

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main runs run with the process's arguments (less the program name) and
// never returns when it fails.
func Main(name, version string, run func(ctx context.Context, args []string) error) {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println(version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
