// Command token-refresher keeps AWS_WEB_IDENTITY_TOKEN_FILE holding an
// Entra v1 token that AWS STS trusts (chain B): no AWS secret anywhere.
// See docs/token-refresher.md, and docs/settings.md for the settings.
package main

import (
	"context"
	"os"

	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
)

// version is stamped by the image builds (-ldflags -X main.version=…).
var version = "dev"

func main() {
	command.Main("token-refresher", version, func(ctx context.Context, args []string) error {
		return refresher.Run(ctx, args, os.LookupEnv, os.Stderr)
	})
}
