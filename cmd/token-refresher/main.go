// Command token-refresher keeps AWS_WEB_IDENTITY_TOKEN_FILE holding an
// Entra v1 token that AWS STS trusts (chain B): no AWS secret anywhere.
// See the README's "Chain B" section for the settings.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crosscloud-agentid/agentid/internal/refresher"
)

// version is stamped by the image builds (-ldflags -X main.version=…).
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println(version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := refresher.Run(ctx, os.Args[1:], os.LookupEnv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "token-refresher:", err)
		os.Exit(1)
	}
}
